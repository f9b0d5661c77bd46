"""The contract suite runs every test against every backend: the simulated cluster and a real
control plane (the `kube` tier). Whatever the reconciler can observe must be the same on both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cluster.protocol import Cluster
from tests.support.fleet import Fleet

BACKENDS = [pytest.param("sim", id="sim"), pytest.param("kube", id="kube", marks=pytest.mark.kube)]


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    backend: Cluster
    if request.param == "sim":
        from reconciler.cluster.sim.backend import SimCluster

        backend = SimCluster("sim", tmp_path / "sim.sqlite", pod_ready_seconds=0.2)
    else:
        from reconciler.cluster.kube.backend import KubeCluster

        controlplane = request.getfixturevalue("kube_controlplane")
        backend = KubeCluster.from_kubeconfig("kube", str(controlplane.kubeconfig))
    yield backend
    backend.close()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        cluster.delete("Namespace", name)
    except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
        pass


def wait_for(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1,
             what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def deployment(name: str, namespace: str, *, replicas: int | None = 2, image: str = "registry.example.com/app:v1",
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
               progress_deadline: int | None = None, strategy: dict[str, Any] | None = None,
               min_ready: int | None = None) -> dict[str, Any]:
    selector = {"app.example.com/name": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "template": {"metadata": {"labels": dict(selector)},
                     "spec": {"containers": [{"name": "main", "image": image,
                                              "ports": [{"containerPort": 8080}]}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    if strategy is not None:
        spec["strategy"] = strategy
    if min_ready is not None:
        spec["minReadySeconds"] = min_ready
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {"example.com/managed": "true", **(labels or {})}}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def statefulset(name: str, namespace: str, *, replicas: int = 2, image: str = "registry.example.com/db:v1",
                policy: str = "OrderedReady") -> dict[str, Any]:
    selector = {"app.example.com/name": name}
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"example.com/managed": "true"}},
        "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                 "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": dict(selector)},
                              "spec": {"containers": [{"name": "main", "image": image}]}}},
    }


@pytest.fixture
def fleet(cluster: Cluster, tmp_path: Path) -> Any:
    made: list[Fleet] = []

    def make(**settings: Any) -> Fleet:
        made.append(Fleet(cluster, tmp_path / "soa", **settings))
        return made[-1]

    yield make
    for one in made:
        one.cleanup()
