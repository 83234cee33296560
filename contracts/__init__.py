"""crm-mock's contract harness: Schemathesis against the mock (in-process) or a live vendor API.

    from contracts import Options, run
    results = run(["close"], target="mock", options=Options(max_examples=20, seed=1))
    all(r.ok for r in results)

Modules, one job each: `targets` (where requests go, credentials, politeness), `checks` (vendor
checks), `runner` (the engine run for one vendor), `cleanup` (undoing a live run's writes),
`report` (terminal, Markdown, JUnit).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from contracts.runner import Options, VendorResult
from contracts.targets import TargetError, probe, resolve

__all__ = ["Options", "TargetError", "VendorResult", "run"]


def run(vendors: Sequence[str], target: str = "mock", options: Options | None = None,
        env: Mapping[str, str] = os.environ, rate: str | None = None) -> list[VendorResult]:
    """Run the harness for each vendor. Every target is resolved first, so a missing credential
    stops the run before any request is sent. One seed serves the whole run (and seeds the mock).
    With several vendors, a live URL is the root of a `crm-mock serve` (vendors under /<vendor>)."""
    from contracts import runner

    options = (options or Options()).seeded()
    targets = [resolve(v, target, env=env, seed=options.seed, rate=rate, all_vendors=len(vendors) > 1)
               for v in vendors]
    for each in targets:
        probe(each)  # an unreachable URL is a usage error in seconds, not a run of failures
    return [runner.run(t, options) for t in targets]
