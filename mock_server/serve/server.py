"""Run the app on a production server: bjoern (C, event loop) when installed, else gunicorn.

Measured on the 2-core box (bench/RESULTS.md): the app itself costs ~120 µs per create, but
gunicorn's Python HTTP handling adds more than that again, so bjoern serves about twice the
requests per second. Several workers share the port with SO_REUSEPORT (bjoern) or gunicorn's
pre-fork; either way they share state through the SQLite store.
"""
from __future__ import annotations

import collections
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time

from mock_server.serve.app import create_app
from mock_server.settings import Settings

log = logging.getLogger("crm_mock.server")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def bjoern_available() -> bool:
    try:
        import bjoern  # noqa: F401
    except ImportError:
        return False
    return True


class FreezingGC:
    """WSGI wrapper that keeps Python's collector away from stored records.

    The store keeps many long-lived dicts, and the collector's full passes over them were the
    p99 latency (76 ms against 3 ms with the collector off, wrk on a create). Every `every`
    requests this freezes what has survived so far — in steady state, stored records — into
    the permanent generation (a 2 µs call), so automatic collections only walk recent objects.
    """

    def __init__(self, app, every: int = 1000):
        self.app = app
        self.every = every
        self.count = 0
        gc.collect()
        gc.freeze()

    def __call__(self, environ, start_response):
        self.count += 1
        if self.count >= self.every:
            self.count = 0
            gc.freeze()
        return self.app(environ, start_response)


def run(host: str, port: int, workers: int, settings: Settings, server: str = "auto") -> None:
    if server == "auto":
        # gunicorn with gevent workers answers every socket-level case in the vendor's shape and keeps
        # serving while a fault waits (latency, timeout); bjoern is about twice as fast but has one
        # thread and a C parser that answers some requests itself: chosen explicitly, for load tests.
        server = "gunicorn"
    log.info("%s, %d worker(s), http://%s:%d/ (Ctrl-C stops)", server, workers, host, port,
             extra={"server": server, "workers": workers, "url": f"http://{host}:{port}/"})
    if server == "bjoern":
        _run_bjoern(host, port, workers, settings)
    else:
        _run_gunicorn(host, port, workers, settings)


def _run_bjoern(host: str, port: int, workers: int, settings: Settings) -> None:
    import bjoern

    if workers == 1:
        bjoern.run(FreezingGC(create_app(settings)), host, port)
        return
    create_app(settings, reset_on_start=True)  # seed once, before forking

    def start_worker() -> int:
        pid = os.fork()
        if pid == 0:
            for name in (signal.SIGTERM, signal.SIGINT):  # not the supervisor's handlers
                signal.signal(name, signal.SIG_DFL)
            app = FreezingGC(create_app(settings, reset_on_start=False))
            bjoern.listen(app, host, port, reuse_port=True)
            bjoern.run()
            os._exit(0)
        return pid

    supervise(start_worker, workers)


def supervise(start_worker, workers: int, give_up_after: int = 5, within: float = 10.0) -> None:
    """Keep `workers` processes running: a worker that dies is replaced (with a message); when they
    keep dying (`give_up_after` deaths `within` seconds) the server stops with exit status 1."""
    children = {start_worker(): n for n in range(workers)}
    stopping = False
    deaths: collections.deque[float] = collections.deque(maxlen=give_up_after)

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        number = children.pop(pid, None)
        if stopping or number is None:
            continue
        log.warning("worker %s (pid %s) ended with status %s; starting another", number, pid,
                    os.waitstatus_to_exitcode(status))
        deaths.append(time.monotonic())
        if len(deaths) == give_up_after and deaths[-1] - deaths[0] < within:
            log.error("%d workers ended within %.0f s; the server cannot serve, stopping", give_up_after, within)
            stop(signal.SIGTERM, None)
            for child in list(children):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child, 0)
            sys.exit(1)
        children[start_worker()] = number


def _run_gunicorn(host: str, port: int, workers: int, settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers,
                # gevent: a slow or stalled client holds a greenlet, not a thread, so it never stops
                # others being served (with threads, four half-sent requests blocked everyone).
                "worker_class": "gevent", "worker_connections": 1000,
                "graceful_timeout": 3,  # a mock has nothing to drain: stop within seconds
                # Leave at once: the interpreter's teardown under gevent's patches only prints noise
                # ("Exception ignored in _removeHandlerRef"); everything worth keeping is in the store.
                "worker_exit": lambda _server, _worker: os._exit(0),
                "accesslog": None, "errorlog": "-", "loglevel": "warning", "keepalive": 5,
                # Above the app's own 8 KiB limits (pipeline/limits.py), which answer in the vendor's
                # shape; gunicorn's own refusal is a bare page. (Its defaults: a 4 KiB request line,
                # a Close filter of 90 lead ids, and 100 header fields.)
                "limit_request_field_size": 64 * 1024, "limit_request_line": 0, "limit_request_fields": 32768,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            # Runs in each worker. The master already seeded the store, so workers keep what is there.
            return FreezingGC(create_app(settings, reset_on_start=False))

    create_app(settings, reset_on_start=True)  # seed once, before forking
    Gunicorn().run()
