"""Close's own contract as an outside judge: the official closeio client talks to crm-mock through
`prism proxy --errors`, and Prism checks every request and every answer against an OpenAPI document.

Two proxies, because seed 004 (Close's published OpenAPI) describes only `POST /opportunity/`:
creates go through a proxy of that document verbatim, everything else through one of `specs/close.yaml`.
Prism comes from npm (`bench/package.json`); `make test` installs it."""
from __future__ import annotations

import contextlib
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests
from closeio_api import API, APIError

from mock_server import Client
from tests.test_served_over_http import free_port, running

ROOT = Path(__file__).resolve().parent.parent
PRISM = ROOT / "bench" / "node_modules" / ".bin" / "prism"
SEED_004 = next((ROOT.parent / "shared" / "seeds").glob("004_*.txt"), None)

if not PRISM.exists():  # make test installs it; say so loudly when it could not
    pytest.skip(f"SKIPPED LOUDLY: Prism is not installed at {PRISM} (npm unavailable?); "
                "run `npm ci --prefix bench`", allow_module_level=True)


def seed_openapi(tmp: Path) -> Path:
    """The YAML block of seed 004, written out as it stands."""
    assert SEED_004 is not None, "seed 004 (Close's OpenAPI) is missing from ../shared/seeds"
    text = SEED_004.read_text()
    block = re.search(r"^```yaml\n(.*?)^```$", text, re.S | re.M)  # fences inside descriptions are indented
    assert block, "seed 004 has no ```yaml block"
    path = tmp / "close-seed-004.yaml"
    path.write_text(block.group(1))
    return path


@contextlib.contextmanager
def prism_proxy(spec: Path, upstream: str):
    port = free_port()
    process = subprocess.Popen([str(PRISM), "proxy", str(spec), upstream, "--errors", "-h", "127.0.0.1",
                                "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # Prism answers (a 404 for "/"): it is listening
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"prism proxy did not start: {process.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Judged:
    """Every answer that passed through Prism: a violation is an `sl-violations` header (warnings
    included) or Prism's own VIOLATIONS problem."""

    def __init__(self):
        self.count = 0
        self.violations: list[str] = []

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        self.count += 1
        found = response.headers.get("sl-violations")
        if found or "stoplight.io/prism/errors" in response.text[:200]:
            request = response.request
            self.violations.append(f"{request.method} {request.url} -> {response.status_code}: "
                                   f"{found or response.text[:500]}")


def client(url: str, judged: Judged) -> API:
    api = API(url + "/", api_key="api_key_through_prism", max_retries=1)
    api.session.hooks["response"].append(judged.hook)
    return api


@pytest.fixture(scope="module")
def behind_prism(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prism")
    with running("--vendor", "close", "--seed-data", "20") as mock:
        upstream = mock + "/api/v1"
        with prism_proxy(seed_openapi(tmp), upstream) as seed, \
                prism_proxy(ROOT / "specs" / "close.yaml", upstream) as full:
            yield mock, seed, full


def test_the_closeio_client_meets_closes_contract(behind_prism):
    mock, seed, full = behind_prism
    judged = Judged()
    creates, api = client(seed, judged), client(full, judged)
    statuses = {s["type"]: s["id"] for s in api.get("status/opportunity")["data"]}
    lead_id = api.get("opportunity", params={"_limit": 1})["data"][0]["lead_id"]
    bodies = [
        {"note": "i hope this deal closes...", "confidence": 75, "value": 500, "value_period": "monthly"},
        {"lead_id": lead_id, "status_id": statuses["won"], "value": 0, "value_period": "annual"},
        {"custom.cf_v6S011I6MqcbVvB2FA5Nk8dr5MkL8sWuCiG8cUleO9c": "value", "value_period": "one_time"},
        {},
    ]
    made = [creates.post("opportunity", data=bodies[n % len(bodies)]) for n in range(60)]
    cycle = ["won", "lost", "active"]
    for n, opportunity in enumerate(made):
        assert api.get(f"opportunity/{opportunity['id']}")["id"] == opportunity["id"]
        api.put(f"opportunity/{opportunity['id']}", data={"status_id": statuses[cycle[n % 3]],
                                                           "confidence": n % 100})
        api.get("activity/status_change/opportunity", params={"opportunity_id": opportunity["id"]})
    for params in ({"_limit": 5}, {"_skip": 3, "_limit": 2}, {"lead_id": lead_id},
                   {"status_type": "won", "_order_by": "-date_created"}, {"_fields": "id,value"},
                   {"query": "value > 100"}, {"date_created__gte": "2020-01-01"}):
        for _ in range(5):
            api.get("opportunity", params=params)
    for params in ({"_limit": 3}, {"_order_by": "date_created"}, {"_fields": "id,new_status_type"},
                   {"activity_at__gte": "2020-01-01T00:00:00+00:00"}):
        for _ in range(5):
            api.get("activity/status_change/opportunity", params=params)
    for opportunity in made[:20]:
        assert api.delete(f"opportunity/{opportunity['id']}") == {}
        with pytest.raises(APIError):  # Close's 404, which the spec documents too
            api.get(f"opportunity/{opportunity['id']}")
    with pytest.raises(APIError):  # a bad status: Close's 400 field-errors body
        api.post("opportunity", data={"status_id": "stat_missing"})

    assert judged.count >= 300, f"only {judged.count} requests went through Prism"
    assert not judged.violations, "\n".join(judged.violations[:10])
    assert len(Client(mock).requests(limit=1000)) >= 300  # they did reach the mock


def test_prism_would_catch_a_broken_answer(behind_prism):
    """The judge is awake: an answer that breaks Close's schema is flagged."""
    mock, seed, _ = behind_prism
    judged = Judged()
    Client(mock).override(operation="createOpportunity", respond={"status": 200, "body": {"id": 5}}, times=1)
    with contextlib.suppress(APIError):
        client(seed, judged).post("opportunity", data={"note": "x"})
    assert judged.violations and "must be string" in judged.violations[0]
