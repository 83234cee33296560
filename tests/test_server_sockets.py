"""What a raw socket can send to `crm-mock serve`, on each server the CLI offers: bodies too large by
length or by chunks, broken chunking, a busy port. Answers come in the vendor's shape, never a 500."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mock_server.serve.server import bjoern_available
from tests.test_served_over_http import free_port, output_of, start

SERVERS = ["gunicorn", pytest.param("bjoern", marks=pytest.mark.skipif(
    not bjoern_available(), reason="LOUD SKIP: bjoern is not installed here, so `--server bjoern` is untested"))]
AUTH = b"Authorization: Basic YXBpX2tleTo=\r\n"  # Close API key "api_key" as the Basic username
MIB = 1024 * 1024


@pytest.fixture(scope="module", params=SERVERS)
def close_port(request):
    process, port = start("--vendor", "close", "--server", request.param)
    yield port
    process.terminate()
    process.wait(timeout=10)


def exchange(port: int, raw: bytes, timeout: float = 10) -> tuple[int, dict | None]:
    """Send raw bytes, read one HTTP answer: (status, JSON body or None)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything we send
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
            if length and len(body) >= length[0]:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def post(path: bytes, extra_headers: bytes, body: bytes) -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + AUTH + extra_headers + b"\r\n" + body)


def test_a_body_over_1_mib_by_length_is_refused_before_it_is_read(close_port, request):
    """The announced length alone is enough for the 413: the client need not send the body."""
    bjoern_gap(request, "it buffers the whole body before the app runs: the 413 comes after 2 MiB are read")
    status, body = exchange(close_port, post(b"/api/v1/opportunity/", b"Content-Length: %d\r\n" % (2 * MIB),
                                             b"{" + b" " * 1000))
    assert status == 413 and set(body) == {"error"}


def test_a_chunked_body_over_1_mib_is_a_413_too(close_port):
    chunk = b" " * 65536
    chunks = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
    status, body = exchange(close_port, post(b"/api/v1/opportunity/", b"Transfer-Encoding: chunked\r\n", chunks))
    assert status == 413 and set(body) == {"error"}


def test_a_broken_chunk_size_is_a_400_not_a_500(close_port):
    status, body = exchange(close_port, post(b"/api/v1/opportunity/", b"Transfer-Encoding: chunked\r\n",
                                             b"zz\r\n{}\r\n0\r\n\r\n"))
    assert status == 400


def test_a_client_that_hangs_up_mid_body_stores_nothing_and_gets_a_400_if_anything(close_port, request):
    """Content-Length says 100 bytes, 18 arrive, then the client stops sending. gunicorn hands the
    short body on: the vendor's 400. bjoern waits for the whole body and closes without an answer."""
    def total() -> int:
        status, listed = exchange(close_port, b"GET /api/v1/opportunity/?_limit=1 HTTP/1.1\r\nHost: x\r\n"
                                              b"Connection: close\r\n" + AUTH + b"\r\n")
        assert status == 200 and listed is not None
        return listed["total_results"]

    before = total()
    with socket.create_connection(("127.0.0.1", close_port), timeout=10) as sock:
        sock.sendall(post(b"/api/v1/opportunity/", b"Content-Length: 100\r\n", b'{"note": "cut short'))
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if "bjoern" in request.node.callspec.id:
        assert answer == b""
    else:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and "could not be read" in json.loads(body)["errors"][0]
    assert total() == before


def test_a_busy_port_is_one_line_and_exit_status_2():
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("size", [9_000, 60_000])
def test_oversized_headers_are_a_431_in_the_vendors_shape(close_port, size):
    raw = (b"GET /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH
           + b"X-Big: " + b"a" * size + b"\r\n\r\n")
    status, body = exchange(close_port, raw)
    assert status == 431 and set(body) == {"error"} and "8 KiB" in body["error"]


def test_a_long_filter_is_served_and_a_target_past_8_kib_is_a_414_in_the_vendors_shape(close_port):
    """A Close filter of 90 lead ids (about 5 KB of query) is an ordinary request (gunicorn's default
    request line, 4 KiB, answered it with a bare HTML 414); past 8 KiB, the vendor's 414."""
    ids = "&".join(f"lead_id__in=lead_{n:040d}" for n in range(90))
    status, body = exchange(close_port, f"GET /api/v1/opportunity/?{ids} HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n".encode() + AUTH + b"\r\n")
    assert status == 200 and body["data"] == []
    status, body = exchange(close_port, b"GET /api/v1/opportunity/?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n" + AUTH + b"\r\n")
    assert status == 414 and set(body) == {"error"} and "8 KiB" in body["error"]


def test_many_small_header_fields_are_served(close_port):
    """150 fields of a few bytes (under 8 KiB in all): gunicorn's default of 100 fields answered a
    bare HTML 431; the headers' limit is their size, in the vendor's shape (above)."""
    fields = b"".join(b"X-F%d: 1\r\n" % n for n in range(150))
    status, body = exchange(close_port, b"GET /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n" + AUTH + fields + b"\r\n")
    assert status == 200 and body["data"]


def bjoern_gap(request, what: str) -> None:
    """bjoern's own C HTTP parser answers some requests before crm-mock sees them; each such gap is
    tracked here (strict: the test fails the day bjoern starts passing it) and in the README."""
    if "bjoern" in request.node.name:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"KNOWN GAP of bjoern (README, Known limits): {what}"))


def test_two_pipelined_requests_get_two_answers(close_port, request):
    bjoern_gap(request, "the second of two pipelined requests is dropped")
    get = b"GET /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\n" + AUTH
    with socket.create_connection(("127.0.0.1", close_port), timeout=5) as sock:
        sock.sendall(get + b"\r\n" + get + b"Connection: close\r\n\r\n")
        data = b""
        with contextlib.suppress(socket.timeout):
            while chunk := sock.recv(65536):
                data += chunk
    assert data.count(b"HTTP/1.1 200") == 2


def test_stalled_clients_do_not_stop_others_being_served(close_port):
    stalled = [socket.create_connection(("127.0.0.1", close_port), timeout=5) for _ in range(8)]
    try:
        for sock in stalled:  # headers half-sent, body never
            sock.sendall(b"POST /api/v1/opportunity/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        status, body = exchange(close_port, b"GET /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\n"
                                + AUTH + b"Connection: close\r\n\r\n", timeout=3)
        assert status == 200 and len(body["data"]) == 3
    finally:
        for sock in stalled:
            sock.close()


def test_an_unknown_method_is_the_vendors_405(close_port, request):
    bjoern_gap(request, "a method its parser does not know (QUERY) gets a bare 400")
    status, body = exchange(close_port, b"QUERY /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\n" + AUTH
                            + b"Connection: close\r\n\r\n")
    assert status == 405 and set(body) == {"error"}


def test_a_dead_worker_is_replaced(request):
    process, port = start("--vendor", "close", "--workers", "2", "--server", "bjoern" if bjoern_available() else "gunicorn")
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= 2
        os.kill(int(children[-1]), signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            if len(alive) >= 2 and children[-1] not in alive:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no replacement worker: {alive}")
        for _ in range(10):  # both workers answer
            status, _ = exchange(port, b"GET /api/v1/status/opportunity/ HTTP/1.1\r\nHost: x\r\n" + AUTH
                                 + b"Connection: close\r\n\r\n")
            assert status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_workers_that_keep_dying_stop_the_server_with_a_reason():
    script = ("import os\nfrom mock_server.serve.server import supervise\n"
              "def start():\n    pid = os.fork()\n    if pid == 0:\n        os._exit(3)\n    return pid\n"
              "supervise(start, 2)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ended with status 3; starting another" in result.stderr and "cannot serve" in result.stderr


def test_a_reset_during_a_write_load_on_a_shared_store_is_never_a_500():
    """Two workers on one SQLite store; tokens issued and opportunities created while resets run."""
    import threading

    import requests

    process, port = start("--workers", "2")
    url = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    crashed: list[BaseException] = []
    stop = threading.Event()

    def load(path: str, **kwargs) -> None:
        try:
            with requests.Session() as session:
                while not stop.is_set():
                    statuses.append(session.post(url + path, timeout=10, **kwargs).status_code)
        except BaseException as error:  # a dropped connection would otherwise only be a thread warning
            crashed.append(error)

    workers = [
        threading.Thread(target=load, args=("/nexudus/api/token",),
                         kwargs={"data": {"grant_type": "password", "username": "a@b.c", "password": "pw"}}),
        threading.Thread(target=load, args=("/close/api/v1/opportunity/",),
                         kwargs={"json": {"value": 5}, "headers": {"Authorization": "Bearer x"}}),
    ]
    try:
        for thread in workers:
            thread.start()
        for _ in range(6):
            assert requests.post(f"{url}/__mock/reset", timeout=30).status_code == 200
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=30)
        process.terminate()
        process.wait(timeout=10)
    assert not crashed, crashed
    assert statuses and not [s for s in statuses if s >= 500], sorted(set(statuses))


def test_the_scratch_store_made_for_workers_is_removed_on_exit():
    process, _port = start("--workers", "2", "--vendor", "close")
    process.terminate()
    process.wait(timeout=10)
    stderr = output_of(process)
    scratch = Path(stderr.split("sharing state through sqlite:", 1)[1].split()[0]).parent
    assert scratch.name.startswith("crm-mock-") and not scratch.exists()


@pytest.mark.parametrize("args, named", [(["--store", "mongodb://x"], "--store"), (["--latency", "soon"], "--latency"),
                                         (["--error-rate", "2"], "--error-rate")])
def test_a_bad_serve_option_is_a_usage_error_naming_it(args, named):
    result = subprocess.run([sys.executable, "-m", "mock_server", "serve", "--port", str(free_port()), *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr
