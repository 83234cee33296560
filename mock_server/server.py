"""Run the app under gunicorn: the production server, one or more workers."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from mock_server.app import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, app_options: dict):
        self.options = options
        self.app_options = app_options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Runs in each worker. The master already seeded the store, so workers keep what is there.
        return create_app(**self.app_options, reset_on_start=False)


def run(host: str, port: int, workers: int, threads: int, app_options: dict) -> None:
    # Seed once, before forking, so every worker starts from the same world.
    create_app(**app_options, reset_on_start=True)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "keepalive": 5,
    }
    _Gunicorn(options, app_options).run()
