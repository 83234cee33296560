"""limits: request headers past 8 KiB in all are refused with a 431, and a request target (path and
query) past 8 KiB with a 414, in the vendor's shape.

Servers have limits of their own (bjoern about 80 KiB in all; gunicorn's are raised past these, see
serve/server.py) but answer them with a bare page; the limits here are lower, so a client meets the
vendor's body instead. 8 KiB is nginx's default for a request line and the headers' buffers. The
body's limit (1 MiB, a 413) is enforced where the body is read (validate).
"""
from __future__ import annotations

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.problems import MockError

MAX_HEADER_BYTES = 8 * 1024
MAX_TARGET_BYTES = 8 * 1024


class Limits(Stage):
    name = "limits"

    def __call__(self, exchange: Exchange) -> Outcome:
        environ = exchange.request.environ
        # Every string in the environ at once (C speed) bounds the headers' size: most requests stop here.
        if sum(map(len, filter(str.__instancecheck__, environ.values()))) <= MAX_HEADER_BYTES:
            return None
        size = sum(len(key) + len(value) for key, value in environ.items() if key[:5] == "HTTP_")
        if size > MAX_HEADER_BYTES:
            return MockError(431, "headers_too_large",
                             f"The request headers are larger than {MAX_HEADER_BYTES // 1024} KiB in all.")
        if len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", "")) > MAX_TARGET_BYTES:
            return MockError(414, "uri_too_long",
                             f"The request's path and query are longer than {MAX_TARGET_BYTES // 1024} KiB.")
        return None
