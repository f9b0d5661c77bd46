"""`reconciler wait`: Synced at a sha (exit 0), a crash loop (exit 1), a timeout (exit 3), on
the embedded cluster, reading the clusters directly (it never writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.conftest import deployments_json, write_tree

SHA = "a" * 40


@pytest.fixture
def config(tmp_path: Path) -> Path:
    write_tree(tmp_path / "soa", {
        "web/service.yaml": "description: web\n",
        "web/kubernetes-local.yaml": "main: {instances: 2}\ncanary: {instances: 1}\n",
        "web/deployments.json": deployments_json("web", {"local.main": SHA, "local.canary": SHA}),
    })
    path = tmp_path / "reconciler.yaml"
    path.write_text(f"""
soa_configs: {{path: {tmp_path / 'soa'}}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}, pod_ready_seconds: 0.3}}
state_dir: {tmp_path / 'state'}
""")
    return path


def test_wait_until_synced_at_the_sha(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "--config", str(config), "-o", "json"]) == 0
    capsys.readouterr()
    code = main(["wait", "web.main", "--config", str(config), "--sha", SHA[:8], "--timeout", "60s",
                 "--interval", "0.2s"])
    out = capsys.readouterr()
    assert code == 0 and f"1 instance(s) Synced at {SHA[:8]}" in out.out
    assert "waiting: web.main@local" in out.err  # progress while the pods start
    assert main(["wait", "web", "--config", str(config), "--timeout", "30s", "--interval", "0.2s"]) == 0
    assert "2 instance(s) Synced" in capsys.readouterr().out
    before = json.loads(_drift(config, capsys))
    assert main(["wait", "web", "--config", str(config), "--sha", "b" * 8, "--timeout", "1s",
                 "--interval", "0.2s"]) == 3
    assert "timed out after 1s" in capsys.readouterr().out
    assert json.loads(_drift(config, capsys))["instances"] == before["instances"]  # nothing written


def test_a_crash_loop_ends_the_wait_with_exit_1(config: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text(config.read_text().replace("    sim:", "    docker_registry: crashloop.example.com\n    sim:"))
    assert main(["apply", "--config", str(config), "-o", "json"]) in (0, 1)
    capsys.readouterr()
    code = main(["wait", "web.canary", "--config", str(config), "--timeout", "60s", "--interval", "0.3s"])
    out = capsys.readouterr().out
    assert code == 1 and "web.canary on local: Degraded" in out, out


def _drift(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    main(["drift", "--config", str(config), "-o", "json"])
    return capsys.readouterr().out
