"""crm-mock's command line: serve | specs | fixtures | contract."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import shutil
import sys
import tempfile

import click
import yaml
from rich.console import Console
from rich.table import Table

from mock_server.spec import load_spec
from mock_server.store.base import StoreUnavailable
from mock_server.store.urls import shown_url
from mock_server.vendors import VENDORS

VENDOR_CHOICE = click.Choice([*VENDORS, "all"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="crm-mock", prog_name="crm-mock")
@click.option("--config", type=click.Path(dir_okay=False), envvar="CRM_MOCK_CONFIG",
              help="Settings for `serve` from this TOML file (default: ./crm-mock.toml, else [tool.crm-mock] in "
                   "./pyproject.toml). Flags win over it.")
@click.pass_context
def main(ctx, config):
    """Offline, stateful stand-ins for CRM vendor APIs (Close, Nexudus, SprintHub), driven by OpenAPI."""
    from mock_server.serve import config_file

    found = config_file.find(config)
    if found and ctx.invoked_subcommand == "serve":
        path, table = found
        ctx.default_map = {"serve": config_file.defaults(serve, path, table)}
        ctx.meta["crm_mock.config"] = path


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--vendor", default="all", type=VENDOR_CHOICE, show_default=True,
              help="One vendor served at the root, or all behind /close, /nexudus, /sprinthub.")
@click.option("--store", default="memory", show_default=True,
              help="memory; sqlite:PATH (shared by workers on one host); postgresql://USER@HOST:PORT/DB (shared by "
                   "workers on many hosts).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes. More than 1 shares state through SQLite; a dead worker is replaced.")
@click.option("--server", "server_kind", default="auto", show_default=True,
              type=click.Choice(["auto", "bjoern", "gunicorn"]),
              help="auto = gunicorn with gevent workers: every socket-level case answered in the vendor's shape, "
                   "and other clients served while a fault waits. bjoern: about twice the throughput, for load "
                   "tests (one thread; see README, Known limits).")
@click.option("--keys", type=click.Path(exists=True, dir_okay=False), envvar="CRM_MOCK_KEYS",
              help="YAML of accepted credentials, users and roles (default: accept any well-formed one).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for IDs and generated data.")
@click.option("--seed-data", default=0, show_default=True, type=click.IntRange(0),
              help="Preload this many opportunities (with leads, statuses, history) per vendor.")
@click.option("--strict", is_flag=True, help="Turn any response that breaks the spec into a 500 naming the field.")
@click.option("--rate-limit", help="Throttle past N calls per credential, e.g. 10/s or 60/m, in each vendor's "
              "own way (Close 429 + RateLimit/Retry-After, Nexudus 409, SprintHub 401). Default: off.")
@click.option("--admin-key", envvar="CRM_MOCK_ADMIN_KEY",
              help="Secret for /__mock/ (send it as X-Crm-Mock-Admin-Key). Required there, except on "
                   "/__mock/health, whenever this or --keys is given.")
@click.option("--reproducible-tokens", is_flag=True,
              help="Mint issued tokens (Nexudus /api/token) from --seed instead of at random.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False),
              help="YAML list of overrides (as POST /__mock/overrides takes), set at start and after every reset.")
@click.option("--load", "world_files", multiple=True, metavar="[VENDOR:]FILE",
              help="A world file (as `crm-mock fixtures VENDOR all` writes it, JSON or JSONL) loaded into every seeded "
                   "world, checked against the specs and references first; repeatable. VENDOR: when it could be "
                   "more than one vendor's.")
@click.option("--latency", help="Chaos: slow every call, e.g. 50ms or 50ms±20 (jitter drawn from --seed).")
@click.option("--error-rate", type=float, default=0.0,
              help="Chaos: this fraction of calls (0-1) gets the vendor's 503 or throttling answer, drawn from --seed.")
@click.option("--journal-size", default=1000, show_default=True, type=click.IntRange(0, 1_000_000),
              help="Requests kept in the journal (/__mock/requests), the oldest dropped first; shared by every worker and "
                   "host of a shared store. 0 turns the journal off (as WireMock's --no-request-journal).")
@click.option("--namespace-ttl", default=3600, show_default=True, type=click.IntRange(0),
              help="Seconds a namespace (X-Crm-Mock-Namespace header, or a /__ns/NAME/ base URL) may stay idle "
                   "before it is dropped; 0: never. At least 60.")
@click.option("--world-cache", default="auto", show_default=True, metavar="DIR|auto|off",
              help="Where seeded worlds are kept, so the next start or reset with the same seed and size reads the "
                   "world instead of making it again (100,000 opportunities: about 1 s instead of 7). auto: "
                   "$CRM_MOCK_WORLD_CACHE, else ~/.cache/crm-mock/worlds. Only worlds that took over half a second "
                   "to make, and none made with --keys or --load.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True,
              help="info: one line per request (method, path, operation, status, duration, override or fault, "
                   "validation problems; never a credential) and the start-up block.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors (the same as --log-level warning).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object a line, for log collectors.")
@click.option("--print-config", is_flag=True,
              help="Print the settings in effect and where each came from (flag, environment, file, default), and exit.")
@click.pass_context
def serve(ctx, host, port, vendor, store, workers, server_kind, keys, seed, seed_data, strict, rate_limit,
          admin_key, reproducible_tokens, scenario, world_files, latency, error_rate, journal_size, namespace_ttl,
          world_cache, log_level, quiet, log_format, print_config):
    """Start the mock server.

    \b
    Control endpoints under /__mock/ (README: "Control endpoints"):
      health, reset (?seed_data=N, ?to=SNAPSHOT), requests, records, overrides, verify,
      namespaces, snapshot (the world as a file), restore (put one back),
      snapshots/NAME (PUT saves the world by name, DELETE removes it),
      load (a world file's records added, checked first)."""
    from mock_server.serve.server import port_is_free, run

    settings = _checked_settings(**ctx.params)
    if print_config:  # after the checks: a value `serve` would refuse is refused here too (exit 2)
        _print_config(ctx)
        return
    if not port_is_free(host, port):
        click.echo(f"crm-mock: port {port} on {host} is in use; choose another with --port", err=True)
        sys.exit(2)
    scratch = None
    if workers > 1 and store == "memory":
        # Separate processes cannot share memory: give them one SQLite file, removed on exit.
        scratch = tempfile.mkdtemp(prefix="crm-mock-")
        store = "sqlite:" + os.path.join(scratch, "store.db")
        click.echo(f"--workers {workers}: sharing state through {store}", err=True)
        settings = dataclasses.replace(settings, store=store)
    from mock_server.serve import logs

    logs.configure("warning" if quiet else log_level, log_format)
    log = logging.getLogger("crm_mock.server")
    if settings.keys and not admin_key:
        log.warning("with --keys, /__mock/ (but health) answers 401 until you also give --admin-key")
    urls = {name: f"http://{host}:{port}{f'/{name}' if vendor == 'all' else ''}{load_spec(name).base_path}/"
            for name in (VENDORS if vendor == "all" else [vendor])}
    urls["control"] = f"http://{host}:{port}/__mock/"
    shown_store = shown_url(store)
    log.info("serving\n%s\n  %-10s %s, %d worker(s)%s",
             "\n".join(f"  {name:<10} {url}" for name, url in urls.items()), "store", shown_store, workers,
             f", {len(world_files)} world file(s)" if world_files else "",
             extra={"urls": urls, "store": shown_store, "workers": workers, "load": list(world_files)})
    try:
        run(host=host, port=port, workers=workers, settings=settings, server=server_kind)
    except StoreUnavailable as error:  # a database that is down or unreachable at start: one line, no traceback
        click.echo(f"crm-mock: cannot use the store {shown_store}: {_why_unreachable(store) or error}", err=True)
        sys.exit(1)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _why_unreachable(url: str) -> str | None:
    """libpq's own reason (refused, unknown host, bad password), which the pool's timeout hides."""
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]
    return None


def _checked_settings(*, vendor, store, server_kind, keys, seed, seed_data, strict, rate_limit, admin_key,
                      reproducible_tokens, scenario, world_files, latency, error_rate, journal_size, namespace_ttl,
                      world_cache, **_how_to_run):
    """Every value `serve` was given, checked before anything is printed or listens: a bad one is a
    usage error (exit 2) naming the option."""
    from mock_server.rates import parse_rate
    from mock_server.serve.namespaces import MIN_TTL
    from mock_server.serve.server import bjoern_available
    from mock_server.settings import Settings
    from mock_server.store import check_url

    parsed_keys = _load_keys(keys)
    try:
        check_url(store)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--store") from None
    if rate_limit:
        try:
            parse_rate(rate_limit)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--rate-limit") from None
    if 0 < namespace_ttl < MIN_TTL:
        raise click.BadParameter(f"0 (never) or at least {MIN_TTL:.0f} seconds", param_hint="--namespace-ttl")
    if server_kind == "bjoern" and not bjoern_available():
        raise click.UsageError("bjoern is not installed: pip install 'crm-mock[fast]', or use --server gunicorn")
    chaos = _chaos(latency, error_rate)
    scenario = _scenario(scenario, VENDORS if vendor == "all" else [vendor])
    settings = Settings(vendor=vendor, store=store, keys=parsed_keys, seed=seed, seed_data=seed_data, strict=strict,
                        rate_limit=rate_limit, admin_key=admin_key, reproducible_tokens=reproducible_tokens,
                        scenario=scenario, journal_size=journal_size, namespace_ttl=namespace_ttl or None,
                        load=world_files, world_cache=world_cache, **chaos)
    if world_files:
        _check_world_files(settings)
    return settings


def _print_config(ctx: click.Context) -> None:
    """Each option's value and its source; secrets shown as ***."""
    from click.core import ParameterSource

    config = ctx.find_root().meta.get("crm_mock.config")
    sources = {ParameterSource.COMMANDLINE: "flag", ParameterSource.ENVIRONMENT: "environment",
               ParameterSource.DEFAULT_MAP: str(config), ParameterSource.DEFAULT: "default"}
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name == "print_config" or not param.expose_value:
            continue
        value = ctx.params.get(param.name)
        if param.name == "admin_key" and value:
            value = "***"
        elif param.name == "store":
            value = shown_url(value)
        shown = list(value) if param.multiple else value
        source = ctx.get_parameter_source(param.name)  # type: ignore[arg-type]
        click.echo(f"{param.opts[0].lstrip('-'):<20} {shown!r:<40} {sources.get(source, 'default')}")


def _check_world_files(settings) -> None:
    """Every --load file read and checked against the world it joins, before anything listens:
    a bad one stops the start (exit 2) with a message naming the file, the record and the field."""
    from mock_server.serve.worlds import build_world, world_items
    from mock_server.world_files import BadWorld

    try:
        build_world(settings, None, world_items(settings))
    except BadWorld as error:
        click.echo(f"crm-mock: --load {error}", err=True)
        sys.exit(2)


def _chaos(latency: str | None, error_rate: float) -> dict:
    from mock_server.steering.chaos import parse_error_rate, parse_latency

    for hint, check, value in (("--latency", parse_latency, latency), ("--error-rate", parse_error_rate, error_rate)):
        try:
            if value:
                check(value)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=hint) from None
    return {"latency": latency, "error_rate": error_rate}


def _scenario(path: str | None, vendors) -> tuple:
    from mock_server.steering.scenario import load_scenario

    if not path:
        return ()
    try:
        return load_scenario(path, {name: set(load_spec(name).by_id) for name in vendors})
    except (OSError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--scenario") from None


def _load_keys(source):
    """The keys file, checked against the specs: a typo is a usage error (exit 2) naming the entry."""
    from mock_server.identity import Keys

    try:
        keys = Keys.load(source)
        keys.check({name: load_spec(name).security_schemes for name in VENDORS})
    except (ValueError, yaml.YAMLError) as error:
        raise click.BadParameter(str(error), param_hint="--keys") from None
    return keys


@main.command()
@click.option("--vendor", default="all", type=VENDOR_CHOICE)
def specs(vendor):
    """List the vendors and operations the mock serves."""
    table = Table(title="crm-mock: operations served (from specs/*.yaml)")
    for column in ("vendor", "method", "path (served at)", "operationId", "auth", "statuses"):
        table.add_column(column, overflow="fold")  # in a narrow terminal wrap, never cut short
    for name in VENDORS if vendor == "all" else [vendor]:
        spec = load_spec(name)
        for op in spec.operations:
            auth = " | ".join(" + ".join(
                f"{scheme}[{','.join(scopes)}]" if scopes else scheme for scheme, scopes in req.items()
            ) for req in op.security) or "none"
            table.add_row(name, op.method, f"/{name}{spec.base_path}{op.path}", op.operation_id, auth,
                          " ".join(sorted(op.statuses)))
    console = Console()
    if not console.is_terminal:  # piped or captured: as wide as the longest row, so nothing wraps
        console = Console(width=240)
    console.print(table)


@main.command()
@click.argument("vendor", required=False, type=click.Choice(VENDORS))
@click.argument("resource", required=False)
@click.option("--count", default=10, show_default=True, type=click.IntRange(1), help="Records (opportunities) to make.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, byte-identical output.")
@click.option("--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "jsonl"]))
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--list", "list_only", is_flag=True, help="Show what can be generated.")
def fixtures(vendor, resource, count, seed, fmt, out, list_only):
    """Print realistic, schema-valid, seeded records, e.g. `crm-mock fixtures close opportunity --count 100`.

    RESOURCE `all` prints every resource of the vendor from one world, so references resolve."""
    import orjson
    from rich.progress import Progress

    from mock_server.fixtures import fixture_resources, generate

    if list_only or not vendor:
        table = Table(title="crm-mock fixtures: VENDOR RESOURCE")
        for column in ("vendor", "resource", "spec schema"):
            table.add_column(column)
        for name in [vendor] if vendor else VENDORS:  # `fixtures close --list`: Close's only
            for res, (_collection, schema) in fixture_resources(name).items():
                table.add_row(name, res, f"specs/{name}.yaml#/components/schemas/{schema}")
            table.add_row(name, "all", "every resource above, from one world")
        Console(stderr=not list_only).print(table)
        if not list_only:
            raise click.UsageError("name a VENDOR and RESOURCE (see the table above)")
        return
    choices = [*fixture_resources(vendor), "all"]
    if resource not in choices:
        raise click.BadParameter(f"choose from {', '.join(choices)}", param_hint="RESOURCE")
    with Progress(console=Console(stderr=True), transient=True, disable=count < 5000) as bar:
        task = bar.add_task(f"{vendor} {resource}", total=count)
        records = generate(vendor, resource, count, seed, progress=lambda done, total: bar.update(task, completed=done))
    # orjson: the stdlib's encoder was a fifth of `fixtures close all --count 100000`.
    with open(out, "wb") if out else contextlib.nullcontext(sys.stdout.buffer) as fh:
        if fmt == "json":
            fh.write(orjson.dumps(records if resource == "all" else records[resource], option=orjson.OPT_INDENT_2) + b"\n")
        else:  # written 5,000 lines at a time: the whole output at once doubled the command's memory
            lines = ({"resource": name, "record": r} if resource == "all" else r
                     for name, rows in records.items() for r in rows)
            while batch := list(itertools.islice(lines, 5000)):
                fh.write(b"".join(orjson.dumps(line) + b"\n" for line in batch))
    made = len(records[resource]) if resource != "all" else count
    if made < count:  # a fixed part of the world (SprintHub's 15 leads): say so, and fail the command
        click.echo(f"crm-mock fixtures: {vendor}'s seeded world has {made} {resource} record(s), fewer than the "
                   f"{count} asked for (--count sets the number of opportunities; other kinds follow from them "
                   "or are fixed); printed all there are", err=True)
        sys.exit(1)


@main.command()
@click.argument("vendor", type=VENDOR_CHOICE)
@click.option("--target", default="mock", show_default=True,
              help="`mock` (in-process, no socket), or a live base URL, e.g. https://api.close.com/api/v1. "
                   "With `all`, a URL is a `crm-mock serve` root. Live credentials come from the environment: "
                   "CLOSE_API_KEY; NEXUDUS_TOKEN or NEXUDUS_USERNAME/NEXUDUS_PASSWORD; "
                   "SPRINTHUB_TOKEN, SPRINTHUB_APITOKEN, SPRINTHUB_INSTANCE.")
@click.option("--max-examples", default=20, show_default=True, type=click.IntRange(1),
              help="Generated cases per operation in the fuzzing (and stateful) phase.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Concurrent workers. Only 1 makes a run exactly reproducible.")
@click.option("--seed", type=int, help="Seed for the whole run, mock included (default: random, printed).")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Write JUnit XML here.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a Markdown report here.")
@click.option("--allow-writes", is_flag=True,
              help="Live targets: also send POST/PUT/DELETE; what the run creates is deleted at the end.")
@click.option("--stateful", is_flag=True, help="Also run sequences along the specs' links (create → get → update → delete).")
@click.option("--rate", help="Live targets: request cap such as 5/s or 60/m (default: under the vendor's published limits).")
def contract(vendor, target, max_examples, workers, seed, junit, report_path, allow_writes, stateful, rate):
    """Check a target against the vendor specs with Schemathesis; exit 1 on any failure."""
    from pathlib import Path

    import contracts
    from contracts import report

    if workers > 1 and sys.version_info < (3, 11, 8):
        click.echo("note: with --workers > 1, Python < 3.11.8 can raise a spurious 'AST constructor recursion "
                   "depth mismatch' (CPython gh-106905), reported as a harness error", err=True)
    options = contracts.Options(max_examples=max_examples, workers=workers, seed=seed, stateful=stateful,
                                allow_writes=allow_writes)
    try:
        results = contracts.run(list(VENDORS) if vendor == "all" else [vendor], target, options, rate=rate)
    except contracts.TargetError as error:
        raise click.UsageError(str(error)) from None
    console = Console()
    if not console.is_terminal:  # piped or captured: room for the curl lines
        console = Console(width=160)
    report.print_summary(results, console)
    for path, text in ((junit, report.junit_xml), (report_path, report.markdown)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text(results), encoding="utf-8")
    if not all(r.ok for r in results):
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
