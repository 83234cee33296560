"""A contract run, shown three ways: a terminal summary, a Markdown report, JUnit XML for CI."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts.runner import VendorResult


def _verdict(result: VendorResult) -> str:
    failures = len(result.failures)
    errors = len(result.errors) + sum(len(op.errors) for op in result.operations.values())
    if result.ok:
        return "no failures"
    return ", ".join(part for part in (
        f"{failures} failure{'s' * (failures != 1)}" if failures else "",
        f"{errors} harness error{'s' * (errors != 1)}" if errors else "",
        "cleanup incomplete" if result.cleanup and result.cleanup.failed else "",
    ) if part)


def _notes(result: VendorResult) -> list[str]:
    """What a reader needs beyond the table: errors, the mock's own exceptions, cleanup, throttling."""
    notes = [f"harness error: {e}" for e in result.errors]
    notes += [f"harness error on {op.label}: {e}" for op in result.operations.values() for e in op.errors]
    notes += [f"the mock logged {count}× {cause}" for cause, count in result.server_errors.items()]
    if result.cleanup is not None:
        c = result.cleanup
        notes.append(f"cleanup: {c.deleted} deleted, {c.already_gone} already deleted by the run, "
                     f"{len(c.failed)} failed, {len(c.left_behind)} left behind")
        notes += [f"not deleted: {item}" for item in c.failed + c.left_behind]
    if result.throttled:
        notes.append(f"waited out {result.throttled} throttling answer(s)")
    if any(f.check == "ignored_auth" for _, f in result.failures):
        notes.append("ignored_auth: the target answered requests sent with wrong or no credentials. A zero-config "
                     "`crm-mock serve` accepts any credential: start it with --keys listing only the credential "
                     "the harness sends (README, Contract checks), and this check means something.")
    return notes


# -- terminal ------------------------------------------------------------------------------------------
def print_summary(results: Sequence[VendorResult], console: Console | None = None) -> None:
    console = console or Console()
    for result in results:
        table = Table(title=f"{result.vendor} — {result.target} — seed {result.seed} — {result.elapsed:.1f}s",
                      title_justify="left", show_lines=True, expand=True)
        table.add_column("operation", no_wrap=True)
        table.add_column("cases", justify="right")
        table.add_column("failures", justify="right")
        table.add_column("first failure: check, and the request reproducing it", overflow="fold", ratio=1)
        for op in sorted(result.operations.values(), key=lambda o: o.label):
            failure = next(iter(op.ranked_failures), None)
            detail = Text.assemble((failure.check, "bold"), f": {failure.title}\n{failure.curl}") if failure else ""
            style = "red" if op.failures or op.errors else None
            table.add_row(op.label, str(op.cases), str(len(op.failures)) + ("+err" if op.errors else ""),
                          detail, style=style)
        console.print(table)
        for note in _notes(result):
            console.print(f"  {note}", markup=False, highlight=False)
        colour = "green" if result.ok else "red"
        console.print(f"[{colour}]{result.vendor}: {_verdict(result)}[/] (rerun with --seed {result.seed})")


# -- Markdown ------------------------------------------------------------------------------------------
def markdown(results: Sequence[VendorResult]) -> str:
    lines = ["# Contract report", ""]
    lines += ["| vendor | target | seed | result |", "|---|---|---|---|"]
    lines += [f"| {r.vendor} | {r.target} | {r.seed} | {_verdict(r)} |" for r in results]
    for result in results:
        lines += ["", f"## {result.vendor}", ""]
        lines += ["| operation | cases | failures | failing checks |", "|---|---:|---:|---|"]
        for op in sorted(result.operations.values(), key=lambda o: o.label):
            failing = ", ".join(sorted({f.check for f in op.failures.values()})) or "—"
            lines.append(f"| `{op.label}` | {op.cases} | {len(op.failures)} | {failing} |")
        notes = _notes(result)
        if notes:
            lines += [""] + [f"- {_md_escape(n)}" for n in notes]
        for label, failure in result.failures:
            lines += ["", f"### `{label}` — {failure.check}: {failure.title}", "",
                      f"Seen in {failure.count} case(s); response status {failure.status or 'none'}.", ""]
            if failure.message:
                lines += ["```", failure.message, "```", ""]
            lines += ["Reproduce:", "", "```bash", failure.curl, "```"]
            if failure.response:
                lines += ["", "Response:", "", "```", failure.response, "```"]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# -- JUnit XML -----------------------------------------------------------------------------------------
def junit_xml(results: Sequence[VendorResult]) -> str:
    """One testsuite per vendor; one testcase per operation and check that ran, failing with the
    first example of that check's failure; harness errors and an incomplete cleanup as <error>."""
    root = ET.Element("testsuites", name="crm-mock contract")
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=f"contract.{result.vendor}", time=f"{result.elapsed:.3f}")
        for op in sorted(result.operations.values(), key=lambda o: o.label):
            classname = f"{result.vendor}.{op.label}"
            first: dict = {}
            for failure in op.failures.values():
                first.setdefault(failure.check, failure)
            for check in sorted(op.checks | set(first)):
                case = ET.SubElement(suite, "testcase", classname=classname, name=check)
                if check in first:
                    f = first[check]
                    ET.SubElement(case, "failure", message=f.title, type=check).text = (
                        f"{f.message}\n\nReproduce:\n{f.curl}\n\nResponse ({f.status}):\n{f.response}\n")
            for error in op.errors:
                _error_case(suite, classname, "harness", error)
        for error in result.errors:
            _error_case(suite, result.vendor, "run", error)
        if result.cleanup is not None and result.cleanup.failed:
            _error_case(suite, result.vendor, "cleanup", "; ".join(result.cleanup.failed))
    for node in [*root, root]:
        node.set("tests", str(len(node.findall(".//testcase"))))
        node.set("failures", str(len(node.findall(".//testcase/failure"))))
        node.set("errors", str(len(node.findall(".//testcase/error"))))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _error_case(suite: ET.Element, classname: str, name: str, error: str) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name)
    ET.SubElement(case, "error", message=error[:200]).text = error
