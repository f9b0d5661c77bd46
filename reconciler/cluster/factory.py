"""A Cluster for each configured cluster: the Kubernetes backend, or the simulated one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig


def connect(config: ClusterConfig, **options: Any) -> Cluster:
    """The backend a cluster's settings ask for (kubeconfig/context, in_cluster, or sim).
    `options` go to the Kubernetes backend (timeout, attempts, ...)."""
    if config.sim_state:
        from reconciler.cluster.sim.backend import SimCluster

        Path(config.sim_state).parent.mkdir(parents=True, exist_ok=True)
        return SimCluster(config.name, config.sim_state, pod_ready_seconds=config.sim_pod_ready_seconds)
    from reconciler.cluster.kube.backend import KubeCluster

    if config.in_cluster:
        return KubeCluster.in_cluster(config.name, **options)
    return KubeCluster.from_kubeconfig(config.name, config.kubeconfig, config.context, **options)
