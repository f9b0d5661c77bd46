"""Reading what the clusters run, for a cycle: the rollout health of the managed workloads.

Only workloads whose rollout is not complete cost a request: the pods of their new revision
(labelled with the workload's service, instance and config_sha), one LIST each. A no-op cycle
of healthy workloads reads no pods at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.protocol import Cluster
from reconciler.engine.health import COMPLETE, Health, assess, in_rollout, rollout_status
from reconciler.engine.marks import key, label
from reconciler.engine.train import rollout_started
from reconciler.kinds import WORKLOAD_KINDS

Key = tuple[str, str | None, str]


def new_revision_selector(workload: Mapping[str, Any], label_domain: str) -> str | None:
    """The label selector of the pods of the workload's current (newest) revision."""
    parts = []
    for name in ("service", "instance", "config_sha"):
        value = label(workload, label_domain, name)
        if value is None:
            return None
        parts.append(f"{key(label_domain, name)}={value}")
    return ",".join(parts)


def read_health(cluster: Cluster, live: Sequence[Mapping[str, Any]], *, now: datetime,
                progress_deadline_seconds: int, label_domain: str) -> dict[Key, Health]:
    """The Health of each managed workload listed in full (with a status)."""
    found: dict[Key, Health] = {}
    for obj in live:
        if obj.get("kind") not in WORKLOAD_KINDS or not isinstance(obj.get("status"), Mapping):
            continue
        meta = obj.get("metadata") or {}
        item: Key = (str(obj["kind"]), meta.get("namespace"), str(meta.get("name")))
        status = rollout_status(dict(obj))
        if status.complete:
            found[item] = Health(COMPLETE)
            continue
        pods: list[dict[str, Any]] = []
        selector = new_revision_selector(obj, label_domain)
        if in_rollout(status) and selector is not None:
            try:
                pods = cluster.list("Pod", selector=selector, namespace=meta.get("namespace"))
            except ClusterError:
                pass  # judged on the workload's own status alone; the next cycle reads again
        found[item] = assess(obj, pods, now=now, rollout_started=rollout_started(obj, label_domain),
                             progress_deadline_seconds=progress_deadline_seconds)
    return found
