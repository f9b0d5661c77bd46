"""The ReplicaSet controller (pure): keep spec.replicas pods, report their readiness."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.sim import pods
from reconciler.cluster.sim.group import Group
from reconciler.cluster.sim.managed import record_update, status_paths
from reconciler.cluster.sim.store import Row

Obj = dict[str, Any]


def owned_pods(group: Group, owner_uid: str) -> list[Row]:
    return [p for p in group.of("Pod")
            if any(ref.get("uid") == owner_uid for ref in p.obj["metadata"].get("ownerReferences") or ())]


def _deletion_rank(row: Row, now: float, group: Group) -> tuple[int, int, float, int, float]:
    """ActivePods order: the first pods are deleted first (not ready, then the most recently ready,
    more restarts, newer)."""
    settings = group.settings
    phase = 0 if row.obj["status"].get("phase") == "Pending" else 2
    ready = pods.is_ready(row, now, settings)
    since = pods.ready_at(row, settings) or 0.0
    restarts = max((c.get("restartCount", 0) for c in row.obj["status"].get("containerStatuses") or ()), default=0)
    return (phase, int(ready), -since, -restarts, -float(row.sim["created"]))


def sync(group: Group, rs: Row, now: float) -> None:
    """Create or delete pods to match the ReplicaSet's replicas; write its status."""
    obj = rs.obj
    spec = obj["spec"]
    owned = owned_pods(group, rs.uid)
    for pod in owned:
        pods.refresh(pod, now, group.settings)
    want = int(spec.get("replicas", 1))
    if len(owned) > want:
        for pod in sorted(owned, key=lambda p: _deletion_rank(p, now, group))[:len(owned) - want]:
            group.remove(pod)
            owned.remove(pod)
    template = spec.get("template") or {}
    while len(owned) < want:
        serial = int(rs.sim.get("next_pod", 0))
        rs.sim["next_pod"] = serial + 1
        prefix = obj["metadata"]["name"] + "-"
        name = prefix + pods.suffix(f"{rs.uid}/{serial}")
        if ("Pod", name) in group.children:
            continue
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        owned.append(group.add(pods.new_pod(template, name, obj, now, labels, generate_name=prefix)))
    for pod in owned:
        pods.refresh(pod, now, group.settings)
    min_ready = int(spec.get("minReadySeconds") or 0)
    ready = sum(1 for p in owned if pods.is_ready(p, now, group.settings))
    available = sum(1 for p in owned if pods.is_available(p, now, group.settings, min_ready))
    status: Obj = {"replicas": len(owned)}
    if owned:
        status["fullyLabeledReplicas"] = len(owned)
    if ready:
        status["readyReplicas"] = ready
    if available:
        status["availableReplicas"] = available
    status["terminatingReplicas"] = 0
    status["observedGeneration"] = obj["metadata"].get("generation", 1)
    if obj.get("status") != status:
        obj["status"] = status
        record_update(obj, now, status_paths(obj), "status")


def status_count(rs: Row, field: str) -> int:
    return int((rs.obj.get("status") or {}).get(field) or 0)


def spec_replicas(rs: Row) -> int:
    return int(rs.obj["spec"].get("replicas", 1))
