"""crm-mock's command line: serve | specs | fixtures | contract."""
from __future__ import annotations

import os
import sys
import tempfile

import click
from rich.console import Console
from rich.table import Table

from mock_server.spec import VENDORS, load_spec

VENDOR_CHOICE = click.Choice([*VENDORS, "all"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Offline, stateful stand-ins for CRM vendor APIs (Close, Nexudus, SprintHub), driven by OpenAPI."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--vendor", default="all", type=VENDOR_CHOICE, show_default=True,
              help="One vendor served at the root, or all behind /close, /nexudus, /sprinthub.")
@click.option("--store", default="memory", show_default=True, help="memory, or sqlite:PATH (shared by workers).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (gunicorn). More than 1 shares state through SQLite.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker.")
@click.option("--keys", type=click.Path(exists=True, dir_okay=False), envvar="CRM_MOCK_KEYS",
              help="YAML of accepted credentials, users and roles (default: accept any well-formed one).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for IDs and generated data.")
@click.option("--seed-data", default=0, show_default=True, type=click.IntRange(0),
              help="Preload this many opportunities (with leads, statuses, history) per vendor.")
@click.option("--strict", is_flag=True, help="Turn any response that breaks the spec into a 500 naming the field.")
def serve(host, port, vendor, store, workers, threads, keys, seed, seed_data, strict):
    """Start the mock server."""
    from mock_server.server import run

    if workers > 1 and store == "memory":
        # Separate processes cannot share memory: give them one SQLite file.
        store = "sqlite:" + os.path.join(tempfile.mkdtemp(prefix="crm-mock-"), "store.db")
        click.echo(f"--workers {workers}: sharing state through {store}", err=True)
    options = dict(vendor=vendor, store=store, keys=keys, seed=seed, seed_data=seed_data, strict=strict)
    run(host=host, port=port, workers=workers, threads=threads, app_options=options)


@main.command()
@click.option("--vendor", default="all", type=VENDOR_CHOICE)
def specs(vendor):
    """List the vendors and operations the mock serves."""
    table = Table(title="crm-mock: operations served (from specs/*.yaml)")
    for column in ("vendor", "method", "path (served at)", "operationId", "auth", "statuses"):
        table.add_column(column)
    for name in VENDORS if vendor == "all" else [vendor]:
        spec = load_spec(name)
        for op in spec.operations:
            auth = " | ".join(" + ".join(
                f"{scheme}[{','.join(scopes)}]" if scopes else scheme for scheme, scopes in req.items()
            ) for req in op.security) or "none"
            table.add_row(name, op.method, f"/{name}{spec.base_path}{op.path}", op.operation_id, auth,
                          " ".join(sorted(op.statuses)))
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
