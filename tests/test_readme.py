"""The README's steering section is run, not only shown: its shell examples against `crm-mock serve`
and its pytest example through the plugin, exactly as written (only the port differs)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.test_served_over_http import start

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
STEERING = README[README.index("## Steer it from your tests"):README.index("## Contract checks")]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", STEERING, flags=re.S)


def test_the_steering_shell_examples_work_as_written():
    process, port = start()
    try:
        script = blocks("bash")[0].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count('"id":"ovr_') + out.count('"id": "ovr_') >= 3  # three overrides made
    assert '"hits":0' in out.replace(" ", "") and '"deleted":3' in out.replace(" ", "")
    assert '"ok":false' in out.replace(" ", "") and '"near_misses"' in out  # nothing was created: 409
    assert '"requests":[]' in out.replace(" ", "")


def test_the_pytest_example_passes_through_the_plugin(tmp_path):
    (tmp_path / "test_readme_example.py").write_text(blocks("python")[0], encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
