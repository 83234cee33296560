"""The wheel is the product: built from this checkout, installed into a fresh virtual environment
outside it, it serves the specs it carries."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from tests.test_served_over_http import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_specs_and_serves_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("crm_mock-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mock_server/py.typed" in names  # the public API's types reach users' type checkers
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), [n for n in names if "dist-info" in n]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "Requires-Dist: rfc3339-validator" in metadata
    openapi_core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: openapi-core")]
    assert openapi_core and all('extra == "dev"' in line for line in openapi_core)  # the tests' oracle only
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    # Dependencies come from this test run's environment (no network in CI); the package itself only
    # from the wheel: the checkout is neither on the path nor the working directory.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps-of-the-test-run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    port = free_port()
    server = subprocess.Popen([str(venv / "bin" / "crm-mock"), "serve", "--vendor", "close", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        where = subprocess.run([str(python), "-c", "import mock_server.spec as s; print(s.SPECS_DIR)"], cwd=tmp_path,
                               check=True, capture_output=True, text=True).stdout.strip()
        assert where.startswith(site), where
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/status/opportunity/",
                                                 headers={"Authorization": "Bearer anything"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the installed crm-mock did not answer"
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_memory_store_works_where_fcntl_does_not_exist():
    """Windows has no fcntl: `import mock_server` and a memory-store app must not need it."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"  # `import fcntl` now raises ImportError, as on Windows
        "from mock_server import create_app\n"
        "client = create_app('close').test_client()\n"
        "answer = client.post('/api/v1/opportunity/', json={'note': 'x'}, headers={'Authorization': 'Basic YTo='})\n"
        "assert answer.status_code == 200, answer.get_json()\n"
        "try:\n    create_app('close', store='sqlite:' + sys.argv[1])\nexcept ImportError:\n    print('sqlite needs fcntl')\n"
    )
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        ran = subprocess.run([sys.executable, "-c", code, os.path.join(scratch, "s.db")], capture_output=True,
                             text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "sqlite needs fcntl"  # only the store that uses it


def test_python_dash_m_mock_server_is_the_crm_mock_command():
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-m", "mock_server", "--help"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "serve" in ran.stdout and "fixtures" in ran.stdout
