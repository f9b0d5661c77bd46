"""`reconciler sim`: what is inside a simulated cluster, read from its state file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.cluster.sim.backend import SimCluster
from tests.contract.conftest import deployment
from tests.support.rollout import rollout


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "local.sqlite"
    cluster = SimCluster("local", path, pod_ready_seconds=0.05)
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    cluster.apply(deployment("web", "apps", replicas=2))
    cluster.apply(deployment("bad", "apps", replicas=1, image="registry.example.com/app:crashloop"))
    deadline = time.monotonic() + 10
    while not rollout(cluster, "Deployment", "web", "apps").complete and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_deployments_as_a_table(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sim", "list", "Deployment", "--state", str(state))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["web"][:5] == ["apps", "web", "2/2", "2", "2"]
    assert rows["bad"][2] == "0/1"


def test_pods_show_crashloop(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sim", "list", "Pod", "-n", "apps", "-l", "app.example.com/name=bad",
                       "--state", str(state))
    assert code == 0 and "CrashLoopBackOff" in out


def test_get_as_json_and_through_a_config(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"clusters:\n  local:\n    sim: {{state: {state}}}\n")
    code, out, _ = run(capsys, "sim", "get", "Deployment", "web", "-n", "apps", "--config", str(config),
                       "-o", "json")
    assert code == 0 and json.loads(out)["metadata"]["name"] == "web"


@pytest.mark.parametrize("argv, needle", [
    (["sim", "list", "Widget", "--state", "x"], "unknown kind"),
    (["sim", "get", "Deployment", "--state", "x"], "get takes a NAME"),
    (["sim", "list", "Deployment"], "needs --config"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err


def test_missing_object_is_exit_1(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sim", "get", "Deployment", "nope", "-n", "apps", "--state", str(state))
    assert code == 1 and "nope" in err
