"""`reconciler drift` and `reconciler status`, read directly from git and the simulated cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.main import main
from reconciler.cluster.sim.backend import SimCluster
from tests.cli.test_plan_apply import INSTANCES, SHA1, SHA2, soa, wait_complete


@pytest.fixture
def config(tmp_path: Path) -> Path:
    soa(tmp_path / "soa", SHA1)
    path = tmp_path / "reconciler.yaml"
    path.write_text(f"""
soa_configs: {{path: {tmp_path / 'soa'}}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}, pod_ready_seconds: 0.1}}
    rollout: {{max_concurrent_bounces: 2}}
state_dir: {tmp_path / 'state'}
""")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    out: Any = captured.out
    if "json" in argv:
        out = json.loads(out)
    return code, out, captured.err


def test_drift_after_apply_is_all_synced_in_every_format(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = cli(capsys, "drift", "--config", str(config), "-o", "json")
    assert code == 1 and {r["status"] for r in doc["instances"]} == {"Missing"}
    assert main(["apply", "--config", str(config), "-o", "json"]) == 0
    capsys.readouterr()
    wait_complete(config.parent / "local.sqlite")
    code, doc, _ = cli(capsys, "drift", "--config", str(config), "-o", "json")
    assert code == 0 and len(doc["instances"]) == 12
    row = doc["instances"][0]
    assert row["status"] == "Synced" and row["live"]["git_sha"] == SHA1 and row["since"]
    assert set(doc) == {"generated_at", "source", "clusters", "instances"}
    assert doc["clusters"]["local"] == {"reachable": True, "error": None}
    code, table, _ = cli(capsys, "drift", "--config", str(config))
    lines = table.splitlines()
    assert code == 0 and lines[0] == "local: Synced 12" and all(len(line) <= 80 for line in lines), table
    assert any("fleet.i01" in line and "Synced" in line for line in lines)
    code, text, _ = cli(capsys, "drift", "--config", str(config), "-o", "markdown")
    assert code == 0 and "| cluster | instance | status |" in text and "| local | fleet.i01 | Synced |" in text


def test_drift_shows_what_git_asks_and_what_someone_edited(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["apply", "--config", str(config), "-o", "json"])
    wait_complete(config.parent / "local.sqlite")
    soa(config.parent / "soa", SHA2)
    capsys.readouterr()
    code, doc, _ = cli(capsys, "drift", "--config", str(config), "-o", "json")
    assert code == 1
    rows = {r["instance"]: r for r in doc["instances"]}
    statuses = [r["status"] for r in rows.values()]
    assert statuses.count("OutOfSync") == 2 and statuses.count("Waiting") == 10  # max_concurrent_bounces 2
    assert "max_concurrent_bounces" in next(r for r in rows.values() if r["status"] == "Waiting")["message"]
    i01 = rows["i01"]
    assert i01["desired"]["git_sha"] == SHA2 and i01["live"]["git_sha"] == SHA1
    assert any(d["path"] == "spec.template.spec.containers[i01].image" and d["desired"].endswith(SHA2)
               for d in i01["differences"])
    assert doc["instances"][0]["status"] != "Synced"  # bad rows first
    code, table, _ = cli(capsys, "drift", "--config", str(config), "--service", "fleet")
    assert code == 1 and "OutOfSync" in table and all(len(line) <= 80 for line in table.splitlines())

    soa(config.parent / "soa", SHA1)  # back to what runs; then someone edits i01 by hand
    sim = SimCluster("local", config.parent / "local.sqlite")
    try:
        live = sim.get("Deployment", "fleet-i01", "paastasvc-fleet")
        container = live["spec"]["template"]["spec"]["containers"][0]
        sim.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "fleet-i01", "namespace": "paastasvc-fleet"},
                   "spec": {"template": {"spec": {"containers": [{"name": container["name"], "image": "edited:1"}]}}}},
                  field_manager="kubectl-edit")
    finally:
        sim.close()
    wait_complete(config.parent / "local.sqlite")  # the edit rolled the pods
    code, doc, _ = cli(capsys, "drift", "--config", str(config), "-o", "json")
    rows = {r["instance"]: r for r in doc["instances"]}
    assert code == 1 and rows["i01"]["status"] == "Drifted" and rows["i01"]["since"]
    assert rows["i01"]["differences"][0]["live"] == "edited:1"
    assert {r["status"] for k, r in rows.items() if k != "i01"} == {"Synced"}


def test_status_of_a_service(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["apply", "--config", str(config), "-o", "json"])
    wait_complete(config.parent / "local.sqlite")
    capsys.readouterr()
    code, doc, _ = cli(capsys, "status", "fleet", "--config", str(config), "-o", "json")
    assert code == 0 and len(doc["instances"]) == len(INSTANCES)
    one = doc["instances"][0]
    assert one["desired_state"] == "start" and one["replicas"] == {"desired": 1, "live": 1, "ready": 1}
    assert one["versions"] == {"new": SHA1, "pods": {SHA1: 1}, "old": []}
    code, table, _ = cli(capsys, "status", "fleet", "--config", str(config))
    assert code == 0 and "new 11111111: 1" in table and all(len(line) <= 80 for line in table.splitlines())
    assert main(["status", "nope", "--config", str(config)]) == 2


def test_usage_and_unreachable_clusters(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", "--config", str(config), "--server", "http://127.0.0.1:1"]) == 2  # one of them
    assert "not both" in capsys.readouterr().err
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
current-context: gone
""")
    text = config.read_text().replace("state_dir:", f"  gone:\n    kubeconfig: {kubeconfig}\nstate_dir:")
    config.write_text(text)
    capsys.readouterr()
    code, doc, err = cli(capsys, "drift", "--config", str(config), "-o", "json")
    assert code == 2 and doc["clusters"]["gone"]["reachable"] is False and "cluster gone:" in err
    assert doc["clusters"]["local"]["reachable"] is True and doc["instances"]  # the other cluster is reported
