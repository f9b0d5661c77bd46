"""The HorizontalPodAutoscaler controller, as far as the simulated cluster has metrics (none): it
keeps the target's replicas within [minReplicas, maxReplicas] through the scale subresource, and
reports what the real controller reports when the metrics API is missing."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.sim import managed
from reconciler.cluster.sim.clock import rfc3339
from reconciler.cluster.sim.managed import CONTROLLER, Entry
from reconciler.cluster.sim.store import Row, Txn
from reconciler.kinds import KINDS

Obj = dict[str, Any]
RESYNC_SECONDS = 15.0
REPLICAS: tuple[str, ...] = ("f:spec", "f:replicas")


def scale_target(target: Obj, replicas: int) -> None:
    """An Update of spec.replicas through the scale subresource: the field moves to the
    controller manager if someone owned it (the server records no owner otherwise)."""
    meta = target["metadata"]
    entries = managed.parse(meta)
    owned = any(REPLICAS in e.fields for e in entries)
    target["spec"]["replicas"] = replicas
    meta["generation"] = int(meta.get("generation") or 0) + 1
    if not owned:
        return
    entries = [e.with_fields(frozenset(e.fields - {REPLICAS})) for e in entries]
    scale = Entry(CONTROLLER, "Update", target["apiVersion"], frozenset({REPLICAS}), None, "scale")
    meta["managedFields"] = managed.encode(managed.upsert(entries, scale))


def next_tick(hpa: Row, now: float) -> float:
    """The HPA controller's next periodic look at `hpa` from `now` on."""
    synced = hpa.sim.get("synced_at")
    if synced is None:
        return now
    ticks = max(1, -(-(now - float(synced)) // RESYNC_SECONDS))
    return float(synced) + ticks * RESYNC_SECONDS


def _condition(kind: str, value: bool, reason: str, message: str, now: float, old: Obj) -> Obj:
    previous = next((c for c in old.get("conditions") or () if c.get("type") == kind), None)
    status = "True" if value else "False"
    when = previous["lastTransitionTime"] if previous and previous.get("status") == status else rfc3339(now)
    return {"type": kind, "status": status, "lastTransitionTime": when, "reason": reason, "message": message}


def sync(txn: Txn, hpa: Row, now: float) -> Row | None:
    """Reconcile one HPA at `now`; returns the target row when its replicas were changed."""
    spec = hpa.obj["spec"]
    ref = spec.get("scaleTargetRef") or {}
    old = hpa.obj.get("status") or {}
    kind = KINDS.get(str(ref.get("kind")))
    target = txn.get(kind.kind, hpa.namespace, str(ref.get("name"))) if kind else None
    status: Obj = {"observedGeneration": hpa.obj["metadata"].get("generation", 1)}
    changed_target = None
    hpa.sim["synced_at"] = now
    if target is None:
        plural = f"{kind.plural}.{kind.group}" if kind and kind.group else (kind.plural if kind else "unknown")
        status.update({"desiredReplicas": 0, "currentMetrics": None, "conditions": [_condition(
            "AbleToScale", False, "FailedGetScale", "the HPA controller was unable to get the target's current "
            f'scale: {plural} "{ref.get("name")}" not found', now, old)]})
        status.pop("observedGeneration")
        hpa.obj["status"] = status
        hpa.next_event_at = None
        return None
    current = int(target.obj["spec"].get("replicas", 1))
    minimum, maximum = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
    if current == 0:
        desired = 0
        conditions = [_condition("AbleToScale", True, "SucceededGetScale",
                                 "the HPA controller was able to get the target's current scale", now, old),
                      _condition("ScalingActive", False, "ScalingDisabled",
                                 "scaling is disabled since the replica count of the target is zero", now, old)]
    else:
        desired = min(max(current, minimum), maximum)
        if desired != current:
            scale_target(target.obj, desired)
            changed_target = target
            status["lastScaleTime"] = rfc3339(now)
            able = _condition("AbleToScale", True, "SucceededRescale",
                              f"the HPA controller was able to update the target scale to {desired}", now, old)
        else:
            if "lastScaleTime" in old:
                status["lastScaleTime"] = old["lastScaleTime"]
            able = _condition("AbleToScale", True, "SucceededGetScale",
                              "the HPA controller was able to get the target's current scale", now, old)
        metric: Obj = next(iter(spec.get("metrics") or ()), {})
        name = (metric.get("resource") or {}).get("name", "cpu")
        conditions = [able,
                      _condition("ScaledToZero", False, "NotScaledToZero",
                                 "the HPA controller did not scale the workload to zero", now, old),
                      _condition("ScalingActive", False, "FailedGetResourceMetric",
                                 f"the HPA was unable to compute the replica count: failed to get {name} "
                                 f"utilization: unable to get metrics for resource {name}: no metrics in the "
                                 "simulated cluster", now, old)]
    observed = int((target.obj.get("status") or {}).get("replicas") or 0)
    status.update({"currentReplicas": observed, "desiredReplicas": desired, "currentMetrics": None,
                   "conditions": conditions})
    hpa.obj["status"] = status
    hpa.next_event_at = now + RESYNC_SECONDS if observed != desired else None
    return changed_target
