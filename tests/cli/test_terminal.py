"""Tables fit $COLUMNS and colour statuses on a terminal, never with NO_COLOR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SHA, deployments_json, write_tree

LONG = "a-very-long-instance-name-that-needs-room"


def drift(tmp_path: Path, **env: str) -> str:
    write_tree(tmp_path / "soa", {"web/service.yaml": "description: web\n",
                                  "web/kubernetes-local.yaml": f"{LONG}: {{instances: 1}}\n",
                                  "web/deployments.json": deployments_json("web", {f"local.{LONG}": SHA})})
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"soa_configs: {{path: {tmp_path / 'soa'}}}\nclusters:\n  local:\n"
                      f"    sim: {{state: {tmp_path / 'local.sqlite'}}}\nstate_dir: {tmp_path / 'state'}\n")
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "FORCE_COLOR")}
    out = subprocess.run([sys.executable, "-m", "reconciler.cli.main", "drift", "--config", str(config)],
                         capture_output=True, text=True, cwd=REPO, env={**base, **env}, timeout=120)
    return out.stdout


def test_columns_and_colour(tmp_path: Path) -> None:
    narrow = drift(tmp_path)
    assert max(map(len, narrow.splitlines())) <= 80 and "\x1b[" not in narrow
    wide = drift(tmp_path, COLUMNS="220")
    assert any(len(line) > 80 for line in wide.splitlines()) and f"web.{LONG}" in wide
    coloured = drift(tmp_path, FORCE_COLOR="1", COLUMNS="220")
    assert "\x1b[" in coloured and "Missing" in coloured
    plain = drift(tmp_path, FORCE_COLOR="1", NO_COLOR="1", COLUMNS="220")
    assert "\x1b[3" not in plain and "\x1b[9" not in plain  # no colour codes (bold may remain)
