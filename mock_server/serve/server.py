"""Run the app on a production server: bjoern (C, event loop) when installed, else gunicorn.

Measured on the 2-core box (bench/RESULTS.md): the app itself costs ~120 µs per create, but
gunicorn's Python HTTP handling adds more than that again, so bjoern serves about twice the
requests per second. Several workers share the port with SO_REUSEPORT (bjoern) or gunicorn's
pre-fork; either way they share state through the SQLite store.
"""
from __future__ import annotations

import gc
import os
import signal
import socket
import sys

from mock_server.serve.app import create_app
from mock_server.settings import Settings


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


def run(host: str, port: int, workers: int, threads: int, settings: Settings, server: str = "auto") -> None:
    if server == "auto":
        server = "bjoern" if bjoern_available() else "gunicorn"
    print(f"crm-mock: {server}, {workers} worker(s), http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    if server == "bjoern":
        _run_bjoern(host, port, workers, settings)
    else:
        _run_gunicorn(host, port, workers, threads, settings)


def _run_bjoern(host: str, port: int, workers: int, settings: Settings) -> None:
    import bjoern

    if workers == 1:
        bjoern.run(FreezingGC(create_app(settings)), host, port)
        return
    create_app(settings, reset_on_start=True)  # seed once, before forking
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            app = FreezingGC(create_app(settings, reset_on_start=False))
            bjoern.listen(app, host, port, reuse_port=True)
            bjoern.run()
            os._exit(0)
        children.append(pid)

    def stop(signum, _frame):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        try:
            os.waitpid(child, 0)
        except ChildProcessError:
            pass


def _run_gunicorn(host: str, port: int, workers: int, threads: int, settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "accesslog": None, "errorlog": "-", "loglevel": "warning", "keepalive": 5,
                # Above the app's own 8 KiB limit (pipeline/limits.py), which answers in the vendor's
                # shape; gunicorn's own refusal is a bare page.
                "limit_request_field_size": 64 * 1024,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            # Runs in each worker. The master already seeded the store, so workers keep what is there.
            return FreezingGC(create_app(settings, reset_on_start=False))

    create_app(settings, reset_on_start=True)  # seed once, before forking
    Gunicorn().run()
