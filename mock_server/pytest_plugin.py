"""pytest plugin: the `crm_mock` fixture hands each test a crm-mock server reset to its seeded world,
as a `mock_server.Client`, so a test steers and checks the mock without managing a process.

Installed with the package (entry point `pytest11`), so it is active wherever crm-mock is installed:

    import pytest
    from closeio_api import API

    @pytest.mark.crm_mock(seed_data=3)          # optional: vendor, seed, seed_data, keys, namespace, snapshot
    def test_lists_what_is_seeded(crm_mock):
        api = API(crm_mock.url("close") + "/", api_key="any-key")
        assert api.get("opportunity")["total_results"] == 3
        crm_mock.verify(operation="listOpportunities", count=1)

Set up once, start every test from it (`crm_mock_session` is session-scoped):

    @pytest.fixture(scope="session", autouse=True)
    def big_world(crm_mock_session):
        mock = crm_mock_session()                # the server tests without options get
        mock.reset(seed_data=500)                # ... or creates through the vendor's API
        mock.save_snapshot("big")

    @pytest.mark.crm_mock(snapshot="big")
    def test_on_the_big_world(crm_mock): ...

Which server a test gets:
- `--crm-mock-url URL` (or `CRM_MOCK_URL`): one started elsewhere (CI, docker), used as it is; give
  `--crm-mock-admin-key` (or `CRM_MOCK_ADMIN_KEY`) if it runs with one. Only the marker's `seed_data`
  applies to it, through the reset; its vendor, seed and keys are the server's own. With
  `--crm-mock-namespace JOB` (or `CRM_MOCK_NAMESPACE`, or the marker's `namespace`) the tests run
  in that namespace: `crm_mock.url(...)` carries it, so parallel CI jobs share one server safely.
- Otherwise the plugin starts `python -m mock_server serve` on a free port the first time a test asks
  for a configuration (vendor, seed, keys), shares it with every later test asking for the same, and
  stops it at session end. Nothing starts unless a test uses the fixture.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests
import yaml

from mock_server.client import Client
from mock_server.store.urls import shown_url

START_TIMEOUT_S = 30
# A developer's shell may hold these for their own server; a server the plugin starts is configured
# by the marker alone, so a test passes or fails the same way on every machine.
SCRUBBED_ENV = ("CRM_MOCK_KEYS", "CRM_MOCK_ADMIN_KEY")
SERVERS_LOG = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class MockConfig:
    """What a test's `@pytest.mark.crm_mock(...)` asks for (the defaults: no marker).

    `keys`: a keys YAML path (relative to the rootdir) or the same content as a dict; with keys the
    server only accepts the listed credentials, and the plugin gives it a generated admin key."""

    vendor: str = "all"
    seed: int = 0
    seed_data: int = 0
    keys: str | os.PathLike[str] | dict[str, Any] | None = None
    namespace: str | None = None  # default: --crm-mock-namespace / CRM_MOCK_NAMESPACE, else none
    snapshot: str | None = None  # each test starts from this named snapshot instead of the seeded world

    def server_key(self) -> tuple[str, int, str | None]:
        """Tests asking for the same key share one server; `seed_data` is applied by each reset."""
        keys = json.dumps(self.keys, sort_keys=True) if isinstance(self.keys, dict) else self.keys
        return self.vendor, self.seed, None if keys is None else str(keys)


@dataclass
class _Started:
    process: subprocess.Popen[bytes]
    client: Client
    stderr: IO[bytes]


class _Servers:
    """The servers of one session: the one given by URL, or one started per distinct configuration."""

    def __init__(self, url: str | None, admin_key: str | None, scratch: Path, log: list[str]) -> None:
        self._existing = Client(url, admin_key) if url else None
        if url:
            log.append(f"used {shown_url(url)} (--crm-mock-url / CRM_MOCK_URL)")
        self._scratch = scratch
        self._log = log
        self._started: dict[tuple[str, int, str | None], _Started] = {}
        self._namespaces: set[str] = set()  # made by this session: dropped at its end (drop_namespaces)
        self._seen: set[str] = set()

    def client_for(self, config: MockConfig, namespace: str | None = None) -> Client:
        if self._existing is not None:
            if namespace and namespace not in self._seen:
                self._seen.add(namespace)
                # Only what this session made is dropped at its end: a namespace someone prepared
                # (a CI step's snapshots, say) stays.
                try:
                    known = {n["name"] for n in self._existing.namespaces()}
                except Exception:  # noqa: BLE001 - unknown: keep it (only its TTL drops it)
                    known = {namespace}
                if namespace not in known:
                    self._namespaces.add(namespace)
            return self._existing.in_namespace(namespace)
        key = config.server_key()
        if key not in self._started:
            self._started[key] = self._start(config)
        return self._started[key].client.in_namespace(namespace)

    def drop_namespaces(self) -> None:
        """The namespaces this session used on a server it did not start: nothing left behind."""
        for name in sorted(self._namespaces):
            try:
                self._existing.drop_namespace(name)  # type: ignore[union-attr]
                self._log.append(f"dropped namespace {name}")
            except Exception as error:  # noqa: BLE001 - a teardown must not fail the session; say why
                self._log.append(f"could not drop namespace {name}: {error}")

    def _start(self, config: MockConfig) -> _Started:
        port = _free_port()
        options = ["--vendor", config.vendor, "--seed", str(config.seed)]
        admin_key = None
        if config.keys is not None:
            admin_key = secrets.token_hex(16)  # --keys locks /__mock/ too; the Client needs the key to reset
            options += ["--keys", self._keys_file(config.keys)]
        command = [sys.executable, "-m", "mock_server", "serve", "--host", "127.0.0.1", "--port", str(port), *options]
        env = {name: value for name, value in os.environ.items() if name not in SCRUBBED_ENV}
        if admin_key:  # in the environment, not the command line, where any local user could read it
            env["CRM_MOCK_ADMIN_KEY"] = admin_key
        stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on a full pipe
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                   env={**env, "PYTHONUNBUFFERED": "1"})
        started = _Started(process, Client(f"http://127.0.0.1:{port}", admin_key), stderr)
        _wait_until_up(started, command)
        self._log.append(f"started {started.client.base_url} (serve {' '.join(options)})")
        return started

    def _keys_file(self, keys: str | os.PathLike[str] | dict[str, Any]) -> str:
        if not isinstance(keys, dict):
            return str(keys)
        path = self._scratch / f"keys-{len(self._started)}.yaml"
        path.write_text(yaml.safe_dump(keys))
        return str(path)

    def stop_all(self) -> None:
        for started in self._started.values():
            # SIGINT is gunicorn's quick stop; SIGTERM waits out its graceful timeout (3 s) whenever a
            # client still holds a keep-alive connection, as the vendors' clients' sessions do.
            started.process.send_signal(signal.SIGINT)
            try:
                started.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                started.process.kill()
                started.process.wait()
            started.stderr.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(started: _Started, command: list[str]) -> None:
    """Poll /__mock/health; if the server exits or stays silent, fail with what it printed."""
    probe = Client(started.client.base_url, timeout=1)
    deadline = time.monotonic() + START_TIMEOUT_S
    while started.process.poll() is None and time.monotonic() < deadline:
        try:
            probe.health()
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()
        why = f"did not answer /__mock/health within {START_TIMEOUT_S} s"
    else:
        why = f"exited with status {started.process.returncode}"
    started.stderr.seek(0)
    output = started.stderr.read().decode(errors="replace")
    started.stderr.close()
    raise RuntimeError(f"crm-mock: `{' '.join(command)}` {why}; its stderr:\n{output}")


def _config_of(request: pytest.FixtureRequest) -> MockConfig:
    marker = request.node.get_closest_marker("crm_mock")
    if marker is None:
        return MockConfig()
    try:
        config = MockConfig(*marker.args, **marker.kwargs)
    except TypeError as error:
        pytest.fail(f"@pytest.mark.crm_mock takes vendor, seed, seed_data, keys, namespace, snapshot: {error}",
                    pytrace=False)
    if config.keys is None or isinstance(config.keys, dict):
        return config
    return dataclasses.replace(config, keys=str(request.config.rootpath / config.keys))


def _namespace_of(request: pytest.FixtureRequest | pytest.Config, config: MockConfig) -> str | None:
    """The marker's namespace, else the session's; under pytest-xdist each worker gets its own
    (`job-123-gw0`), since every test resets its namespace."""
    options = request if isinstance(request, pytest.Config) else request.config
    name = config.namespace or options.getoption("crm_mock_namespace") or os.environ.get("CRM_MOCK_NAMESPACE")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}-{worker}" if name and worker else name


# -- hooks and fixtures ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crm-mock")
    group.addoption("--crm-mock-url", metavar="URL",
                    help="Use the crm-mock server at URL (env CRM_MOCK_URL) instead of starting one.")
    group.addoption("--crm-mock-admin-key", metavar="KEY",
                    help="Admin key of the server given by --crm-mock-url (env CRM_MOCK_ADMIN_KEY).")
    group.addoption("--crm-mock-namespace", metavar="NAME",
                    help="Run every test in this namespace of the server (env CRM_MOCK_NAMESPACE), e.g. the CI "
                         "job id, so jobs sharing one server never see each other's data.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "crm_mock(vendor='all', seed=0, seed_data=0, keys=None, namespace=None, snapshot=None): the "
                   "crm-mock server the crm_mock fixture gives this test (keys: a keys YAML path or dict; namespace: "
                   "its own world; snapshot: start from this named snapshot, see crm_mock_session)")
    config.stash[SERVERS_LOG] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which servers the session used, so a failure can be replayed against the same one."""
    log = config.stash.get(SERVERS_LOG, [])
    if log:
        terminalreporter.write_sep("-", "crm-mock")
        for line in log:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def _crm_mock_servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    config = request.config
    servers = _Servers(config.getoption("crm_mock_url") or os.environ.get("CRM_MOCK_URL"),
                       config.getoption("crm_mock_admin_key") or os.environ.get("CRM_MOCK_ADMIN_KEY"),
                       tmp_path_factory.mktemp("crm-mock"), config.stash[SERVERS_LOG])
    yield servers
    if not request.session.testsfailed:  # after a failure the namespace stays to look at (its TTL drops it)
        servers.drop_namespaces()
    servers.stop_all()


@pytest.fixture
def crm_mock(request: pytest.FixtureRequest, _crm_mock_servers: _Servers) -> Client:
    """A `mock_server.Client` for a crm-mock server reset for this test: the seeded world with the
    marker's `seed_data`, no overrides, an empty journal."""
    config = _config_of(request)
    client = _crm_mock_servers.client_for(config, _namespace_of(request, config))
    if config.snapshot is None:
        client.reset(seed_data=config.seed_data)
    elif config.snapshot not in {s["name"] for s in client.snapshots()}:
        pytest.fail(f"crm-mock has no snapshot {config.snapshot!r} in this namespace: save it first, e.g. from a "
                    f"session fixture: crm_mock_session(...).save_snapshot({config.snapshot!r})", pytrace=False)
    else:
        client.reset(to=config.snapshot)
    return client


@pytest.fixture(scope="session")
def crm_mock_session(request: pytest.FixtureRequest, _crm_mock_servers: _Servers) -> Callable[..., Client]:
    """For set-up a whole session shares: `crm_mock_session(**marker options)` gives the Client of
    the server (and namespace) that tests marked with the same options get, not reset. Build a world
    on it once and keep it with `save_snapshot(NAME)`; tests marked `crm_mock(snapshot=NAME)` start
    from it, each in milliseconds."""

    def client_for(*args: Any, **options: Any) -> Client:
        config = MockConfig(*args, **options)
        if config.keys is not None and not isinstance(config.keys, dict):
            config = dataclasses.replace(config, keys=str(request.config.rootpath / config.keys))
        return _crm_mock_servers.client_for(config, _namespace_of(request.config, config))

    return client_for
