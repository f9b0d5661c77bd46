"""The real `kubectl set env` (an Update by manager kubectl-set) against the real API server:
reported as drift by merge-key path, healed in one cycle, kubectl's ownership gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cluster.kube.backend import KubeCluster
from tests.support.controlplane import ControlPlane
from tests.support.fleet import CLUSTER, GOOD, Fleet

pytestmark = pytest.mark.kube


@pytest.fixture
def fleet(kube_controlplane: ControlPlane, tmp_path: Path) -> Iterator[Fleet]:
    cluster = KubeCluster.from_kubeconfig("kube", str(kube_controlplane.kubeconfig))
    made = Fleet(cluster, tmp_path / "soa")
    yield made
    made.cleanup()
    cluster.close()


def test_kubectl_set_env_is_drift_and_is_healed(kube_controlplane: ControlPlane, fleet: Fleet) -> None:
    f = fleet
    f.write("a: {instances: 1}\n", {f"{CLUSTER}.a": GOOD})
    f.cycle()
    f.settled()
    kube_controlplane.kubectl("set", "env", f"deployment/{f.service}-a", "-n", f.namespace, "DEBUG=1")
    live = f.workload("a")
    assert any(e["manager"] == "kubectl-set" and e["operation"] == "Update" for e in live["metadata"]["managedFields"])

    healing = f.cycle()
    (update,) = [a for a in healing.plan.actions if a.action == "update"]
    assert [d.path for d in update.differences] == ["spec.template.spec.containers[a].env[DEBUG]"]
    env = f.workload("a")["spec"]["template"]["spec"]["containers"][0].get("env", [])
    assert "DEBUG" not in [e["name"] for e in env]
    fields = f.workload("a")["metadata"]["managedFields"]
    assert "kubectl-set" not in {e["manager"] for e in fields} and "DEBUG" not in json.dumps(fields)
    assert not [a for a in f.settled().plan.actions if a.action != "noop"]
