"""Fixtures of the simulated cluster's unit tests: a cluster on a temporary file and a manual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cluster.sim import ManualClock, SimCluster

GOLDEN = Path(__file__).parent / "golden" / "real_server.json"
START = 1_767_225_600.0  # ManualClock's default start, 2026-01-01T00:00:00Z


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "sim.sqlite"


@pytest.fixture
def cluster(state: Path, clock: ManualClock) -> Iterator[SimCluster]:
    sim = SimCluster("test", state, pod_ready_seconds=1.0, clock=clock, controller_delay=0)
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    yield sim
    sim.close()


@pytest.fixture(scope="session")
def golden() -> dict[str, Any]:
    """What a real API server (Kubernetes v1.37) answered to the inputs of golden/scenarios.py."""
    data: dict[str, Any] = json.loads(GOLDEN.read_text())
    return data


def deployment(name: str = "web", replicas: int | None = 4, image: str = "registry.example.com/app:v1",
               strategy: dict[str, Any] | None = None, namespace: str = "ns", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if replicas is not None:
        body["replicas"] = replicas
    body.update({"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": image}]}}})
    if strategy is not None:
        body["strategy"] = strategy
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"managed": "true"}}, "spec": body}


def statefulset(name: str = "db", replicas: int = 3, image: str = "registry.example.com/db:v1",
                policy: str = "OrderedReady", namespace: str = "ns") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def rolling(surge: Any, unavailable: Any) -> dict[str, Any]:
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
