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
    (["sim", "list", "Deployment", "--config", "/nonexistent/reconciler.yaml"], "cannot read"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err


def test_missing_object_is_exit_1(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sim", "get", "Deployment", "nope", "-n", "apps", "--state", str(state))
    assert code == 1 and "nope" in err


def test_get_without_a_name_lists_and_kubectl_kind_names_work(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("deploy", "deployments", "Deployment"):
        code, out, _ = run(capsys, "sim", "get", kind, "-n", "apps", "--state", str(state), "-o", "json")
        assert code == 0 and sorted(o["metadata"]["name"] for o in json.loads(out)) == ["bad", "web"]
    code, out, _ = run(capsys, "sim", "get", "deploy", "web", "-n", "apps", "--state", str(state), "-o", "yaml")
    assert code == 0 and "name: web" in out and out.startswith("apiVersion: apps/v1")


def test_apply_a_hand_edit_and_delete_like_kubectl(state: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    edit = tmp_path / "edit.yaml"
    edit.write_text("""apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  template:
    spec:
      containers:
      - name: main
        env: [{name: DEBUG, value: "1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: seeded, namespace: apps}
data: {a: b}
""")
    code, out, _ = run(capsys, "sim", "apply", "-f", str(edit), "--field-manager", "kubectl-set", "--state", str(state))
    assert code == 0 and out.splitlines() == ["deployment/web serverside-applied", "configmap/seeded serverside-applied"]
    code, out, _ = run(capsys, "sim", "get", "deploy", "web", "-n", "apps", "--state", str(state), "-o", "json")
    web = json.loads(out)
    assert {"name": "DEBUG", "value": "1"} in web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "kubectl-set" in {e["manager"] for e in web["metadata"]["managedFields"]}
    code, out, _ = run(capsys, "sim", "delete", "cm", "seeded", "-n", "apps", "--state", str(state))
    assert code == 0 and out.strip() == 'configmap "seeded" deleted'
    assert run(capsys, "sim", "get", "cm", "seeded", "-n", "apps", "--state", str(state))[0] == 1
    code, _, err = run(capsys, "sim", "apply", "-f", str(tmp_path / "missing.yaml"), "--state", str(state))
    assert code == 2 and "cannot read" in err
