"""A workload's rollout state read through the cluster protocol, as the reconciler reads it."""

from __future__ import annotations

from reconciler.cluster.protocol import Cluster
from reconciler.engine.health import RolloutStatus, rollout_status


def rollout(cluster: Cluster, kind: str, name: str, namespace: str) -> RolloutStatus:
    """kubectl's rollout-status rules on the object as the cluster returns it now."""
    return rollout_status(cluster.get(kind, name, namespace))
