"""Carrying out a plan on one cluster: server-side apply, deletes, and what became of each action.

The plan (pure, `reconciler.engine.plan`) decides; this module only talks to the cluster. One
object's failure never stops the others; every outcome is recorded with its error. A 409
Conflict is met by re-reading the object and trying again (never taking over an unmanaged one);
429/5xx/timeouts are retried with backoff by the cluster backend itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.cluster.errors import ClusterError, Conflict, NotFound
from reconciler.cluster.protocol import FIELD_MANAGER, INITIAL_REPLICAS_MANAGER, Cluster
from reconciler.engine.actions import Action, Plan
from reconciler.engine.edits import hand_edits, take_over
from reconciler.engine.policy import Policy
from reconciler.reconcile.ledger import Ledger
from reconciler.kinds import WORKLOAD_KINDS

WRITING_ACTIONS = ("create", "update", "scale", "delete")
#: Tries of a write that meets a 409 Conflict: each retry re-reads the object first.
CONFLICT_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """What happened to one action: `ok`, or the error that stopped it."""

    action: Action
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.action.as_dict(), "result": "ok" if self.ok else "failed", "error": self.error}


def execute(cluster: Cluster, plan: Plan, policy: Policy, *, dry_run: bool = False,
            may_write: Callable[[], bool] | None = None, now: datetime | None = None) -> list[Outcome]:
    """Apply `plan`'s create/update/scale/delete actions in order; noop and wait do nothing.

    With `dry_run` every write is sent as a server dry run, except for objects inside a namespace
    the plan itself creates: the server cannot check those before the namespace exists.
    `may_write` is asked before every action: once it says no (the lease was lost, the daemon is
    stopping), nothing more is written and the remaining actions are reported as not attempted.
    Prune deletes are recorded in the cluster's prune ledger first (`ledger.Ledger.record`); if
    the fraction counted against it is over, or the ledger cannot be written, none is made.
    """
    initial = _initial_replicas(plan)
    new_namespaces = {a.name for a in plan.actions if a.kind == "Namespace" and a.action == "create"}
    outcomes = []
    stopped = False
    prunes = [a for a in plan.actions if a.action == "delete" and a.prune_group is not None]
    refused: str | None = None
    recorded = False
    for action in plan.actions:
        if action.action not in WRITING_ACTIONS:
            continue
        if stopped or (may_write is not None and not dry_run and not may_write()):
            stopped = True
            outcomes.append(Outcome(action, False, "not attempted: writing stopped (lease lost or shutting down)"))
            continue
        if action.prune_group is not None and action.action == "delete" and not dry_run:
            if not recorded:
                recorded = True
                try:
                    refused = Ledger(cluster, policy).record(prunes, plan.prune, now or datetime.now(UTC))
                except ClusterError as exc:
                    refused = f"the prune ledger could not be written: {exc}"
            if refused is not None:
                outcomes.append(Outcome(action, False, f"not deleted: {refused}"))
                continue
        if dry_run and action.namespace in new_namespaces:
            outcomes.append(Outcome(action, True))
            continue
        try:
            if action.action == "delete":
                _delete(cluster, action, policy, dry_run)
            else:
                _apply(cluster, action, policy, initial, dry_run)
        except ClusterError as exc:
            outcomes.append(Outcome(action, False, str(exc)))
        else:
            outcomes.append(Outcome(action, True))
    return outcomes


def _initial_replicas(plan: Plan) -> dict[tuple[str | None, str], int]:
    """minReplicas of each HPA in the plan, by the workload it scales (namespace, name)."""
    found = {}
    for action in plan.actions:
        desired = action.desired
        if action.kind == "HorizontalPodAutoscaler" and desired is not None:
            spec = desired.get("spec") or {}
            target = (spec.get("scaleTargetRef") or {}).get("name")
            if target and isinstance(spec.get("minReplicas"), int):
                found[(action.namespace, str(target))] = int(spec["minReplicas"])
    return found


def _apply(cluster: Cluster, action: Action, policy: Policy,
           initial: Mapping[tuple[str | None, str], int], dry_run: bool) -> None:
    desired = dict(action.desired or {})
    if action.action == "create":
        _still_ours(cluster, action, policy)
    if action.take_over and action.live is not None:
        _take_over(cluster, action, policy, dry_run)
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            cluster.apply(desired, dry_run=dry_run)
            break
        except Conflict:
            if attempt + 1 == CONFLICT_ATTEMPTS:
                raise
            _still_ours(cluster, action, policy)  # re-read: a conflict never takes an object over
    spec = desired.get("spec") or {}
    live_replicas = ((action.live or {}).get("spec") or {}).get("replicas")
    if (action.kind in WORKLOAD_KINDS and "replicas" not in spec
            and (action.action == "create" or live_replicas == 0)):
        # Autoscaled: the first replicas (at creation, or when started after a stop) are written
        # by a manager of their own, so that the reconciler never owns the field the HPA manages
        # from then on (soa-configs.md section 5).
        replicas = initial.get((action.namespace, action.name), 1)
        cluster.apply({"apiVersion": desired["apiVersion"], "kind": desired["kind"],
                       "metadata": {"name": action.name, "namespace": action.namespace},
                       "spec": {"replicas": replicas}},
                      field_manager=INITIAL_REPLICAS_MANAGER, dry_run=dry_run)


#: Tries of the managedFields patch of a take-over, each against a fresh read.
TAKE_OVER_ATTEMPTS = 8


def _take_over(cluster: Cluster, action: Action, policy: Policy, dry_run: bool) -> None:
    """Move the fields of the hand edits the update heals to the reconciler's own entry of
    managedFields, so the apply that follows removes them (`engine.edits`). A conflict (the
    object changed since it was listed: a rolling Deployment's controller writes its status
    several times a second) reads it again and computes the edits afresh."""
    live: Mapping[str, Any] | None = action.live
    edits = action.take_over
    for attempt in range(TAKE_OVER_ATTEMPTS):
        if live is None or not edits:
            return
        meta = live.get("metadata") or {}
        entries = take_over(meta.get("managedFields") or [], edits, manager=FIELD_MANAGER,
                            api_version=str(live.get("apiVersion", "")))
        try:
            cluster.set_managed_fields(action.kind, action.name, action.namespace, entries,
                                       resource_version=str(meta.get("resourceVersion")), dry_run=dry_run)
            return
        except Conflict:
            if attempt + 1 == TAKE_OVER_ATTEMPTS:
                raise
            live = _still_ours(cluster, action, policy)
            edits = tuple(hand_edits(action.desired or {}, live, policy.edit_managers)) if live else ()


def _still_ours(cluster: Cluster, action: Action, policy: Policy) -> dict[str, Any] | None:
    """Read the object again: as it is now, None when it does not exist; Conflict when an
    unmanaged object of that name is there (it is never taken over, never deleted)."""
    try:
        live = cluster.get(action.kind, action.name, action.namespace)
    except NotFound:
        return None
    if not policy.managed(live):
        raise Conflict(f"{action.kind} {action.namespace or ''}/{action.name}: an unmanaged object of "
                       "that name exists; not touched")
    return live


def _delete(cluster: Cluster, action: Action, policy: Policy, dry_run: bool) -> None:
    """Delete the managed object of that name as a fresh read finds it, with that read's uid and
    resourceVersion as preconditions: a stale listing never deletes an object replaced or
    changed since. Gone already: done. A conflict (changed between the read and the delete):
    read again and retry."""
    for attempt in range(CONFLICT_ATTEMPTS):
        live = _still_ours(cluster, action, policy)
        if live is None:
            return  # already gone: what the action wanted
        meta = live.get("metadata") or {}
        try:
            cluster.delete(action.kind, action.name, action.namespace, uid=meta.get("uid"),
                           resource_version=meta.get("resourceVersion"), dry_run=dry_run)
            return
        except NotFound:
            return
        except Conflict:
            if attempt + 1 == CONFLICT_ATTEMPTS:
                raise
