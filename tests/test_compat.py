"""The compatibility promise: PaaSTA 1.64.0's own renderings must match ours (compare.py, 100%)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.conftest import REPO, shared_dir

CORPORA = [
    pytest.param(lambda: shared_dir() and shared_dir() / "compat", id="shared"),
    pytest.param(lambda: shared_dir() and shared_dir() / "compat" / "full", id="shared-full"),
    pytest.param(lambda: REPO / "fixtures" / "compat-extra", id="compat-extra"),
]


def compare_script() -> Path:
    shared = shared_dir()
    if shared is None:
        if os.environ.get("RECONCILER_REQUIRE_SHARED"):
            pytest.fail("the shared/ folder with compat/compare.py is required here")
        pytest.skip("shared/ is not beside this checkout (set RECONCILER_SHARED_DIR)")
    return shared / "compat" / "compare.py"


@pytest.mark.parametrize("corpus", CORPORA)
def test_compare_py_reports_100_percent(corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = compare_script()
    base = corpus()
    if not base or not (base / "expected.jsonl").exists():
        pytest.skip(f"no corpus at {base}")
    clusters = sorted({json.loads(line)["cluster"] for line in (base / "expected.jsonl").read_text().splitlines()
                       if line.strip()})
    ours = tmp_path / "ours.jsonl"
    with ours.open("w") as out:
        for cluster in clusters:
            main(["render", "--soa-dir", str(base / "soa-configs"), "--cluster", cluster, "--all",
                  "-o", "jsonl", "--docker-registry", "registry.example.com"])
            out.write(capsys.readouterr().out)
    proc = subprocess.run([sys.executable, str(script), str(base / "expected.jsonl"), str(ours), "--show", "50"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "compat 100.0%" in proc.stdout
