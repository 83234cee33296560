"""The request journal behind GET /__mock/requests: recent calls, credentials never in clear."""
from __future__ import annotations

import collections
import threading
from datetime import datetime, timezone

SENSITIVE_HEADERS = {"authorization", "apitoken", "cookie", "x-api-key", "proxy-authorization"}


def redact_headers(headers) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name.lower() in SENSITIVE_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} ***" if scheme else "***"
        out[name] = value
    return out


class Journal:
    def __init__(self, size: int = 1000):
        self._entries = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, *, vendor, method, path, query, headers, status, operation, problems, message):
        entry = {
            "time": datetime.now(timezone.utc).isoformat(),
            "vendor": vendor,
            "method": method,
            "path": path,
            "query": query,
            "headers": redact_headers(headers),
            "status": status,
            "operation": operation,
            "message": message,
            "problems": [{"field": p.field, "message": p.message} for p in problems],
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self, limit: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._entries)
        return items[-limit:] if limit else items

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
