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
