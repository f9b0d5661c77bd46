"""The disruption controller: a PodDisruptionBudget's status from the pods it selects."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.sim.clock import rfc3339
from reconciler.cluster.sim.deployments import scaled_value
from reconciler.cluster.sim.store import Row, Txn
from reconciler.cluster.sim.validation import _selector_matches

Obj = dict[str, Any]


def _healthy(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def sync(txn: Txn, pdb: Row, now: float) -> None:
    spec = pdb.obj["spec"]
    selector = spec.get("selector") or {}
    pods = [r.obj for r in txn.rows("Pod", pdb.namespace)
            if selector and _selector_matches(selector, r.obj["metadata"].get("labels") or {})]
    expected = _expected(txn, pdb.namespace, pods)
    healthy = sum(1 for p in pods if _healthy(p))
    if "maxUnavailable" in spec:
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
    elif "minAvailable" in spec:
        desired = scaled_value(spec["minAvailable"], expected, True)
    else:
        desired = 0
    allowed = max(0, healthy - desired) if expected else 0
    generation = pdb.obj["metadata"].get("generation", 1)
    old = pdb.obj.get("status") or {}
    previous = next((c for c in old.get("conditions") or () if c.get("type") == "DisruptionAllowed"), None)
    value = "True" if allowed > 0 else "False"
    when = previous["lastTransitionTime"] if previous and previous.get("status") == value else rfc3339(now)
    pdb.obj["status"] = {
        "observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": healthy,
        "desiredHealthy": desired, "expectedPods": expected,
        "conditions": [{"type": "DisruptionAllowed", "status": value, "observedGeneration": generation,
                        "lastTransitionTime": when, "reason": "SufficientPods" if allowed else "InsufficientPods",
                        "message": ""}],
    }
    pdb.next_event_at = None


def _expected(txn: Txn, namespace: str, pods: list[Obj]) -> int:
    """The scale of the controllers of the selected pods (the disruption controller's expectedCount)."""
    total = 0
    seen: set[str] = set()
    for pod in pods:
        for ref in pod["metadata"].get("ownerReferences") or ():
            if not ref.get("controller") or ref.get("uid") in seen:
                continue
            seen.add(ref["uid"])
            owner = txn.get(ref["kind"], namespace, ref["name"])
            if owner is None:
                continue
            if ref["kind"] == "ReplicaSet":
                parent = next((r for r in owner.obj["metadata"].get("ownerReferences") or () if r.get("controller")),
                              None)
                if parent is not None:
                    if parent["uid"] in seen:
                        continue
                    seen.add(parent["uid"])
                    found = txn.get(parent["kind"], namespace, parent["name"])
                    owner = found or owner
            total += int(owner.obj["spec"].get("replicas", 1))
    return total
