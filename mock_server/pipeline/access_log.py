"""access_log: one log line per request, as Prism prints each request with its validation result.

`crm-mock serve` logs them at INFO on the `crm_mock.access` logger (`--quiet` or `--log-level
warning` turns them off, `--log-format json` gives log collectors one JSON object a line). A line
carries the method, the path, the vendor's operation, the status, the duration, the override or
fault applied and the validation problems in short; never a credential: no headers, no body, and
query values named like secrets masked as in the journal. Left out when INFO is not enabled, so a
server that does not log pays nothing for it.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import unquote_plus

from mock_server.pipeline.exchange import Exchange
from mock_server.pipeline.stage import Outcome, Stage
from mock_server.redaction import Redactor
from mock_server.steering.faults import describe
from mock_server.store.namespaced import CURRENT

ACCESS = logging.getLogger("crm_mock.access")
PROBLEMS_SHOWN = 3


class AccessLog(Stage):
    name = "access_log"

    @classmethod
    def build(cls, mount):
        return cls(mount) if ACCESS.isEnabledFor(logging.INFO) else None

    def __init__(self, mount) -> None:
        super().__init__(mount)
        self.redactor = Redactor.for_schemes(mount.vendor.spec.security_schemes)

    def __call__(self, exchange: Exchange) -> Outcome:
        request, reply, op = exchange.request, exchange.reply, exchange.op
        assert reply is not None
        query = unquote_plus(self.redactor.query(request.query_string.decode("latin-1")))  # masked first
        problems = [f"{p.field}: {p.message}" for p in exchange.problems[:PROBLEMS_SHOWN]]
        fault = describe(exchange.fault)
        fields = {
            "vendor": self.mount.vendor.name, "namespace": CURRENT.get(),
            "operation": op.operation_id if op else None, "method": request.method, "path": request.path,
            "query": query or None, "status": reply.status,
            "duration_ms": round((time.perf_counter() - exchange.started) * 1000, 2),
            "override": exchange.override.id if exchange.override else None, "fault": fault,
            "problems": problems or None,
        }
        extras = "".join(f" {name}={fields[name]}" for name in ("override", "fault") if fields[name])
        extras += f" problems={'; '.join(problems)}" if problems else ""
        ACCESS.info("%s %s%s %s -> %s %.1fms%s", request.method, one_line(request.path),
                    one_line(f"?{query}") if query else "", fields["operation"] or "-", reply.status,
                    fields["duration_ms"], one_line(extras), extra=fields)
        return None


# C0 and C1 controls and DEL, as \xNN: a percent-encoded newline in a path or a problem's value
# cannot start a forged line of its own in a text log (the JSON format escapes them itself).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def one_line(text: str) -> str:
    return text.translate(_CONTROLS)
