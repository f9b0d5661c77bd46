"""Exit codes and messages a user sees when asking for the wrong thing, or for a plan that
cannot be carried out in full (reconciler.md section 7)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.cli.test_plan_apply import SHA1, soa
from tests.conftest import REPO, deployments_json, write_tree


@pytest.fixture
def config(tmp_path: Path) -> Path:
    soa(tmp_path / "soa", SHA1)
    path = tmp_path / "reconciler.yaml"
    path.write_text(f"""
soa_configs: {{path: {tmp_path / 'soa'}}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}, pod_ready_seconds: 0.1}}
    prune: true
    max_prune_fraction: 0.1
state_dir: {tmp_path / 'state'}
""")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unknown_names_are_usage_errors_with_a_hint(config: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "render", "--soa-dir", str(tmp_path / "soa"), "--cluster", "nocluster", "--all")
    assert code == 2 and "no such cluster" in err and "'nocluster'" in err
    code, _, err = cli(capsys, "render", "--soa-dir", str(tmp_path / "soa"), "--cluster", "locall", "--all")
    assert code == 2 and "did you mean 'local'?" in err
    code, _, err = cli(capsys, "drift", "--config", str(config), "--service", "flet")
    assert code == 2 and "no such service" in err and "did you mean 'fleet'?" in err
    code, _, err = cli(capsys, "plan", "--config", str(config), "--cluster", "nowhere")
    assert code == 2 and "no such cluster" in err
    code, _, err = cli(capsys, "status", "nosuch", "--config", str(config))
    assert code == 2 and "no such service" in err


def test_plan_and_a_dry_run_print_the_same_plan_and_exit_alike(config: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, plan_out, _ = cli(capsys, "plan", "--config", str(config), "-o", "json")
    dry_code, dry_out, _ = cli(capsys, "apply", "--dry-run", "--config", str(config), "-o", "json")
    plan_doc, dry_doc = json.loads(plan_out), json.loads(dry_out)
    assert code == dry_code == 1
    assert plan_doc["actions"] == dry_doc["actions"] and plan_doc["summary"] == dry_doc["summary"]
    assert cli(capsys, "apply", "--config", str(config))[0] == 0
    assert cli(capsys, "plan", "--config", str(config))[0] == 0
    assert cli(capsys, "apply", "--dry-run", "--config", str(config))[0] == 0


def test_a_refused_prune_and_an_invalid_instance_are_differences(config: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "apply", "--config", str(config))[0] == 0
    # half of the fleet leaves git: over max_prune_fraction 0.1, refused
    text = (tmp_path / "soa/fleet/kubernetes-local.yaml").read_text().splitlines(keepends=True)
    (tmp_path / "soa/fleet/kubernetes-local.yaml").write_text("".join(text[:6]))
    code, out, _ = cli(capsys, "plan", "--config", str(config), "-o", "json")
    doc = json.loads(out)
    assert doc["prune"]["refused"] and doc["summary"]["delete"] == 0
    assert code == 1
    code, out, _ = cli(capsys, "plan", "--config", str(config))
    assert code == 1 and "prune: 12 objects no longer in git, refused" in out

    write_tree(tmp_path / "soa", {"broken/kubernetes-local.yaml": "main: {instances: -1}\n",
                                  "broken/deployments.json": deployments_json("broken", {"local.main": SHA1}),
                                  "fleet/kubernetes-local.yaml": "".join(text)})
    code, out, _ = cli(capsys, "plan", "--config", str(config), "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"]["create"] == 0 and not doc["prune"]["candidates"]
    assert [(i["service"], i["instance"]) for i in doc["invalid"]] == [("broken", "main")]
    assert "instances" in doc["invalid"][0]["error"]
    code, out, _ = cli(capsys, "plan", "--config", str(config))
    assert code == 1 and "invalid" in out and "broken.main" in out


def test_run_on_a_busy_port_is_one_line(config: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "reconciler.cli.main", "run", "--config", str(config),
                               "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and f"127.0.0.1:{port}" in proc.stderr and "in use" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("reconciler:")]) == 1
