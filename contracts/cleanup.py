"""Leave a live target as it was found: note every record a run creates, delete them all at the end.

What a create makes, and how to delete it, is read from the spec's OpenAPI links: a create's
success response links to its delete operation with the expression naming the new record's ID
(`$response.body#/id`, `$response.body#/Value/Id`). A create with no delete link (SprintHub has no
delete operation) is reported as left behind, as are records a vendor creates implicitly.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

from contracts.checks import json_pointer
from contracts.targets import Target
from mock_server import Operation, load_spec
from mock_server.live import Throttle

# Records a vendor creates as a side effect: (vendor, operationId) → (request field that avoids it, what).
IMPLICIT = {("close", "createOpportunity"): ("lead_id", "lead")}


@dataclass(frozen=True)
class Create:
    """What the links of a create say: where the new record's ID is, and how to delete it."""

    id_pointer: str  # JSON pointer into the create's answer, e.g. "/Value/Id"
    delete: Operation | None = None
    delete_parameter: str | None = None  # the delete's path parameter taking the ID


@dataclass(frozen=True)
class Created:
    operation: str  # operationId of the create
    record_id: str | None
    how: Create


@dataclass
class Cleanup:
    deleted: int = 0
    already_gone: int = 0  # deleted by the run itself (a stateful DELETE)
    failed: list[str] = field(default_factory=list)  # deletes that did not work, and why
    left_behind: list[str] = field(default_factory=list)  # records nothing in the spec can delete


class Ledger:
    """Thread-safe list of what a run created on a live target (fed by the LiveTransport)."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.spec = load_spec(vendor)
        self.creates = dict(self._creates_with_links())
        self.created: list[Created] = []
        self.implicit: dict[str, list[str]] = {}  # what was made implicitly, and why it stays → IDs
        self.lock = threading.Lock()

    def _creates_with_links(self):
        """operationId of each create (a POST whose success links to other operations) → Create."""
        for op in self.spec.operations:
            links = {}
            for status, response in op.raw.get("responses", {}).items():
                if status.startswith("2"):
                    links.update(self.spec.resolve(response).get("links", {}))
            if op.method != "POST" or not links:
                continue
            create = None
            for link in links.values():
                target = self.spec.by_id.get(link.get("operationId"))
                for name, expression in link.get("parameters", {}).items():
                    if not str(expression).startswith("$response.body#"):
                        continue  # e.g. SprintHub's `$request.query.id`
                    pointer = expression.partition("#")[2]
                    if target is not None and target.method == "DELETE":
                        create = Create(pointer, target, name)
                    elif create is None:
                        create = Create(pointer)
            if create is not None:
                yield op.operation_id, create

    def observe(self, case, response) -> None:
        name = case.operation.definition.raw.get("operationId")
        if name not in self.creates or not 200 <= response.status_code < 300:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        how = self.creates[name]
        record_id = json_pointer(body, how.id_pointer) if body is not None else None
        with self.lock:
            self.created.append(Created(name, None if record_id is None else str(record_id), how))
            avoided_by, what = IMPLICIT.get((self.vendor, name), (None, None))
            if what and not (isinstance(case.body, dict) and case.body.get(avoided_by)):
                made = body.get(avoided_by) if isinstance(body, dict) else None
                why = f"{what}s created implicitly by {name} (no {avoided_by} sent; nothing in the spec deletes them)"
                self.implicit.setdefault(why, []).append(str(made or "?"))

    def clean_up(self, target: Target, throttle: Throttle) -> Cleanup:
        result, kept = Cleanup(), dict(self.implicit)
        with requests.Session() as session:
            for item in self.created:
                delete = item.how.delete
                if delete is None or item.record_id is None:
                    why = "no delete operation in the spec" if delete is None else "no ID in the answer"
                    kept.setdefault(f"records from {item.operation} ({why})", []).append(item.record_id or "?")
                    continue
                path = delete.path.replace("{" + item.how.delete_parameter + "}", quote(item.record_id, safe=""))
                url, headers = target.base_url + path, target.headers_for(delete.security)
                try:
                    response = throttle.call(lambda u=url, h=headers: session.delete(u, headers=h, timeout=30))
                except requests.RequestException as error:
                    result.failed.append(f"DELETE {target.mask(url)}: {type(error).__name__}")
                    continue
                refused = _refused(response)
                if response.status_code == 404:
                    result.already_gone += 1
                elif 200 <= response.status_code < 300 and not refused:
                    result.deleted += 1
                else:
                    result.failed.append(f"DELETE {target.mask(url)} answered {response.status_code}"
                                         f"{': ' + refused if refused else ''}")
        result.left_behind = [f"{len(ids)} {why}: {', '.join(ids[:10])}{', …' if len(ids) > 10 else ''}"
                              for why, ids in kept.items()]
        return result


def _refused(response) -> str | None:
    """Nexudus can answer a refused delete with 200 and `WasSuccessful: false`; its message, if so."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("WasSuccessful") is False:
        return str(body.get("Message") or "refused")
    return None
