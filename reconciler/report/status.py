"""The status of every instance on a cluster, from one cycle's plan and health (pure).

Spec section 3: exactly one status per instance and cluster, the first that holds of Invalid,
NotDeployed, Missing, Degraded, Progressing, Frozen, Waiting, OutOfSync, Drifted, Stopped, Synced
(Frozen: a change held by a freeze, platform.md section 4);
Orphaned rows are managed objects of instances git no longer has. The workload, PDB and HPA
of an instance make one row; the worst object decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.health import COMPLETE, FAILED, PROGRESSING, UNAVAILABLE, Health
from reconciler.engine.marks import BOUNCE_STARTED, annotation, label
from reconciler.engine.actions import Action, Halt, Plan
from reconciler.engine.freeze import FROZEN_PREFIX
from reconciler.kinds import WORKLOAD_KINDS
from reconciler.render.service import Outcome, RenderResult

STATUSES = ("Invalid", "NotDeployed", "Missing", "Degraded", "Progressing", "Frozen", "Waiting", "OutOfSync",
            "Drifted", "Stopped", "Synced", "Orphaned")
#: The instance of a service-level row: a file whose instances cannot be named (unreadable).
UNNAMED = "*"
#: Statuses that need nobody's attention (`drift` exits 0 when every row has one of them).
SETTLED = frozenset({"Synced", "Stopped", "NotDeployed"})

Key = tuple[str, str | None, str]


@dataclass(frozen=True)
class Row:
    """One instance on one cluster, in the drift report's JSON shape (spec section 7)."""

    cluster: str
    service: str
    instance: str
    status: str
    message: str = ""
    desired: Mapping[str, Any] | None = None
    live: Mapping[str, Any] | None = None
    differences: tuple[Mapping[str, Any], ...] = ()
    since: str | None = None
    train: Mapping[str, Any] = field(default_factory=lambda: {"halted": False, "failed_config_sha": None,
                                                              "reason": None})
    deploy_group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "service": self.service, "instance": self.instance,
                "status": self.status, "desired": self.desired, "live": self.live,
                "differences": list(self.differences), "since": self.since, "message": self.message,
                "train": dict(self.train), "deploy_group": self.deploy_group}


def _versions(obj: Mapping[str, Any] | None, label_domain: str, *, live: bool) -> dict[str, Any] | None:
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    out: dict[str, Any] = {"git_sha": label(obj, label_domain, "git_sha"),
                           "config_sha": label(obj, label_domain, "config_sha"),
                           "replicas": spec.get("replicas")}
    if live:
        out["ready_replicas"] = int((obj.get("status") or {}).get("readyReplicas") or 0)
    return out


def _workload(objects: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((o for o in objects if o.get("kind") in WORKLOAD_KINDS), None)


def _train(halt: Halt | None) -> dict[str, Any]:
    if halt is None:
        return {"halted": False, "failed_config_sha": None, "reason": None}
    return {"halted": True, "failed_config_sha": halt.failed_config_sha,
            "reason": f"{halt.service}.{halt.instance}: {halt.reason}"}


def _decide(actions: Sequence[Action], health: Health | None, halt: Halt | None, instance: tuple[str, str],
            desired: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> tuple[str, str]:
    """(status, message) of a rendered instance."""
    work = [a for a in actions if a.kind in WORKLOAD_KINDS]
    if any(a.action == "create" for a in work) or (live is None and not any(a.action == "wait" for a in work)):
        return "Missing", "not on the cluster yet"
    rolled_back = halt is not None and (halt.service, halt.instance) == instance and halt.rolled_back_to
    if health is not None and health.state == FAILED:
        return "Degraded", health.reason
    if rolled_back and halt is not None:
        return "Degraded", halt.reason
    if health is not None and health.state == UNAVAILABLE:
        return "Degraded", health.reason
    if health is not None and health.state == PROGRESSING:
        return "Progressing", health.reason
    waiting = [a for a in actions if a.action == "wait"]
    frozen = [a for a in waiting if a.reason.startswith(FROZEN_PREFIX)]
    if frozen:
        return "Frozen", frozen[0].reason
    if waiting:
        return "Waiting", waiting[0].reason
    changing = [a for a in actions if a.action in ("create", "update", "scale", "delete")]
    drift = [a for a in changing if a.reason.startswith("drift: ")]
    if changing and len(drift) < len(changing):
        first = next(a for a in changing if a not in drift)
        return "OutOfSync", f"{first.kind} {first.action}: {first.reason}"
    noted = [a for a in actions if a.action == "noop" and a.reason.startswith("drifted")]
    if drift or noted:
        first = (drift or noted)[0]
        return "Drifted", f"{first.kind}: {first.reason}"
    if desired is not None and (desired.get("spec") or {}).get("replicas") == 0:
        return "Stopped", "stopped: 0 replicas"
    return "Synced", "in sync with git"


def _written(live: Mapping[str, Any], *, ours: bool) -> str | None:
    """When the reconciler last applied `live` (ours), or when anyone else last changed its spec
    or metadata (not ours: a `kubectl edit`, another controller), from its managedFields."""
    times = []
    for entry in (live.get("metadata") or {}).get("managedFields") or ():
        if not isinstance(entry, Mapping) or entry.get("subresource") or not isinstance(entry.get("time"), str):
            continue
        manager = str(entry.get("manager") or "")
        mine = manager == "reconciler" and entry.get("operation") == "Apply"
        if mine == ours and (ours or not manager.startswith("reconciler")):
            times.append(str(entry["time"]))
    return max(times) if times else None


def _condition_since(live: Mapping[str, Any], kind: str, reason: str | None = None) -> str | None:
    for condition in (live.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == kind and (
                reason is None or condition.get("reason") == reason):
            value = condition.get("lastTransitionTime")
            return value if isinstance(value, str) else None
    return None


def since(status: str, live: Mapping[str, Any] | None, label_domain: str, changed_at: str | None) -> str | None:
    """Since when the row has been in `status`, derived from the cluster (so it survives
    restarts): a rollout's start, a condition's transition, the last write of the reconciler or
    of someone else; for changes not applied yet, when git changed (`changed_at`)."""
    if status in ("Missing", "OutOfSync", "Waiting", "Frozen"):
        return changed_at
    if live is None:
        return None
    started = annotation(live, label_domain, BOUNCE_STARTED) or (live.get("metadata") or {}).get("creationTimestamp")
    if status == "Progressing":
        return started
    if status == "Degraded":
        return _condition_since(live, "Progressing", "ProgressDeadlineExceeded") or started
    if status == "Drifted":
        return _written(live, ours=False)
    if status in ("Synced", "Stopped"):
        moments = [m for m in (_written(live, ours=True), _condition_since(live, "Progressing", "NewReplicaSetAvailable"))
                   if m]
        return max(moments) if moments else started
    return None


def _difference_rows(actions: Sequence[Action]) -> tuple[dict[str, Any], ...]:
    ordered = sorted(actions, key=lambda a: a.kind not in WORKLOAD_KINDS)
    return tuple({"kind": a.kind, "path": d.path, "desired": d.desired, "live": d.live}
                 for a in ordered for d in a.differences)


def instance_rows(cluster: str, results: Sequence[RenderResult], plan: Plan, health: Mapping[Key, Health],
                  *, label_domain: str, changed_at: str | None = None) -> list[Row]:
    """A row per instance of `cluster` in `results`, then an Orphaned row per instance whose
    managed objects git no longer has. `changed_at`: when the sources in force were committed
    (RFC 3339), the `since` of changes not applied yet."""
    by_instance: dict[tuple[str, str], list[Action]] = {}
    for action in plan.actions:
        by_instance.setdefault((action.service, action.instance), []).append(action)
    halts = {(h.service, h.deploy_group): h for h in plan.halts}
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    unnamed: dict[str, list[RenderResult]] = {}  # per service: files whose instances cannot be named
    for result in results:
        if result.cluster == cluster and result.instance is None:
            unnamed.setdefault(result.service, []).append(result)
    for service, found in unnamed.items():
        rows.append(Row(cluster, service, UNNAMED, "Invalid", "; ".join(r.error_text() for r in found)))
        seen.add((service, UNNAMED))
    for result in results:
        if result.cluster != cluster or result.instance is None:
            continue
        ident = (result.service, result.instance)
        seen.add(ident)
        halt = halts.get((result.service, result.deploy_group or ""))

        def row(status: str, message: str, **more: Any) -> Row:
            return Row(cluster, ident[0], ident[1], status, message, train=_train(halt),
                       deploy_group=result.deploy_group, **more)

        if result.outcome is Outcome.INVALID:
            rows.append(row("Invalid", result.error_text()))
            continue
        if result.outcome is Outcome.NOT_DEPLOYED:
            rows.append(row("NotDeployed", f"deploy group {result.deploy_group!r} has no deployments.json "
                                           "entry yet"))
            continue
        actions = by_instance.get(ident, [])
        desired = _workload(result.objects)
        work_action = next((a for a in actions if a.kind in WORKLOAD_KINDS), None)
        live = work_action.live if work_action is not None else None
        if live is not None and label(live, label_domain, "managed") != "true":
            live = None  # a collision: not ours
        key = (str(desired.get("kind")), (desired.get("metadata") or {}).get("namespace"),
               str((desired.get("metadata") or {}).get("name"))) if desired is not None else None
        state = health.get(key) if key is not None else None
        status, message = _decide(actions, state, halt, ident, desired, live)
        rows.append(row(status, message, desired=_versions(desired, label_domain, live=False),
                        live=_versions(live, label_domain, live=True),
                        since=since(status, live, label_domain, changed_at),
                        differences=_difference_rows(actions)))
    orphans: dict[tuple[str, str], list[str]] = {}
    for kind, namespace, name, service, instance in plan.prune.orphans:
        if (service, instance) not in seen:
            orphans.setdefault((service, instance), []).append(f"{kind} {namespace or ''}/{name}".replace(" /", " "))
    for (service, instance), objects in orphans.items():
        fate = "deleted this cycle" if not plan.prune.refused else f"not deleted: {plan.prune.reason}"
        rows.append(Row(cluster, service, instance, "Orphaned", f"no longer in git ({', '.join(objects)}); {fate}"))
    return rows


def counts(rows: Sequence[Row]) -> dict[str, int]:
    """Rows per status (every status present)."""
    out = dict.fromkeys(STATUSES, 0)
    for row in rows:
        out[row.status] += 1
    return out


def in_progress(health: Mapping[Key, Health]) -> int:
    """Workloads whose rollout is not complete."""
    return sum(1 for h in health.values() if h.state != COMPLETE)
