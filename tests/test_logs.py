"""Request logs (issue 17): `crm-mock serve` writes one line per request, as text or JSON, with what
a reader needs (operation, status, duration, override or fault, validation problems) and never a
credential; --quiet leaves only warnings."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from mock_server import Client
from tests.test_served_over_http import free_port

API_KEY = "api_SuperSecretKey123"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode(),
        "Content-Type": "application/json"}


def serve_and_talk(*flags: str) -> str:
    """Start a server with `flags`, make a create, a refused create, an overridden call and a
    request with a secret in its query; return everything it wrote to stderr."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "serve", "--vendor", "close",
                                "--port", str(port), *flags], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/__mock/health", timeout=1).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)

        def call(method, path, body=None):
            request = urllib.request.Request(base + path, method=method, headers=AUTH,
                                             data=None if body is None else json.dumps(body).encode())
            try:
                return urllib.request.urlopen(request, timeout=5).status
            except urllib.error.HTTPError as error:
                return error.code

        assert call("POST", "/api/v1/opportunity/", {"note": "hello", "value": 500}) == 200
        assert call("POST", "/api/v1/opportunity/", {"value": "lots"}) == 400
        Client(base).override(operation="listOpportunities", respond={"status": 200, "body": {"data": []}},
                              fault={"latency_ms": 5}, times=1)
        assert call("GET", "/api/v1/opportunity/?_limit=5") == 200
        assert call("GET", f"/api/v1/status/opportunity/?api_key={API_KEY}") in (200, 400)
        assert call("GET", "/api/v1/opportunity/x%0aFORGED%20line%1b/?_limit=%0d%0aFORGED") in (400, 404)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    return err.decode()


@pytest.fixture(scope="module")
def json_log() -> list[dict]:
    output = serve_and_talk("--log-format", "json")
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
    assert API_KEY not in output and base64.b64encode(f"{API_KEY}:".encode()).decode() not in output
    return lines


def access(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "crm_mock.access"]


def test_every_request_is_one_json_line_with_its_operation_status_and_duration(json_log):
    made, refused, overridden, with_secret, forging = access(json_log)
    assert (made["method"], made["path"], made["operation"], made["status"]) == (
        "POST", "/api/v1/opportunity/", "createOpportunity", 200)
    assert made["duration_ms"] > 0 and made["vendor"] == "close" and made["namespace"] == "default"
    assert made["level"] == "INFO" and made["time"]
    assert refused["status"] == 400 and refused["problems"] and refused["problems"][0].startswith("value:")
    assert overridden["override"].startswith("ovr_") and overridden["fault"] == "latency_ms=5"
    assert with_secret["query"] == "api_key=***"  # masked, as in the journal
    assert forging["path"] == "/api/v1/opportunity/x\nFORGED line\x1b/"  # JSON escapes it in the line


def test_the_start_up_block_says_what_is_served_where(json_log):
    serving = next(line for line in json_log if line["message"].startswith("serving"))
    assert set(serving["urls"]) == {"close", "control"} and serving["urls"]["close"].endswith("/api/v1/")
    assert serving["store"] == "memory" and serving["workers"] == 1


def test_text_lines_read_as_a_sentence_and_quiet_keeps_them_out():
    text = serve_and_talk()
    assert "POST /api/v1/opportunity/ createOpportunity -> 200" in text
    assert "createOpportunity -> 400" in text and "problems=value:" in text
    assert API_KEY not in text and "api_key=***" in text
    # A percent-encoded newline in a path or query is written as an escape: no request forges a line.
    assert not [line for line in text.splitlines() if line.startswith("FORGED")]
    assert "x\\x0aFORGED line\\x1b" in text and "\\x0d\\x0aFORGED" in text
    quiet = serve_and_talk("--quiet")
    assert "createOpportunity" not in quiet and "serving" not in quiet
