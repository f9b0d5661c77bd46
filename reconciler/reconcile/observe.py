"""Reading what a cluster runs, for a cycle: its managed objects and the rollout health of its
workloads.

One LIST per kind: workloads in full (spec and status), the other kinds metadata-only unless
the cycle compares every field. Only workloads whose rollout is not complete cost a further
request: the pods of their new revision (labelled with the workload's service, instance and
config_sha), one LIST each. A no-op cycle of healthy workloads reads no pods at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.protocol import Cluster
from reconciler.engine.health import COMPLETE, Health, assess, in_rollout, rollout_status
from reconciler.engine.objects import Key, key_of
from reconciler.engine.policy import Policy
from reconciler.engine.train import rollout_started
from reconciler.kinds import WORKLOAD_KINDS

#: The kinds a cycle lists, in this order.
LISTED_KINDS = ("Namespace", "ServiceAccount", "Deployment", "StatefulSet", "PodDisruptionBudget",
                "HorizontalPodAutoscaler")


def list_live(cluster: Cluster, policy: Policy, *, full: bool = False) -> list[dict[str, Any]]:
    """The cluster's managed objects: one LIST per kind (workloads in full, the rest
    metadata-only unless `full`)."""
    live: list[dict[str, Any]] = []
    for kind in LISTED_KINDS:
        live.extend(cluster.list(kind, selector=policy.managed_selector,
                                 metadata_only=not full and kind not in WORKLOAD_KINDS))
    return live


def new_revision_selector(workload: Mapping[str, Any], policy: Policy) -> str | None:
    """The label selector of the pods of the workload's current (newest) revision."""
    parts = []
    for name in ("service", "instance", "config_sha"):
        value = policy.label(workload, name)
        if value is None:
            return None
        parts.append(f"{policy.key(name)}={value}")
    return ",".join(parts)


def read_health(cluster: Cluster, live: Sequence[Mapping[str, Any]], policy: Policy, *,
                now: datetime) -> dict[Key, Health]:
    """The Health of each managed workload listed in full (with a status)."""
    found: dict[Key, Health] = {}
    for obj in live:
        if obj.get("kind") not in WORKLOAD_KINDS or not isinstance(obj.get("status"), Mapping):
            continue
        item = key_of(obj)
        status = rollout_status(dict(obj))
        if status.complete:
            found[item] = Health(COMPLETE)
            continue
        pods: list[dict[str, Any]] = []
        selector = new_revision_selector(obj, policy)
        if in_rollout(status) and selector is not None:
            try:
                pods = cluster.list("Pod", selector=selector, namespace=item[1])
            except ClusterError:
                pass  # judged on the workload's own status alone; the next cycle reads again
        found[item] = assess(obj, pods, now=now, rollout_started=rollout_started(obj, policy),
                             progress_deadline_seconds=policy.progress_deadline_seconds)
    return found
