"""Advancing the simulation (controllers as pure functions of stored state and time).

Rows whose simulation has something to do carry `next_event_at`. Each request first advances
every due row, in time order, to the request's `now`: a workload runs its controllers at each of
its event times (pods turning Ready, becoming available, a progress deadline, a crash-loop
restart) until nothing changes, then schedules its next event. Two processes sharing the file
therefore see the same history, whoever advances it.
"""

from __future__ import annotations

import marshal

from reconciler.cluster.errors import from_status
from reconciler.cluster.sim import autoscaling, disruption, pods
from reconciler.cluster.sim.deployments import REVISION, DeploymentController
from reconciler.cluster.sim.group import Group
from reconciler.cluster.sim.managed import record_update, status_paths
from reconciler.cluster.sim.pods import Settings
from reconciler.cluster.sim.replicasets import sync as sync_replicaset
from reconciler.cluster.sim.statefulsets import StatefulSetController
from reconciler.cluster.sim.store import Row, Txn

MAX_ROUNDS = 64
WORKLOADS = ("Deployment", "StatefulSet")


def _state(row: Row) -> tuple[bytes, bytes]:
    return marshal.dumps(row.obj), marshal.dumps(row.sim)


def run_controllers(group: Group, now: float) -> None:
    """Every controller of the group, at `now`, until nothing changes (their sync loops meeting)."""
    root = group.root
    before_status = marshal.dumps([root.obj.get("status"), (root.obj["metadata"].get("annotations") or {})
                                   .get(REVISION)])
    for _ in range(MAX_ROUNDS):
        snapshot = group.snapshot()
        if root.kind == "Deployment":
            for rs in group.of("ReplicaSet"):
                sync_replicaset(group, rs, now)
            DeploymentController(group, now).sync()
        else:
            StatefulSetController(group, now).sync()
        if group.snapshot() == snapshot:
            break
    after_status = marshal.dumps([root.obj.get("status"), (root.obj["metadata"].get("annotations") or {})
                                  .get(REVISION)])
    if after_status != before_status:
        record_update(root.obj, now, status_paths(root.obj, (REVISION,)), "status")


def next_event(group: Group, now: float) -> float | None:
    """The next time anything in the group changes by itself."""
    times: list[float] = []
    settings = group.settings
    min_ready = int(group.root.obj["spec"].get("minReadySeconds") or 0)
    for pod in group.of("Pod"):
        change = pods.next_change(pod, now, settings)
        if change is not None:
            times.append(change)
        ready = pods.ready_at(pod, settings)
        if ready is not None and ready + min_ready > now:
            times.append(ready + min_ready)
    if group.root.kind == "Deployment":
        deadline = DeploymentController(group, now).next_deadline()
        if deadline is not None:
            times.append(deadline)
    later = [t for t in times if t > now]
    return min(later) if later else None


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def advance(self, txn: Txn, now: float, namespace: str | None = None) -> None:
        """Bring every due row (of one namespace: nothing simulated crosses namespaces) up to `now`."""
        for _ in range(1000):
            due = txn.due(now, namespace)
            if not due:
                return
            for when, kind, namespace, name in due:
                row = txn.get(kind, namespace, name)
                if row is None or row.next_event_at is None or row.next_event_at > now:
                    continue
                self.process(txn, row, now)
        raise from_status(500, "the simulated cluster's controllers did not settle", "InternalError")

    def process(self, txn: Txn, row: Row, now: float) -> None:
        if row.kind in WORKLOADS:
            self.advance_workload(txn, row, now)
        elif row.kind == "HorizontalPodAutoscaler":
            before = _state(row)[0]
            target = autoscaling.sync(txn, row, now)
            txn.put(row, bump=_state(row)[0] != before)
            if target is not None:
                target.next_event_at = min(target.next_event_at or now, now)
                txn.put(target)
        elif row.kind == "PodDisruptionBudget":
            before = _state(row)[0]
            disruption.sync(txn, row, now)
            txn.put(row, bump=_state(row)[0] != before)
        elif row.kind == "Namespace" and row.obj["metadata"].get("deletionTimestamp"):
            txn.delete("Namespace", None, row.name)
        else:
            row.next_event_at = None
            txn.put(row, bump=False)

    def advance_workload(self, txn: Txn, row: Row, now: float) -> None:
        children = txn.children(row.uid)
        group = Group(row, {(c.kind, c.name): c for c in children}, self.settings)
        originals = {(r.kind, r.name): _state(r) for r in [row, *children]}
        pods_before = {c.name: _state(c)[0] for c in children if c.kind == "Pod"}
        when: float | None = float(row.next_event_at) if row.next_event_at is not None else None
        last = float(row.sim.get("synced_at", 0.0))
        while when is not None and when <= now:
            at = max(when, last)
            run_controllers(group, at)
            last = at
            when = next_event(group, at)
        row.sim["synced_at"] = last
        row.next_event_at = when
        for key, child in [((row.kind, row.name), row), *group.children.items()]:
            obj_text, sim_text = _state(child)
            original = originals.get(key)
            if original is None or original != (obj_text, sim_text) or child is row:
                txn.put(child, bump=original is None or original[0] != obj_text)
        for kind, name in group.removed:
            if (kind, name) in originals:
                txn.delete(kind, row.namespace, name)
        pods_after = {p.name: _state(p)[0] for p in group.of("Pod")}
        if pods_after != pods_before:
            self.pods_changed(txn, row.namespace, now)
        if originals[(row.kind, row.name)][0] != _state(row)[0]:
            self.workload_changed(txn, row, now)

    def pods_changed(self, txn: Txn, namespace: str, now: float) -> None:
        for pdb in txn.rows("PodDisruptionBudget", namespace):
            txn.schedule("PodDisruptionBudget", namespace, pdb.name, now)

    def workload_changed(self, txn: Txn, workload: Row, now: float) -> None:
        """The HPAs of a changed workload look at it at their next periodic sync (every 15 s)."""
        for hpa in txn.rows("HorizontalPodAutoscaler", workload.namespace):
            ref = hpa.obj["spec"].get("scaleTargetRef") or {}
            if ref.get("kind") == workload.kind and ref.get("name") == workload.name:
                txn.schedule("HorizontalPodAutoscaler", workload.namespace, hpa.name,
                             autoscaling.next_tick(hpa, now))
