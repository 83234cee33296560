"""Where crm-mock's log lines go (`crm-mock serve --log-level/--quiet/--log-format`): one handler on
the `crm_mock` logger, writing to stderr as text or as one JSON object a line. The JSON comes from
python-json-logger (a formatter log collectors already parse), not from hand-made strings: the
access log's fields (pipeline/access_log.py) become keys of each object."""
from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
TEXT = "%(asctime)s %(levelname)-7s %(message)s"


def configure(level: str = "info", fmt: str = "text", stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",  # ISO 8601, UTC
                                           rename_fields={"levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    logger = logging.getLogger("crm_mock")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False  # gunicorn's and the root logger's handlers would print each line twice
    return handler
