"""`reconciler plan` and `apply` driven as a user would, on the simulated cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.cluster.sim.backend import SimCluster
from reconciler.reconcile.observe import LISTED_KINDS
from tests.conftest import deployments_json, write_tree
from tests.support.rollout import rollout

SHA1, SHA2 = "1" * 40, "2" * 40
INSTANCES = [f"i{n:02d}" for n in range(1, 13)]


def soa(root: Path, sha: str) -> None:
    write_tree(root, {
        "fleet/service.yaml": "description: twelve instances\n",
        "fleet/kubernetes-local.yaml": "".join(f"{i}: {{instances: 1, deploy_group: prod}}\n" for i in INSTANCES),
        "fleet/deployments.json": deployments_json("fleet", {"prod": sha}),
    })


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "soa"
    soa(root, SHA1)
    state = tmp_path / "local.sqlite"
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"""
soa_configs: {{path: {root}}}
clusters:
  local:
    sim: {{state: {state}, pod_ready_seconds: 0.2}}
    docker_registry: registry.example.com
    rollout: {{max_concurrent_bounces: 2}}
    prune: true
state_dir: {tmp_path / 'state'}
""")
    return config, root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)


def wait_complete(state: Path) -> None:
    sim = SimCluster("local", state)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            statuses = [rollout(sim, "Deployment", f"fleet-{i}", "paastasvc-fleet") for i in INSTANCES]
            if all(s.complete for s in statuses):
                return
            time.sleep(0.1)
        pytest.fail("rollouts did not complete")
    finally:
        sim.close()


def test_first_apply_creates_and_the_second_writes_nothing(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    config, _ = setup
    code, doc = run(capsys, "plan", "--config", str(config), "-o", "json")
    assert code == 1 and doc["summary"]["create"] == 1 + 12 * 2 and doc["dry_run"] is True
    assert doc["requests"]["writes"] == 0
    code, doc = run(capsys, "apply", "--config", str(config), "-o", "json")
    assert code == 0 and doc["summary"]["create"] == 25 and doc["dry_run"] is False
    assert doc["requests"]["writes"] == 25
    code, doc = run(capsys, "apply", "--config", str(config), "-o", "json")
    assert code == 0 and doc["summary"]["noop"] == 25 and doc["requests"]["writes"] == 0
    # one LIST per kind, plus the pods of each rollout still under way
    assert len(LISTED_KINDS) <= doc["requests"]["reads"] <= len(LISTED_KINDS) + 12
    wait_complete(config.parent / "local.sqlite")
    code, doc = run(capsys, "apply", "--config", str(config), "-o", "json")
    assert code == 0 and doc["summary"]["noop"] == 25
    assert doc["requests"] == {"reads": len(LISTED_KINDS), "writes": 0, "dry_runs": 0}  # one LIST per kind
    code, doc = run(capsys, "plan", "--config", str(config), "-o", "json")
    assert code == 0


def test_registry_change_across_twelve_instances_starts_two_bounces(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    config, root = setup
    run(capsys, "apply", "--config", str(config), "-o", "json")
    wait_complete(config.parent / "local.sqlite")
    soa(root, SHA2)  # a new sha for the deploy group of all twelve
    code, doc = run(capsys, "apply", "--config", str(config), "-o", "json")
    assert code == 0
    assert doc["summary"]["update"] == 2 and doc["summary"]["wait"] == 10
    waits = [a for a in doc["actions"] if a["action"] == "wait"]
    assert all("max_concurrent_bounces 2" in a["reason"] for a in waits)
    sim = SimCluster("local", config.parent / "local.sqlite")
    try:
        images = [sim.get("Deployment", f"fleet-{i}", "paastasvc-fleet")["spec"]["template"]["spec"]["containers"][0]["image"]
                  for i in INSTANCES]
        annotations = [sim.get("Deployment", f"fleet-{i}", "paastasvc-fleet")["metadata"].get("annotations", {})
                       for i in INSTANCES]
    finally:
        sim.close()
    assert sum(image.endswith(SHA2) for image in images) == 2
    assert sum("paasta.yelp.com/bounce-started-at" in a for a in annotations) == 2


def test_apply_dry_run_writes_nothing(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    config, _ = setup
    code, doc = run(capsys, "apply", "--config", str(config), "--dry-run", "-o", "json")
    assert code == 1 and doc["dry_run"] is True and doc["requests"]["writes"] == 0
    code, doc = run(capsys, "plan", "--config", str(config), "-o", "json")
    assert doc["summary"]["create"] == 25


def test_removed_instance_is_pruned_and_table_output(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    config, root = setup
    run(capsys, "apply", "--config", str(config), "-o", "json")
    (root / "fleet/kubernetes-local.yaml").write_text(
        "".join(f"{i}: {{instances: 1, deploy_group: prod}}\n" for i in INSTANCES[:-1]))
    assert main(["plan", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "delete  Deployment" in out and "no longer in git" in out
    code, doc = run(capsys, "apply", "--config", str(config), "-o", "json")
    assert code == 0 and doc["summary"]["delete"] == 2 and doc["prune"]["refused"] is False


def test_unknown_cluster_is_a_usage_error(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    config, _ = setup
    assert main(["plan", "--config", str(config), "--cluster", "nope"]) == 2


def test_apply_refuses_a_cluster_a_running_daemon_holds(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    from reconciler.daemon.leader import FileLockElector

    config, _ = setup
    daemon = FileLockElector(config.parent / "state" / "locks" / "local.lock")
    daemon.renew()  # a daemon holds the simulated cluster
    try:
        assert main(["apply", "--config", str(config), "-o", "json"]) == 2
        captured = capsys.readouterr()
        assert "a running reconciler holds its lease" in captured.err and "--force" in captured.err
        code, doc = run(capsys, "apply", "--config", str(config), "--dry-run", "-o", "json")
        assert code == 1 and doc["requests"]["writes"] == 0  # a dry run exits like plan
        code, doc = run(capsys, "apply", "--config", str(config), "--force", "-o", "json")
        assert code == 0 and doc["summary"]["create"] == 25
    finally:
        daemon.release()
