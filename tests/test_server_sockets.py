"""What a raw socket can send to `crm-mock serve`, on each server the CLI offers: bodies too large by
length or by chunks, broken chunking, a busy port. Answers come in the vendor's shape, never a 500."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from mock_server.serve.server import bjoern_available
from tests.test_served_over_http import free_port, start

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
    if "bjoern" in request.node.name:
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "KNOWN GAP (issue 11, section 2): bjoern buffers the whole body before the app runs, so a "
            "2 MiB announcement waits for 2 MiB; the 413 comes only after it is read")))
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
