"""Run Schemathesis' engine for one vendor against one target, and gather what it found.

The engine runs the examples, coverage and fuzzing phases (plus the stateful phase through the
specs' OpenAPI links with `stateful=True`) with every built-in check and the vendor checks of
`contracts.checks`. Its events are folded into one `OperationResult` per operation.
"""
from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from contracts import checks as _vendor_checks  # noqa: F401 - registers the vendor checks
from contracts.checks import VENDOR_KEY
from contracts.cleanup import Cleanup, Ledger
from contracts.targets import (
    InProcessTransport,
    LiveTransport,
    ServerErrorLog,
    Target,
    route_requests,
)
from mock_server import load_spec
from mock_server.live import Throttle

# Statuses a schema-valid request may get. Beyond 2xx: the mock (like the vendors) rejects
# references to records that do not exist although the request matches the schema: Close 400
# "Object does not exist.", Nexudus 400 for unknown board columns, SprintHub 400 for an unknown
# lead, and 404 for unknown IDs in paths. Schema-valid is not referentially valid.
POSITIVE_DATA_STATUSES = ["2xx", 400, 404]
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class Options:
    max_examples: int = 20
    workers: int = 1
    seed: int | None = None  # None: a random seed, reported so the run can be repeated
    stateful: bool = False
    allow_writes: bool = False  # live targets only; the mock is always written to
    operations: tuple[str, ...] = ()  # operationIds to test; empty means all

    def seeded(self) -> Options:
        """These options with a seed: the given one, or a random one to report."""
        return self if self.seed is not None else replace(self, seed=random.randrange(2**31))


@dataclass
class Failure:
    check: str
    title: str
    message: str
    curl: str  # the request(s) reproducing it, credentials masked
    status: int | None  # the response status, when there was a response
    response: str = ""  # the start of the response body
    severity: int = 2  # Schemathesis' rating: 0 critical (a 500, ignored auth) … 3 low
    count: int = 1  # failing cases with this check and title


@dataclass
class OperationResult:
    label: str  # "GET /opportunity/{id}/"
    cases: int = 0
    checks: set[str] = field(default_factory=set)  # names of the checks that ran
    failures: dict[tuple[str, str], Failure] = field(default_factory=dict)  # (check, title) → first example
    errors: list[str] = field(default_factory=list)  # the harness could not test something

    @property
    def ranked_failures(self) -> list[Failure]:
        """Most severe first (a 500 before a schema mismatch before a header), then as found."""
        return sorted(self.failures.values(), key=lambda f: f.severity)


@dataclass
class VendorResult:
    vendor: str
    target: str
    seed: int
    operations: dict[str, OperationResult]
    errors: list[str] = field(default_factory=list)  # not tied to one operation
    server_errors: dict[str, int] = field(default_factory=dict)  # in-process: exceptions the app logged
    cleanup: Cleanup | None = None
    throttled: int = 0
    elapsed: float = 0.0

    @property
    def failures(self) -> list[tuple[str, Failure]]:
        return [(op.label, f) for op in self.operations.values() for f in op.ranked_failures]

    @property
    def ok(self) -> bool:
        return (not self.failures and not self.errors and not any(op.errors for op in self.operations.values())
                and (self.cleanup is None or not self.cleanup.failed))


def run(target: Target, options: Options) -> VendorResult:
    """Fuzz one vendor's spec against `target`; never raises for what the server does."""
    options = options.seeded()
    schema = load_schema(target, options)
    ledger = Ledger(target.vendor) if target.live and options.allow_writes else None
    throttle = Throttle(target.vendor, target.rate) if target.live else None
    if target.live:
        route_requests(schema, LiveTransport(throttle, ledger.observe if ledger else None))
    else:
        schema.app = target.app
        route_requests(schema, InProcessTransport())
    result = VendorResult(target.vendor, target.name, options.seed, {})
    started = time.monotonic()
    with ServerErrorLog() as server_log:
        _collect(from_schema(schema).execute(), result, target)
    if target.app is not None:
        result.server_errors = server_log.summaries()
    if ledger is not None:
        result.cleanup = ledger.clean_up(target, throttle)
    result.throttled = throttle.throttled if throttle else 0
    result.elapsed = time.monotonic() - started
    return result


def load_schema(target: Target, options: Options):
    document = copy.deepcopy(load_spec(target.vendor).document)  # Schemathesis edits what it loads
    document[VENDOR_KEY] = target.vendor
    if target.live and options.allow_writes:
        _drop_path_examples(document)
    schema = schemathesis.openapi.from_dict(document, config=_config(target, options))
    if options.operations:
        schema = schema.include(operation_id=list(options.operations))
    if target.live and not options.allow_writes:
        schema = schema.include(method="GET")
    return schema


def _drop_path_examples(document: dict) -> None:
    """Writes may only touch what the run created: a documented example ID (`oppo_fn2k...`) may name
    a real record (the mock seeds the docs' examples; an account may hold anything), so no path
    parameter keeps an example for the examples and coverage phases to aim a PUT or DELETE at."""
    components = document.get("components", {})

    def resolve(node: dict) -> dict:
        ref = node.get("$ref", "")
        if ref.startswith("#/components/"):
            section, _, name = ref.removeprefix("#/components/").partition("/")
            return components.get(section, {}).get(name, node)
        return node

    for item in document.get("paths", {}).values():
        operations = [o for o in item.values() if isinstance(o, dict)]
        for parameter in item.get("parameters", []) + [p for o in operations for p in o.get("parameters", [])]:
            parameter = resolve(parameter)
            if parameter.get("in") != "path":
                continue
            for node in (parameter, resolve(parameter.get("schema", {}))):
                node.pop("example", None)
                node.pop("examples", None)


def _config(target: Target, options: Options) -> SchemathesisConfig:
    phases = {"examples": {}, "coverage": {}, "fuzzing": {}, "stateful": {"enabled": options.stateful}}
    if target.live and not options.allow_writes:
        phases["coverage"]["unexpected-methods"] = []  # it would send PUT/DELETE/... to every path
    elif target.live:
        # Writes may only touch what the run created. IDs seen in responses (real records, listed
        # by a GET) must not be reused in PUT/DELETE paths, nor links inferred from list answers:
        # only the spec's own links, which start at a create.
        for name in ("examples", "coverage", "fuzzing"):
            phases[name]["extra-data-sources"] = {"responses": False}
        phases["stateful"]["inference"] = {"algorithms": []}
    return SchemathesisConfig.from_dict({
        "seed": options.seed,
        "base-url": target.base_url,
        "workers": options.workers,
        "continue-on-failure": True,  # report every failing check of an operation, not just the first
        "cache": {"enabled": False},  # no state carried between runs: the same seed, the same run
        "generation": {"max-examples": options.max_examples, "database": "none"},
        "phases": phases,
        "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_STATUSES}},
        "auth": {"openapi": target.schemathesis_auth()},
        "parameters": target.parameters,
    })


def _collect(stream: Iterable[events.EngineEvent], result: VendorResult, target: Target) -> None:
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            _fold_scenario(event.recorder, result, target)
        elif isinstance(event, events.NonFatalError):
            message = target.mask(f"{event.info.title}: {event.info.message}".strip())
            if event.related_to_operation and event.label:
                _operation(result, event.label).errors.append(message)
            else:
                result.errors.append(f"{event.label}: {message}")
        elif isinstance(event, events.FatalError):
            result.errors.append(target.mask(f"Schemathesis stopped: {event.exception!r}"))
        elif isinstance(event, events.Interrupted):
            result.errors.append("interrupted")


def _fold_scenario(recorder, result: VendorResult, target: Target) -> None:
    """Count each case under its operation (a stateful scenario spans several), with its checks."""
    for node in recorder.cases.values():
        _operation(result, node.value.operation.label).cases += 1
    for case_id, nodes in recorder.checks.items():
        for check in nodes:
            failure = check.failure_info.failure if check.failure_info else None
            failing_id = (failure.case_id if failure else None) or case_id
            node = recorder.cases.get(failing_id) or recorder.cases.get(case_id)
            if node is None:
                continue
            operation = _operation(result, node.value.operation.label)
            operation.checks.add(check.name)
            if failure is None:
                continue
            key = (check.name, failure.title)
            if key in operation.failures:
                operation.failures[key].count += 1
                continue
            response = recorder.find_response(case_id=failing_id)
            curl = check.failure_info.code_sample.strip()
            if not target.live:  # plain http to `crm-mock serve`: nothing to be insecure about
                curl = curl.replace(" --insecure", "")
            operation.failures[key] = Failure(
                check=check.name, title=failure.title, message=target.mask(failure.message.strip()),
                curl=target.mask(curl), status=response.status_code if response is not None else None,
                response=target.mask(_excerpt(response.content)) if response is not None else "",
                severity=SEVERITY_RANK[failure.severity.value],
            )


def _excerpt(content: bytes | None, limit: int = 300) -> str:
    text = (content or b"").decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _operation(result: VendorResult, label: str) -> OperationResult:
    return result.operations.setdefault(label, OperationResult(label))
