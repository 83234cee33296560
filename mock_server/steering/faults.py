"""Faults a real client can observe: a slow answer, a connection closed without an answer, a TCP
reset, a connection held open, a body cut short.

A WSGI app has no socket, so the fault finds the connection's: gunicorn and werkzeug put it in the
environ; elsewhere it is found among the process' sockets by the client's address and port. The
WSGI server still owns it: a drop shuts it down (the server's own write then fails quietly), a
reset dissolves the connection in place (`connect(AF_UNSPEC)`, which makes Linux send a RST).
"""
from __future__ import annotations

import ctypes
import os
import random
import socket
import struct
import time

from mock_server.steering.overrides import Fault


def describe(fault: Fault | None) -> str | None:
    """`drop`, `latency_ms=200`, ...: the fault's settings that are on, in short (journal, log)."""
    if fault is None:
        return None
    on = {name: value for name, value in vars(fault).items() if value}
    return ",".join(name if value is True else f"{name}={value:g}" for name, value in on.items()) or None


def wait(fault: Fault, rng: random.Random) -> None:
    """The latency part of a fault (gevent workers: a cooperative sleep; others wait too)."""
    if fault.latency_ms or fault.jitter_ms:
        delay = fault.latency_ms + rng.uniform(-fault.jitter_ms, fault.jitter_ms)
        time.sleep(max(0.0, delay) / 1000)


class FaultyResponse:
    """A WSGI app that delivers `response` the way `fault` says (or not at all)."""

    def __init__(self, fault: Fault, response) -> None:
        self.fault, self.response = fault, response

    def __call__(self, environ, start_response):
        fault, (sock, ours) = self.fault, connection_socket(environ)
        if fault.timeout_s:
            time.sleep(fault.timeout_s)
        if fault.truncated:
            return self._truncated(start_response, sock, ours)
        try:
            cut(sock, reset=fault.reset)
        finally:
            if ours:
                sock.close()  # our duplicate; the server still owns its descriptor
        start_response("200 OK", [("Content-Length", "0"), ("Connection", "close")])  # to a closed socket
        return []

    def _truncated(self, start_response, sock, ours):
        body = self.response.get_data()
        headers = [(k, v) for k, v in self.response.headers.items() if k.lower() != "content-length"]
        start_response(self.response.status, [*headers, ("Content-Length", str(len(body))), ("Connection", "close")])
        try:
            yield body[: len(body) // 2]
            cut(sock, reset=False)
        finally:
            if ours:
                sock.close()


def cut(sock: socket.socket | None, reset: bool) -> None:
    if sock is None:
        raise ConnectionAbortedError("crm-mock fault: no socket to cut; the server closes the connection")
    try:
        if reset:
            _reset(sock)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client went first


def _reset(sock: socket.socket) -> None:
    """Linux: connect() to AF_UNSPEC on a connected TCP socket drops it with a RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    address = struct.pack("H14s", socket.AF_UNSPEC, b"")
    if libc.connect(sock.fileno(), address, len(address)) != 0:
        sock.shutdown(socket.SHUT_RDWR)


def connection_socket(environ) -> tuple[socket.socket | None, bool]:
    """The connection's socket, and whether it is a duplicate of ours to close."""
    for key in ("gunicorn.socket", "werkzeug.socket"):
        if isinstance(environ.get(key), socket.socket):
            return environ[key], False
    found = _find_by_peer(environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))
    return found, found is not None


def _find_by_peer(address: str | None, port: str | None) -> socket.socket | None:
    """The process' socket connected to (address, port): a duplicate of the server's descriptor."""
    if not address or not port:
        return None
    peer = (address, int(port))
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            duplicate = os.dup(int(name))
        except OSError:
            continue
        try:
            candidate = socket.socket(fileno=duplicate)
        except OSError:
            os.close(duplicate)
            continue
        try:
            if candidate.getpeername()[:2] == peer:
                return candidate
        except OSError:
            pass
        candidate.close()
    return None
