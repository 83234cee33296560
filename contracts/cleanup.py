"""Leave a live target as it was found: note every record a run creates, delete them all at the end.

What a create makes, and how to delete it, is read from the spec's OpenAPI links: a create's
success response links to its delete operation with the expression naming the new record's ID
(`$response.body#/id`, `$response.body#/Value/Id`). Records a vendor makes beside it (Close's
status-change activity, its "Untitled" lead) are declared in the vendor's `live.py` as side effects,
found and deleted the same way. Whatever nothing can delete (SprintHub has no delete operation) is
reported as left behind.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from contracts.checks import json_pointer
from contracts.targets import Target
from mock_server import VENDOR_CLASSES, Operation, load_spec
from mock_server.live import Throttle
from mock_server.live.profile import SideEffect


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
    sent: Any = None  # the create's request body
    answer: Any = None  # and its answer


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
            self.created.append(Created(name, None if record_id is None else str(record_id), how, case.body, body))

    def clean_up(self, target: Target, throttle: Throttle) -> Cleanup:
        result, kept = Cleanup(), {}
        with requests.Session() as session:
            remover = _Remover(session, target, throttle, result)
            for item in self.created:
                delete = item.how.delete
                if delete is None or item.record_id is None:
                    why = "no delete operation in the spec" if delete is None else "no ID in the answer"
                    kept.setdefault(f"records from {item.operation} ({why})", []).append(item.record_id or "?")
                    continue
                remover.delete(delete, item.how.delete_parameter, item.record_id)
            # Then what the creates made beside their own record, in the order the vendor declares.
            for effect in VENDOR_CLASSES[self.vendor].LIVE.side_effects:
                for item in self.created:
                    if item.operation == effect.create:
                        for made in self._made_beside(effect, item, remover):
                            delete = self.spec.by_id[effect.delete]
                            remover.delete(delete, _path_parameter(delete), made)
        result.left_behind = [f"{len(ids)} {why}: {', '.join(ids[:10])}{', …' if len(ids) > 10 else ''}"
                              for why, ids in kept.items()]
        return result

    def _made_beside(self, effect: SideEffect, item: Created, remover: _Remover) -> list[str]:
        if effect.from_answer:
            sent = item.sent if isinstance(item.sent, dict) else {}
            made = item.answer.get(effect.from_answer) if isinstance(item.answer, dict) else None
            return [str(made)] if made and not (effect.unless_sent and sent.get(effect.unless_sent)) else []
        if effect.listing and effect.by and item.record_id:
            return remover.find(self.spec.by_id[effect.listing], {effect.by: item.record_id}, effect.what)
        return []


class _Remover:
    """Deletes by operation and ID on the live target (paced), and finds records with a list call."""

    def __init__(self, session: requests.Session, target: Target, throttle: Throttle, result: Cleanup) -> None:
        self.session, self.target, self.throttle, self.result = session, target, throttle, result

    def delete(self, operation: Operation, parameter: str | None, record_id: str) -> None:
        path = operation.path.replace("{" + (parameter or "id") + "}", quote(record_id, safe=""))
        url, headers = self.target.base_url + path, self.target.headers_for(operation.security)
        try:
            response = self.throttle.call(lambda: self.session.delete(url, headers=headers, timeout=30))
        except requests.RequestException as error:
            self.result.failed.append(f"DELETE {self.target.mask(url)}: {type(error).__name__}")
            return
        refused = _refused(response)
        if response.status_code == 404:
            self.result.already_gone += 1
        elif 200 <= response.status_code < 300 and not refused:
            self.result.deleted += 1
        else:
            self.result.failed.append(f"DELETE {self.target.mask(url)} answered {response.status_code}"
                                      f"{': ' + refused if refused else ''}")

    def find(self, listing: Operation, query: dict, what: str) -> list[str]:
        url = self.target.base_url + listing.path
        headers = self.target.headers_for(listing.security)
        try:
            response = self.throttle.call(lambda: self.session.get(url, params=query, headers=headers, timeout=30))
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            self.result.failed.append(f"finding {what} at {self.target.mask(url)}: {type(error).__name__}")
            return []
        rows = next((v for v in body.values() if isinstance(v, list)), []) if isinstance(body, dict) else []
        return [str(r.get("id", r.get("Id"))) for r in rows if isinstance(r, dict) and (r.get("id") or r.get("Id"))]


def _path_parameter(operation: Operation) -> str | None:
    return next((p.name for p in operation.parameters if p.location == "path"), None)


def _refused(response) -> str | None:
    """Nexudus can answer a refused delete with 200 and `WasSuccessful: false`; its message, if so."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("WasSuccessful") is False:
        return str(body.get("Message") or "refused")
    return None
