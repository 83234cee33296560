"""A throwaway PostgreSQL cluster on this machine (`initdb` + `pg_ctl`), for the test suite and
`make bench`: a real server in a temporary directory, gone when the block ends.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (the Debian
packages make one) and its commands run through `runuser`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def available() -> bool:
    return bool(shutil.which("initdb") and shutil.which("pg_ctl"))


@dataclass
class LocalCluster:
    url: str
    data: Path
    options: str  # what `pg_ctl start -o` is given (port, socket directory, settings)
    log: Path
    as_owner: list[str]  # the command prefix that runs pg_ctl as the cluster's owner

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_owner, "pg_ctl", "-D", str(self.data), *args], check=True, capture_output=True)

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")


@contextmanager
def throwaway_cluster(prefix: str = "crm-mock-pg-", durable: bool = True) -> Iterator[LocalCluster]:
    """A started cluster; `durable=False` turns fsync off (tests: faster, and nothing to keep)."""
    # Not under pytest's tmp_path: its 0700 parent directories would stop the postgres user.
    base = Path(tempfile.mkdtemp(prefix=prefix))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    subprocess.run([*as_owner, "initdb", "-A", "trust", "--no-sync", "-U", "postgres", "-D", str(data)],
                   check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off"
    cluster = LocalCluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, options, base / "log", as_owner)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run([*as_owner, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
