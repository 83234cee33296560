"""A real socket: `crm-mock serve` in a subprocess, driven by the vendor's own Python client."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from closeio_api import API, APIError

from mock_server.serve.server import bjoern_available
from tests.conftest import CLOSE_AUTH, NEXUDUS_AUTH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = tempfile.TemporaryFile()  # a file, not a pipe: a server logging every request never blocks on it
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    process.log = log  # type: ignore[attr-defined]  # read with output_of(process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock/health", timeout=1):
                return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(output_of(process)) from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("crm-mock serve did not answer within 20 s")


def output_of(process: subprocess.Popen) -> str:
    """What a server started by `start` wrote to stderr so far."""
    process.log.seek(0)  # type: ignore[attr-defined]
    return process.log.read().decode()  # type: ignore[attr-defined]


@contextlib.contextmanager
def running(*args: str):
    """`crm-mock serve ARGS` for the length of a `with`: yields its base URL."""
    process, port = start(*args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def close_server():
    process, port = start("--vendor", "close")
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_official_close_client_round_trip(close_server):
    api = API(f"http://127.0.0.1:{close_server}/api/v1/", api_key="api_key_from_the_client")
    statuses = {s["type"]: s for s in api.get("status/opportunity")["data"]}
    opp = api.post("opportunity", data={"note": "i hope this deal closes...", "confidence": 75,
                                         "value": 500, "value_period": "monthly"})
    assert opp["value_formatted"] == "$5 monthly"
    assert api.get(f"opportunity/{opp['id']}") == opp
    assert opp["id"] in [o["id"] for o in api.get("opportunity", params={"_limit": 10})["data"]]
    won = api.put(f"opportunity/{opp['id']}", data={"status_id": statuses["won"]["id"]})
    assert won["status_type"] == "won" and won["date_won"]
    history = api.get("activity/status_change/opportunity", params={"opportunity_id": opp["id"]})["data"]
    assert history[0]["new_status_type"] == "won" and history[0]["old_status_type"] == "active"
    assert api.delete(f"opportunity/{opp['id']}") == {}
    with pytest.raises(APIError) as missing:
        api.get(f"opportunity/{opp['id']}")
    assert missing.value.response.status_code == 404


def test_official_client_reads_field_errors(close_server):
    from closeio_api import ValidationError

    api = API(f"http://127.0.0.1:{close_server}/api/v1/", api_key="k")
    with pytest.raises(ValidationError) as invalid:
        api.post("opportunity", data={"value": "abc"})
    assert invalid.value.field_errors == {"value": "Must be an integer."}


@pytest.mark.parametrize("server", ["gunicorn", pytest.param("bjoern", marks=pytest.mark.skipif(
    not bjoern_available(), reason="bjoern not installed"))])
def test_two_workers_share_state_and_concurrent_writers_lose_nothing(tmp_path, server):
    process, port = start("--workers", "2", "--server", server, "--store", f"sqlite:{tmp_path / 'shared.db'}")
    try:
        base = f"http://127.0.0.1:{port}"
        api = API(f"{base}/close/api/v1/", api_key="k")
        with ThreadPoolExecutor(max_workers=8) as pool:  # writers race across both workers
            made = list(pool.map(lambda n: api.post("opportunity", data={"value": n, "note": "racing"}), range(40)))
        listed = api.get("opportunity", params={"_limit": 100, "query": "note:racing"})
        assert listed["total_results"] == 40  # every worker sees every write, none lost
        assert sorted(o["id"] for o in listed["data"]) == sorted(o["id"] for o in made)
        assert len({o["id"] for o in made}) == 40  # and no ID minted twice
        history = api.get("activity/status_change/opportunity", params={"_limit": 100})["data"]
        assert len([a for a in history if a["opportunity_id"] in {o["id"] for o in made}]) == 40
        for _ in range(4):  # one journal: whichever worker answers (a new connection each) shows all 40
            with urllib.request.urlopen(f"{base}/__mock/requests?operation=createOpportunity", timeout=5) as answer:
                assert len(json.load(answer)["requests"]) == 40
        request = urllib.request.Request(f"{base}/nexudus/api/crm/crmboardcolumns", headers=NEXUDUS_AUTH)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_rate_limit_is_one_limit_across_workers():
    with running("--workers", "2", "--vendor", "close", "--rate-limit", "5/m") as base:
        statuses = []
        for _ in range(10):  # a new connection each time: both workers answer some
            request = urllib.request.Request(f"{base}/api/v1/status/opportunity/", headers=CLOSE_AUTH)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        assert statuses == [200] * 5 + [429] * 5


def test_other_clients_are_served_while_a_reset_builds_its_world():
    """The default server builds a reset's world off its event loop and loads it in one go: a read
    sent while a large reset is being built is answered before the reset finishes, from the old world."""
    with running("--vendor", "close") as url:
        api = API(f"{url}/api/v1/", api_key="k")
        before = api.get("opportunity", params={"_limit": 1})["total_results"]
        finished: list[float] = []

        def reset():
            urllib.request.urlopen(urllib.request.Request(f"{url}/__mock/reset?seed_data=50000", method="POST"),
                                   timeout=300).read()
            finished.append(time.monotonic())

        with ThreadPoolExecutor(1) as pool:
            resetting = pool.submit(reset)
            time.sleep(0.5)  # the reset is under way (50,000 opportunities take seconds)
            listed = api.get("opportunity", params={"_limit": 1})
            answered = time.monotonic()
            resetting.result()
        assert finished and answered < finished[0], "the read waited for the reset"
        assert listed["total_results"] == before  # the old world, whole, until the new one is loaded
        assert api.get("opportunity", params={"_limit": 1})["total_results"] == 50_001  # + seed 003's


def test_a_reset_past_100000_is_refused():
    with running("--vendor", "close") as url:
        request = urllib.request.Request(f"{url}/__mock/reset?seed_data=100001", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and "0 to 100000" in refused.value.read().decode()
