"""HPAs keep their target within bounds (through the scale subresource); PDBs report healthy pods."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.protocol import INITIAL_REPLICAS_MANAGER
from reconciler.cluster.sim import ManualClock, SimCluster
from tests.cluster.sim.conftest import deployment


def hpa(minimum: int = 2, maximum: int = 5, target: str = "web") -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": "ns"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": minimum, "maxReplicas": maximum}}


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], bool]:
    return {(m["manager"], m.get("subresource", "")): '"f:replicas"' in str(m["fieldsV1"]).replace("'", '"')
            for m in obj["metadata"]["managedFields"]}


def test_hpa_raises_replicas_to_its_minimum(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=None))
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
                   "spec": {"replicas": 1}}, field_manager=INITIAL_REPLICAS_MANAGER)
    cluster.apply(hpa(minimum=3))
    live = cluster.get("Deployment", "web", "ns")
    assert live["spec"]["replicas"] == 3
    scale = owners(live)
    assert scale[("kube-controller-manager", "scale")] is True
    assert scale.get((INITIAL_REPLICAS_MANAGER, "")) is None  # its only field went to the scale manager
    status = cluster.get("HorizontalPodAutoscaler", "web", "ns")["status"]
    assert status["desiredReplicas"] == 3 and "lastScaleTime" in status
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons["AbleToScale"] == "SucceededRescale"
    assert reasons["ScalingActive"] == "FailedGetResourceMetric"
    clock.advance(16)
    status = cluster.get("HorizontalPodAutoscaler", "web", "ns")["status"]
    assert status["currentReplicas"] == 3


def test_unowned_replicas_get_no_scale_entry(cluster: SimCluster) -> None:
    cluster.apply(deployment(replicas=None))
    cluster.apply(hpa(minimum=2))
    live = cluster.get("Deployment", "web", "ns")
    assert live["spec"]["replicas"] == 2
    assert ("kube-controller-manager", "scale") not in owners(live)  # as the real server records it


def test_hpa_lowers_replicas_to_its_maximum_and_ignores_zero(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=9))
    cluster.apply(hpa(maximum=4))
    assert cluster.get("Deployment", "web", "ns")["spec"]["replicas"] == 4
    cluster.apply(deployment(replicas=6))  # the HPA corrects it at its next sync, every 15 s
    assert cluster.get("Deployment", "web", "ns")["spec"]["replicas"] == 6
    clock.advance(15)
    assert cluster.get("Deployment", "web", "ns")["spec"]["replicas"] == 4
    cluster.apply(deployment(replicas=0))
    clock.advance(15)
    assert cluster.get("Deployment", "web", "ns")["spec"]["replicas"] == 0
    reasons = {c["type"]: c["reason"] for c in cluster.get("HorizontalPodAutoscaler", "web", "ns")["status"]["conditions"]}
    assert reasons["ScalingActive"] == "ScalingDisabled"


def test_hpa_without_target(cluster: SimCluster) -> None:
    cluster.apply(hpa(target="nothing"))
    status = cluster.get("HorizontalPodAutoscaler", "nothing", "ns")["status"]
    assert status["conditions"][0]["reason"] == "FailedGetScale"
    assert 'deployments.apps "nothing" not found' in status["conditions"][0]["message"]


def test_pdb_status_follows_pods(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=3))
    cluster.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "ns"},
                   "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    status = cluster.get("PodDisruptionBudget", "web", "ns")["status"]
    assert (status["expectedPods"], status["currentHealthy"], status["disruptionsAllowed"]) == (3, 0, 0)
    clock.advance(1)
    status = cluster.get("PodDisruptionBudget", "web", "ns")["status"]
    assert (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"],
            status["disruptionsAllowed"]) == (3, 3, 2, 1)
    assert status["conditions"][0]["reason"] == "SufficientPods"
