"""Per-request cost of the app itself, in process (no server, no socket): microseconds per call for a
valid create, an invalid create, a get by id and a 100-record list page on Close, best of three.

    .venv/bin/python bench/per_request.py

A finer instrument than `make bench` for comparing two versions of the pipeline (run it in each
checkout); it is not a peer comparison.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import time

from werkzeug.test import EnvironBuilder

from mock_server import create_app

logging.disable(logging.CRITICAL)
APP = create_app("close", seed_data=1000)
AUTH = {"Authorization": "Basic " + base64.b64encode(b"api_key:").decode(), "Content-Type": "application/json"}
CREATE = json.dumps({"value": 500, "value_period": "monthly", "confidence": 75,
                     "lead_id": "lead_0VaTsortzKpCv1ik6hbNoudduuD0m2Itevet0fKX39G"})


def environ(method: str, path: str, body: str | None = None) -> dict:
    built = EnvironBuilder(path=path, method=method, data=body, headers=AUTH).get_environ()
    built["crm_mock.body"] = built["wsgi.input"].read()
    return built


def call(template: dict) -> bytes:
    env = dict(template, **{"wsgi.input": io.BytesIO(template["crm_mock.body"])})
    return b"".join(APP.wsgi_app(env, lambda status, headers, exc=None: None))


def main() -> None:
    created = json.loads(call(environ("POST", "/api/v1/opportunity/", CREATE)))["id"]
    cases = {"create": (environ("POST", "/api/v1/opportunity/", CREATE), 3000),
             "invalid": (environ("POST", "/api/v1/opportunity/", '{"value": "abc"}'), 3000),
             "get": (environ("GET", f"/api/v1/opportunity/{created}/"), 3000),
             "list": (environ("GET", "/api/v1/opportunity/?_limit=100"), 1000)}
    for name, (template, count) in cases.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(count):
                call(template)
            best = min(best, (time.perf_counter() - started) / count * 1e6)
        print(f"{name:8} {best:7.1f} µs")


if __name__ == "__main__":
    main()
