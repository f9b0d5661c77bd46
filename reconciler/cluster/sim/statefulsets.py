"""The StatefulSet controller (pure), after pkg/controller/statefulset: pods <name>-<ordinal> made in
order (OrderedReady) or all at once (Parallel), rolling updates from the highest ordinal (honouring
partition and maxUnavailable), ControllerRevisions, and the status the controller reports."""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.cluster.sim import pods
from reconciler.cluster.sim.clock import rfc3339
from reconciler.cluster.sim.deployments import pod_template_hash, scaled_value
from reconciler.cluster.sim.group import Group
from reconciler.cluster.sim.merge import clone
from reconciler.cluster.sim.pods import owner_reference
from reconciler.cluster.sim.store import Row

Obj = dict[str, Any]
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
HASH_LABEL = "controller.kubernetes.io/hash"


class StatefulSetController:
    def __init__(self, group: Group, now: float) -> None:
        self.group = group
        self.now = now
        self.s = group.root.obj
        self.settings = group.settings

    @property
    def spec(self) -> Obj:
        return dict(self.s["spec"])

    @property
    def name(self) -> str:
        return str(self.s["metadata"]["name"])

    def min_ready(self) -> int:
        return int(self.s["spec"].get("minReadySeconds") or 0)

    # --- revisions -----------------------------------------------------------------------------
    def revisions(self) -> list[Row]:
        return sorted(self.group.of("ControllerRevision"), key=lambda r: int(r.obj.get("revision", 0)))

    def update_revision(self) -> Row:
        template = self.s["spec"]["template"]
        collision = int((self.s.get("status") or {}).get("collisionCount") or 0)
        digest = pod_template_hash(template, collision)
        name = f"{self.name}-{digest}"
        existing = self.revisions()
        latest = max((int(r.obj.get("revision", 0)) for r in existing), default=0)
        for row in existing:
            if row.name == name:
                if int(row.obj.get("revision", 0)) < latest:
                    row.obj["revision"] = latest + 1
                return row
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[HASH_LABEL] = digest
        obj: Obj = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": self.s["metadata"]["namespace"], "uid": str(uuid.uuid4()),
                         "creationTimestamp": rfc3339(self.now), "labels": labels,
                         "ownerReferences": [owner_reference(self.s)]},
            "data": {"spec": {"template": {"$patch": "replace", **clone(template)}}},
            "revision": latest + 1,
        }
        return self.group.add(Row(obj, {"created": self.now}))

    def template_of(self, revision: Row) -> Obj:
        template = dict(revision.obj["data"]["spec"]["template"])
        template.pop("$patch", None)
        return template

    def truncate_history(self, live: set[str]) -> None:
        limit = int(self.s["spec"].get("revisionHistoryLimit", 10))
        history = [r for r in self.revisions() if r.name not in live]
        for row in history[:max(0, len(history) - limit)]:
            self.group.remove(row)

    # --- pods ----------------------------------------------------------------------------------
    def ordinal(self, pod: Row) -> int:
        prefix = self.name + "-"
        tail = pod.name[len(prefix):] if pod.name.startswith(prefix) else ""
        return int(tail) if tail.isdigit() else -1

    def revision_of(self, pod: Row) -> str:
        return str((pod.obj["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))

    def ready(self, pod: Row) -> bool:
        return pods.is_ready(pod, self.now, self.settings)

    def available(self, pod: Row) -> bool:
        return pods.is_available(pod, self.now, self.settings, self.min_ready())

    def create_pod(self, ordinal: int, revision: Row) -> Row:
        template = self.template_of(revision)
        name = f"{self.name}-{ordinal}"
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update({REVISION_LABEL: revision.name, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)})
        extra: Obj = {"hostname": name}
        if self.s["spec"].get("serviceName"):
            extra["subdomain"] = self.s["spec"]["serviceName"]
        claims = [{"name": c["metadata"]["name"], "persistentVolumeClaim": {
            "claimName": f"{c['metadata']['name']}-{name}"}} for c in self.s["spec"].get("volumeClaimTemplates") or ()]
        if claims:
            volumes = [v for v in (template.get("spec") or {}).get("volumes") or ()
                       if v.get("name") not in {c["name"] for c in claims}]
            extra["volumes"] = claims + volumes
        return self.group.add(pods.new_pod(template, name, self.s, self.now, labels, extra,
                                           generate_name=self.name + "-"))

    # --- sync ----------------------------------------------------------------------------------
    def sync(self) -> None:
        spec = self.s["spec"]
        replicas = int(spec.get("replicas", 1))
        update = self.update_revision()
        status = self.s.get("status") or {}
        by_name = {r.name: r for r in self.revisions()}
        current = by_name.get(str(status.get("currentRevision", ""))) or update
        owned = [p for p in self.group.of("Pod") if self.ordinal(p) >= 0]
        for pod in owned:
            pods.refresh(pod, self.now, self.settings)
        slots: list[Row | None] = [None] * replicas
        condemned: list[Row] = []
        for pod in owned:
            index = self.ordinal(pod)
            if index < replicas:
                slots[index] = pod
            else:
                condemned.append(pod)
        condemned.sort(key=self.ordinal, reverse=True)
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        partition = int(rolling.get("partition", 0)) if strategy.get("type", "RollingUpdate") == "RollingUpdate" else 0
        blocked = False
        for index in range(replicas):
            slot = slots[index]
            if slot is None:
                use = current if strategy.get("type", "RollingUpdate") == "RollingUpdate" and index < partition \
                    else update
                slots[index] = self.create_pod(index, use)
                if monotonic:
                    blocked = True
                    break
                continue
            if monotonic and not (self.ready(slot) and self.available(slot)):
                blocked = True
                break
        if not blocked:
            unhealthy = [p for p in [s for s in slots if s] + condemned if not self.available(p)]
            first_unhealthy = unhealthy[0] if unhealthy else None
            for pod in condemned:
                if monotonic and not self.available(pod) and pod is not first_unhealthy:
                    blocked = True
                    break
                self.group.remove(pod)
                if monotonic:
                    blocked = True
                    break
        if not blocked and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            live = [s for s in slots if s is not None and (s.kind, s.name) in self.group.children]
            max_unavailable = max(1, scaled_value(rolling.get("maxUnavailable", 1), replicas, False))
            unavailable = sum(1 for p in live if not self.available(p))
            budget = max_unavailable - unavailable
            for index in range(len(slots) - 1, partition - 1, -1):
                if budget <= 0:
                    break
                target = slots[index]
                if target is not None and self.revision_of(target) != update.name:
                    self.group.remove(target)
                    budget -= 1
        self.write_status(current, update, replicas)
        self.truncate_history({current.name, update.name})

    def write_status(self, current: Row, update: Row, replicas: int) -> None:
        live = [p for p in self.group.of("Pod") if self.ordinal(p) >= 0]
        ready = sum(1 for p in live if self.ready(p))
        available = sum(1 for p in live if self.available(p))
        on_current = sum(1 for p in live if self.revision_of(p) == current.name)
        on_update = sum(1 for p in live if self.revision_of(p) == update.name)
        current_name = current.name
        strategy = (self.s["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and on_update == len(live) and ready == len(live):
            on_current, current_name = on_update, update.name
        values: Obj = {"observedGeneration": self.s["metadata"].get("generation", 1), "replicas": len(live),
                       "readyReplicas": ready, "currentReplicas": on_current, "updatedReplicas": on_update,
                       "currentRevision": current_name, "updateRevision": update.name, "collisionCount": 0,
                       "availableReplicas": available}
        status = {k: v for k, v in values.items() if v or k in ("replicas", "availableReplicas", "collisionCount")}
        self.s["status"] = status

    def next_event(self) -> float | None:
        """When a pod of this set becomes available (the others come from pod status changes)."""
        times = [when + self.min_ready() for p in self.group.of("Pod")
                 if (when := pods.ready_at(p, self.settings)) is not None and when + self.min_ready() > self.now]
        return min(times, default=None)
