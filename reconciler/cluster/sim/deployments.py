"""The Deployment controller (pure), ported from kube-controller-manager's pkg/controller/deployment:
ReplicaSets per pod-template hash, RollingUpdate (maxSurge/maxUnavailable) and Recreate, scaling
without a new revision, revision history cleanup, and the status and conditions it reports."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from reconciler.cluster.sim import fieldsets, replicasets, schema
from reconciler.cluster.sim.clock import parse_rfc3339, rfc3339
from reconciler.cluster.sim.group import Group
from reconciler.cluster.sim.managed import record_update, status_paths
from reconciler.cluster.sim.merge import clone
from reconciler.cluster.sim.pods import owner_reference
from reconciler.cluster.sim.replicasets import spec_replicas, status_count
from reconciler.cluster.sim.store import Row

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
SKIP_COPY = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED,
                       MAX_REPLICAS, "deprecated.deployment.rollback.to"})
MAX_REVISION_HISTORY_CHARS = 2000
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

# Condition reasons (pkg/controller/deployment/util).
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT = "NewReplicaSetAvailable", "ProgressDeadlineExceeded"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        percent = int(text[:-1])
        return -(-percent * total // 100) if round_up else percent * total // 100
    return int(text)


def pod_template_hash(template: Obj, collision_count: int | None) -> str:
    """controller.ComputeHash's shape: a 32-bit hash of the template (and collision count), its
    decimal digits spelt with rand.SafeEncodeString's alphabet."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collision_count is not None:
        data += str(collision_count)
    value = int.from_bytes(hashlib.sha256(data.encode()).digest()[:4], "big")
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in str(value))


class DeploymentController:
    """One sync of one Deployment at time `now` (syncDeployment)."""

    def __init__(self, group: Group, now: float) -> None:
        self.group = group
        self.now = now
        self.d = group.root.obj

    # --- small helpers -------------------------------------------------------------------------
    @property
    def spec(self) -> Obj:
        return dict(self.d["spec"])

    @property
    def replicas(self) -> int:
        return int(self.d["spec"].get("replicas", 1))

    @property
    def status(self) -> Obj:
        status: Obj = self.d.setdefault("status", {})
        return status

    def rolling(self) -> bool:
        return bool((self.d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")

    def fenceposts(self) -> tuple[int, int]:
        rolling = (self.d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = scaled_value(rolling.get("maxSurge", 0), self.replicas, True)
        unavailable = scaled_value(rolling.get("maxUnavailable", 0), self.replicas, False)
        return (surge, 1) if surge == 0 and unavailable == 0 else (surge, unavailable)

    def max_unavailable(self) -> int:
        if not self.rolling() or self.replicas == 0:
            return 0
        return min(self.fenceposts()[1], self.replicas)

    def max_surge(self) -> int:
        return self.fenceposts()[0] if self.rolling() else 0

    def has_deadline(self) -> bool:
        deadline = self.d["spec"].get("progressDeadlineSeconds")
        return deadline is not None and deadline != 2 ** 31 - 1

    def condition(self, status: Obj, kind: str) -> Obj | None:
        return next((c for c in status.get("conditions") or () if c.get("type") == kind), None)

    def new_condition(self, kind: str, value: str, reason: str, message: str) -> Obj:
        when = rfc3339(self.now)
        return {"type": kind, "status": value, "lastUpdateTime": when, "lastTransitionTime": when,
                "reason": reason, "message": message}

    def set_condition(self, status: Obj, condition: Obj) -> None:
        """SetDeploymentCondition: unchanged status+reason is a no-op; a changed one moves last."""
        current = self.condition(status, condition["type"])
        if current is not None and current["status"] == condition["status"] \
                and current.get("reason") == condition["reason"]:
            return
        if current is not None and current["status"] == condition["status"]:
            condition["lastTransitionTime"] = current["lastTransitionTime"]
        status["conditions"] = [c for c in status.get("conditions") or () if c["type"] != condition["type"]]
        status["conditions"].append(condition)

    @staticmethod
    def revision(rs: Row) -> int:
        try:
            return int((rs.obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
        except ValueError:
            return 0

    # --- replica sets --------------------------------------------------------------------------
    def replica_sets(self) -> list[Row]:
        return self.group.of("ReplicaSet")

    @staticmethod
    def _template_without_hash(template: Obj) -> Obj:
        meta = template.get("metadata") or {}
        labels = meta.get("labels") or {}
        if HASH_LABEL not in labels:
            return template
        return {**template, "metadata": {**meta, "labels": {k: v for k, v in labels.items() if k != HASH_LABEL}}}

    def split(self) -> tuple[Row | None, list[Row]]:
        """(the ReplicaSet whose template is the Deployment's, the others), oldest first."""
        rss = self.replica_sets()
        template = self._template_without_hash(self.d["spec"].get("template") or {})
        new = next((rs for rs in rss if self._template_without_hash(rs.obj["spec"]["template"]) == template), None)
        return new, [rs for rs in rss if rs is not new]

    def set_replicas_annotations(self, rs: Row) -> bool:
        annotations = rs.obj["metadata"].setdefault("annotations", {})
        wanted = {DESIRED: str(self.replicas), MAX_REPLICAS: str(self.replicas + self.max_surge())}
        if all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        annotations.update(wanted)
        return True

    def set_new_rs_annotations(self, rs: Row, new_revision: str, exists: bool) -> bool:
        annotations = rs.obj["metadata"].setdefault("annotations", {})
        changed = False
        for key, value in (self.d["metadata"].get("annotations") or {}).items():
            if key not in SKIP_COPY and annotations.get(key) != value:
                annotations[key] = value
                changed = True
        old_text = annotations.get(REVISION, "")
        try:
            old = int(old_text) if old_text else 0
        except ValueError:
            return changed
        if old < int(new_revision):
            annotations[REVISION] = new_revision
            changed = True
            if old_text:
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h] + [old_text]
                while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                    history.pop(0)
                annotations[REVISION_HISTORY] = ",".join(history)
        if not exists and self.set_replicas_annotations(rs):
            changed = True
        return changed

    def set_deployment_revision(self, revision: str) -> bool:
        annotations = self.d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION) == revision:
            return False
        annotations[REVISION] = revision
        return True

    def get_all(self, create: bool) -> tuple[Row | None, list[Row]]:
        """getAllReplicaSetsAndSyncRevision."""
        new, old = self.split()
        max_old = max((self.revision(rs) for rs in old), default=0)
        new_revision = str(max_old + 1)
        if new is not None:
            annotations_updated = self.set_new_rs_annotations(new, new_revision, exists=True)
            wanted_ready = self.d["spec"].get("minReadySeconds", 0) or 0
            ready_changed = (new.obj["spec"].get("minReadySeconds") or 0) != wanted_ready
            if annotations_updated or ready_changed:
                if wanted_ready:
                    new.obj["spec"]["minReadySeconds"] = wanted_ready
                else:
                    new.obj["spec"].pop("minReadySeconds", None)
                if ready_changed:
                    new.obj["metadata"]["generation"] = int(new.obj["metadata"].get("generation") or 1) + 1
                return new, old
            self.set_deployment_revision(str(self.revision(new)))
            if self.has_deadline() and self.condition(self.status, "Progressing") is None:
                self.set_condition(self.status, self.new_condition(
                    "Progressing", "True", FOUND_NEW_RS, f'Found new replica set "{new.name}"'))
            return new, old
        if not create:
            return None, old
        new = self.create_replica_set(old, new_revision)
        self.set_deployment_revision(new_revision)
        if self.has_deadline():
            self.set_condition(self.status, self.new_condition(
                "Progressing", "True", NEW_RS_CREATED, f'Created new replica set "{new.name}"'))
        return new, old

    def create_replica_set(self, old: list[Row], new_revision: str) -> Row:
        template = clone(self.d["spec"]["template"])
        collision = self.status.get("collisionCount")
        template_hash = pod_template_hash(template, collision)
        name = f"{self.d['metadata']['name']}-{template_hash}"
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: template_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = clone(self.d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        spec: Obj = {"replicas": 0, "selector": selector, "template": template}
        if self.d["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = self.d["spec"]["minReadySeconds"]
        rs_obj: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": self.d["metadata"]["namespace"], "uid": str(uuid.uuid4()),
                         "generation": 1, "creationTimestamp": rfc3339(self.now), "labels": dict(labels),
                         "annotations": {}, "ownerReferences": [owner_reference(self.d)]},
            "spec": spec, "status": {"replicas": 0},
        }
        rs = self.group.add(Row(rs_obj, {"created": self.now}))
        rs_obj["spec"]["replicas"] = self.new_rs_new_replicas(old + [rs], rs)
        self.set_new_rs_annotations(rs, new_revision, exists=False)
        paths = fieldsets.config_set({k: rs_obj[k] for k in ("spec",)}, schema.root("ReplicaSet"))
        paths |= fieldsets.config_set({"metadata": {k: rs_obj["metadata"][k] for k in
                                                    ("labels", "annotations", "ownerReferences")}},
                                      schema.root("ReplicaSet"))
        record_update(rs_obj, self.now, paths)
        return rs

    def new_rs_new_replicas(self, all_rss: list[Row], new: Row) -> int:
        if not self.rolling():
            return self.replicas
        surge = scaled_value(((self.d["spec"].get("strategy") or {}).get("rollingUpdate") or {})
                             .get("maxSurge", 0), self.replicas, True)
        current = sum(spec_replicas(rs) for rs in all_rss)
        max_total = self.replicas + surge
        if current >= max_total:
            return spec_replicas(new)
        scale_up = min(max_total - current, self.replicas - spec_replicas(new))
        return spec_replicas(new) + scale_up

    def scale_rs(self, rs: Row, size: int) -> bool:
        """scaleReplicaSet: True when the size changed (a spec change: the generation moves)."""
        size_changed = spec_replicas(rs) != size
        self.set_replicas_annotations(rs)
        if size_changed:
            rs.obj["spec"]["replicas"] = size
            rs.obj["metadata"]["generation"] = int(rs.obj["metadata"].get("generation") or 1) + 1
        return size_changed

    # --- strategies ----------------------------------------------------------------------------
    def sync(self) -> None:
        if self.d["spec"].get("paused"):
            self.scale_only()
            return
        if self.is_scaling_event():
            self.scale_only()
        elif self.rolling():
            self.rollout_rolling()
        else:
            self.rollout_recreate()

    def is_scaling_event(self) -> bool:
        new, old = self.get_all(create=False)
        for rs in [r for r in old + ([new] if new else []) if spec_replicas(r) > 0]:
            desired = (rs.obj["metadata"].get("annotations") or {}).get(DESIRED)
            if desired is not None and int(desired) != self.replicas:
                return True
        return False

    def scale_only(self) -> None:
        new, old = self.get_all(create=False)
        self.scale(new, old)
        self.sync_status(old + ([new] if new else []), new, rollout=False)

    def scale(self, new: Row | None, old: list[Row]) -> None:
        """DeploymentController.scale: one active set takes it all, else proportional scaling."""
        everything = old + ([new] if new else [])
        active = [rs for rs in everything if spec_replicas(rs) > 0]
        if len(active) <= 1:
            newest = sorted(old, key=lambda r: -float(r.sim["created"]))
            target = active[0] if active else (new or (newest[0] if newest else None))
            if target is not None and spec_replicas(target) != self.replicas:
                self.scale_rs(target, self.replicas)
            elif target is not None:
                self.set_replicas_annotations(target)
            return
        if new is not None and spec_replicas(new) == self.replicas \
                and (new.obj["metadata"].get("annotations") or {}).get(DESIRED) == str(self.replicas) \
                and status_count(new, "availableReplicas") == self.replicas:
            for rs in old:
                if spec_replicas(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if not self.rolling():
            return
        total = sum(spec_replicas(rs) for rs in active)
        allowed = self.replicas + self.max_surge() if self.replicas > 0 else 0
        to_add = allowed - total
        if to_add > 0:
            active.sort(key=lambda r: (-spec_replicas(r), -float(r.sim["created"])))
        elif to_add < 0:
            active.sort(key=lambda r: (-spec_replicas(r), float(r.sim["created"])))
        added, sizes = 0, {}
        for rs in active:
            proportion = self.proportion(rs, to_add, added) if to_add else 0
            sizes[rs.name] = spec_replicas(rs) + proportion
            added += proportion
        for index, rs in enumerate(active):
            if index == 0 and to_add:
                sizes[rs.name] = max(0, sizes[rs.name] + to_add - added)
            self.scale_rs(rs, sizes[rs.name])

    def proportion(self, rs: Row, to_add: int, added: int) -> int:
        if spec_replicas(rs) == 0 or to_add == added:
            return 0
        if self.replicas == 0:
            fraction = -spec_replicas(rs)
        else:
            before = (rs.obj["metadata"].get("annotations") or {}).get(MAX_REPLICAS)
            max_before = int(before) if before and before != "0" else int(self.status.get("replicas") or 0)
            if max_before == 0:
                fraction = 0
            else:
                fraction = int(spec_replicas(rs) * (self.replicas + self.max_surge()) / max_before + 0.5) \
                    - spec_replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def rollout_rolling(self) -> None:
        new, old = self.get_all(create=True)
        assert new is not None
        everything = old + [new]
        if self.reconcile_new(everything, new) or self.reconcile_old(everything, old, new):
            self.sync_status(everything, new)
            return
        if self.complete(self.status):
            self.cleanup(old)
        self.sync_status(everything, new)

    def reconcile_new(self, everything: list[Row], new: Row) -> bool:
        if spec_replicas(new) == self.replicas:
            return False
        if spec_replicas(new) > self.replicas:
            return self.scale_rs(new, self.replicas)
        return self.scale_rs(new, self.new_rs_new_replicas(everything, new))

    def reconcile_old(self, everything: list[Row], old: list[Row], new: Row) -> bool:
        if sum(spec_replicas(rs) for rs in old) == 0:
            return False
        all_pods = sum(spec_replicas(rs) for rs in everything)
        min_available = self.replicas - self.max_unavailable()
        new_unavailable = spec_replicas(new) - status_count(new, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in sorted(old, key=lambda r: (float(r.sim["created"]), r.name)):
            if cleaned >= max_scaled_down:
                break
            unhealthy = spec_replicas(rs) - status_count(rs, "availableReplicas")
            if spec_replicas(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            self.scale_rs(rs, spec_replicas(rs) - count)
            cleaned += count
        available = sum(status_count(rs, "availableReplicas") for rs in everything)
        scaled = 0
        if available > min_available:
            budget = available - min_available
            for rs in sorted(old, key=lambda r: (float(r.sim["created"]), r.name)):
                if scaled >= budget:
                    break
                if spec_replicas(rs) == 0:
                    continue
                count = min(spec_replicas(rs), budget - scaled)
                self.scale_rs(rs, spec_replicas(rs) - count)
                scaled += count
        return cleaned + scaled > 0

    def rollout_recreate(self) -> None:
        new, old = self.get_all(create=False)
        everything = old + ([new] if new else [])
        scaled_down = False
        for rs in old:
            if spec_replicas(rs) > 0 and self.scale_rs(rs, 0):
                scaled_down = True
        if scaled_down or self.old_pods_running(new, old):
            self.sync_status(everything, new)
            return
        if new is None:
            new, old = self.get_all(create=True)
            assert new is not None
            everything = old + [new]
        if spec_replicas(new) != self.replicas:
            self.scale_rs(new, self.replicas)
        if self.complete(self.status):
            self.cleanup(old)
        self.sync_status(everything, new)

    def old_pods_running(self, new: Row | None, old: list[Row]) -> bool:
        if sum(status_count(rs, "replicas") for rs in old) > 0:
            return True
        return any(replicasets.owned_pods(self.group, rs.uid) for rs in old if rs is not new)

    def cleanup(self, old: list[Row]) -> None:
        limit = self.d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        excess = len(old) - int(limit)
        if excess <= 0:
            return
        for rs in sorted(old, key=lambda r: (self.revision(r), float(r.sim["created"])))[:excess]:
            if status_count(rs, "replicas") or spec_replicas(rs) or \
                    rs.obj["metadata"].get("generation", 1) > status_count(rs, "observedGeneration"):
                continue
            self.group.remove(rs)

    # --- status --------------------------------------------------------------------------------
    def complete(self, status: Obj) -> bool:
        """DeploymentComplete."""
        return (int(status.get("updatedReplicas") or 0) == self.replicas
                and int(status.get("replicas") or 0) == self.replicas
                and int(status.get("availableReplicas") or 0) == self.replicas
                and int(status.get("observedGeneration") or 0) >= int(self.d["metadata"].get("generation") or 0))

    def calculate_status(self, everything: list[Row], new: Row | None) -> Obj:
        available = sum(status_count(rs, "availableReplicas") for rs in everything)
        unavailable = max(0, sum(spec_replicas(rs) for rs in everything) - available)
        values = {"observedGeneration": self.d["metadata"].get("generation", 1),
                  "replicas": sum(status_count(rs, "replicas") for rs in everything),
                  "updatedReplicas": status_count(new, "replicas") if new else 0,
                  "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in everything),
                  "availableReplicas": available, "unavailableReplicas": unavailable}
        status: Obj = {k: v for k, v in values.items() if v}
        status["terminatingReplicas"] = 0
        if "collisionCount" in self.status:
            status["collisionCount"] = self.status["collisionCount"]
        status["conditions"] = clone(self.status.get("conditions") or [])
        if available >= self.replicas - self.max_unavailable():
            self.set_condition(status, self.new_condition("Available", "True", MIN_AVAILABLE,
                                                          "Deployment has minimum availability."))
        else:
            self.set_condition(status, self.new_condition("Available", "False", MIN_UNAVAILABLE,
                                                          "Deployment does not have minimum availability."))
        return status

    def progressing(self, old: Obj, new: Obj) -> bool:
        """DeploymentProgressing: more updated, fewer old, more ready or more available replicas."""
        def get(status: Obj, key: str) -> int:
            return int(status.get(key) or 0)
        return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
                or get(new, "replicas") - get(new, "updatedReplicas") < get(old, "replicas") - get(old, "updatedReplicas")
                or get(new, "readyReplicas") > get(old, "readyReplicas")
                or get(new, "availableReplicas") > get(old, "availableReplicas"))

    def timed_out(self, status: Obj) -> bool:
        condition = self.condition(status, "Progressing")
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        return self.now >= self.deadline_of(condition)

    def deadline_of(self, condition: Obj) -> float:
        return parse_rfc3339(condition["lastUpdateTime"]) + int(self.d["spec"]["progressDeadlineSeconds"])

    def sync_status(self, everything: list[Row], new: Row | None, rollout: bool = True) -> None:
        """syncRolloutStatus (or syncDeploymentStatus when `rollout` is False)."""
        status = self.calculate_status(everything, new)
        if rollout and not self.has_deadline():
            status["conditions"] = [c for c in status["conditions"] if c["type"] != "Progressing"]
        current = self.condition(status, "Progressing")
        complete = int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0) \
            and current is not None and current.get("reason") == NEW_RS_AVAILABLE
        if rollout and self.has_deadline() and not complete:
            name = f'ReplicaSet "{new.name}"' if new else f'Deployment "{self.d["metadata"]["name"]}"'
            if self.complete(status):
                self.set_condition(status, self.new_condition(
                    "Progressing", "True", NEW_RS_AVAILABLE, f"{name} has successfully progressed."))
            elif self.progressing(self.status, status):
                condition = self.new_condition("Progressing", "True", RS_UPDATED, f"{name} is progressing.")
                if current is not None:
                    if current["status"] == "True":
                        condition["lastTransitionTime"] = current["lastTransitionTime"]
                    status["conditions"] = [c for c in status["conditions"] if c["type"] != "Progressing"]
                self.set_condition(status, condition)
            elif self.timed_out(status):
                self.set_condition(status, self.new_condition(
                    "Progressing", "False", TIMED_OUT, f"{name} has timed out progressing."))
        if not status["conditions"]:
            del status["conditions"]
        self.d["status"] = status

    def next_deadline(self) -> float | None:
        """When the Progressing condition would time out (None: it cannot)."""
        condition = self.condition(self.status, "Progressing")
        if not self.has_deadline() or condition is None or condition.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
            return None
        return self.deadline_of(condition)


def record_status(d: Obj, now: float) -> None:
    record_update(d, now, status_paths(d, (REVISION,)), "status")
