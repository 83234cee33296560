"""Settings as a file (issue 16): every `serve` option from crm-mock.toml or [tool.crm-mock], flags
and environment variables over it, a bad key or value refused by name, and --print-config."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from mock_server.fixtures import generate
from tests.test_served_over_http import free_port

EVERY_OPTION = {  # every serve option, each away from its default
    "host": "127.0.0.1", "vendor": "close", "store": "sqlite:mock.db", "workers": 1, "server": "gunicorn",
    "keys": "keys.yaml", "seed": 4, "seed-data": 6, "strict": True, "rate-limit": "100/s", "admin-key": "from-file",
    "reproducible-tokens": True, "scenario": "scenario.yaml", "load": ["close:world.json"], "latency": "1ms",
    "error-rate": 0.0, "journal-size": 50, "namespace-ttl": 120,
}


def toml(table: dict) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())


def crm_mock(*args: str, cwd, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_server", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def project(tmp_path):
    (tmp_path / "keys.yaml").write_text("close:\n  - credentials: {ApiKeyAuth: 'api_file:'}\n")
    (tmp_path / "scenario.yaml").write_text("- match: {operation: createOpportunity}\n"
                                            "  respond: {error: server_error, status: 502}\n")
    (tmp_path / "world.json").write_text(json.dumps(generate("close", "all", 3, 4)))
    return tmp_path


def effective(output: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in output.splitlines():
        name, rest = line.split(None, 1)
        value, source = rest.rsplit(None, 1)
        rows[name] = (value, source)
    return rows


def test_every_option_comes_from_crm_mock_toml_and_a_flag_wins(project):
    (project / "crm-mock.toml").write_text(toml({**EVERY_OPTION, "port": 9123}))
    shown = crm_mock("serve", "--print-config", "--seed", "11", cwd=project)
    assert shown.returncode == 0, shown.stderr
    rows = effective(shown.stdout)
    assert rows["seed"] == ("11", "flag")
    for key, value in {**EVERY_OPTION, "port": 9123}.items():
        if key == "seed":
            continue
        assert rows[key][1].endswith("crm-mock.toml"), (key, rows[key])
        if key == "admin-key":
            assert rows[key][0] == "'***'"  # never printed
        elif key in ("keys", "scenario"):
            assert rows[key][0] == repr(str(project / value))  # relative to the file
        elif key == "load":
            assert rows[key][0] == repr([f"close:{project / 'world.json'}"])
        else:
            assert rows[key][0] == repr(value)


def test_the_environment_beats_the_file(project):
    (project / "crm-mock.toml").write_text(toml({"admin-key": "from-file"}))
    rows = effective(crm_mock("serve", "--print-config", cwd=project, env={"CRM_MOCK_ADMIN_KEY": "env"}).stdout)
    assert rows["admin-key"] == ("'***'", "environment")


def test_a_server_started_from_pyproject_toml_runs_with_its_settings(project):
    port = free_port()
    (project / "pyproject.toml").write_text("[project]\nname = 'theirs'\n\n[tool.crm-mock]\n"
                                            + toml({"port": port, "vendor": "close", "seed": 4, "seed-data": 6,
                                                    "load": ["world.json"]}))
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "serve"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock/health", timeout=1) as answer:
                    health = json.loads(answer.read())
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
                time.sleep(0.1)
        assert (health["seed"], health["seed_data"]) == (4, 6)
        world = json.loads((project / "world.json").read_text())
        some = world["opportunity"][1]["id"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/opportunity/{some}/",
                                         headers={"Authorization": "Basic YXBpX2tleTo="})
        with urllib.request.urlopen(request, timeout=5) as answer:  # the file's world was loaded
            assert json.loads(answer.read())["id"] == some
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(("content", "says"), [
    ("sead = 1\n", "crm-mock.toml: sead: unknown key"),
    ('seed-data = "many"\n', "crm-mock.toml: seed-data: 'many' is not a valid integer"),
    ('vendor = "hubspot"\n', "crm-mock.toml: vendor: 'hubspot' is not one of"),
    ('load = "world.json"\n', "crm-mock.toml: load: a list"),
    ('keys = "missing.yaml"\n', "crm-mock.toml: keys:"),
    ("seed = \n", "crm-mock.toml: not TOML"),
])
def test_a_bad_file_stops_the_start_with_status_2_naming_the_key(project, content, says):
    (project / "crm-mock.toml").write_text(content)
    started = crm_mock("serve", "--port", str(free_port()), cwd=project)
    assert started.returncode == 2 and says in started.stderr, started.stderr


def test_config_names_another_file_and_version_prints_the_version(project):
    (project / "elsewhere.toml").write_text(toml({"seed": 9}))
    rows = effective(crm_mock("--config", "elsewhere.toml", "serve", "--print-config", cwd=project).stdout)
    assert rows["seed"] == ("9", "elsewhere.toml")
    version = crm_mock("--version", cwd=project)
    assert version.returncode == 0 and version.stdout.startswith("crm-mock, version ")
