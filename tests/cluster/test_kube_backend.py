"""KubeCluster against a real control plane (etcd, kube-apiserver, controller-manager, scheduler,
kwok fake nodes): the session's, from tests/support/controlplane.py."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes.config.incluster_config
import pytest
import yaml

from reconciler.cluster.errors import ClusterError, Conflict, Invalid, NotFound, Unavailable
from reconciler.cluster.kube.backend import KubeCluster
from reconciler.cluster.protocol import FIELD_MANAGER, RequestCounters
from tests.support.rollout import rollout

pytestmark = pytest.mark.kube

@pytest.fixture(scope="module")
def controlplane(kube_controlplane: Any) -> dict[str, str]:
    """The session's control plane (tests/support/controlplane.py), as the few values used here."""
    return {"KUBECONFIG": str(kube_controlplane.kubeconfig), "KUBE_ADMIN_TOKEN": kube_controlplane.admin_token,
            "KUBE_CA_FILE": str(kube_controlplane.ca_file), "KUBE_APISERVER_URL": kube_controlplane.api_url}


@pytest.fixture(scope="module")
def kubeconfig(controlplane: dict[str, str]) -> str:
    return controlplane["KUBECONFIG"]


@pytest.fixture
def kube(kubeconfig: str) -> Iterator[KubeCluster]:
    cluster = KubeCluster.from_kubeconfig("test", kubeconfig)
    yield cluster
    cluster.close()


@pytest.fixture
def namespace(kube: KubeCluster) -> Iterator[str]:
    name = f"kbe-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        kube.delete("Namespace", name)
    except ClusterError:
        pass


def deployment(name: str, namespace: str, *, replicas: int = 0, labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, image: str = "registry.invalid/app:v1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": name, **(labels or {})}}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def delta(counters: RequestCounters, before: dict[str, int]) -> dict[str, int]:
    now = counters.snapshot()
    return {k: now[k] - before[k] for k in now}


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s; last: {result!r}")
        time.sleep(0.2)


# ---------------------------------------------------------------------- apply


def settled(kube: KubeCluster, name: str, namespace: str) -> dict[str, Any]:
    """The Deployment once its controller is done writing status (replicas 0: one sync)."""
    def done() -> dict[str, Any] | None:
        live = kube.get("Deployment", name, namespace)
        status = live.get("status") or {}
        progressing = [c for c in status.get("conditions") or () if c["type"] == "Progressing"]
        finished = (status.get("observedGeneration") == live["metadata"]["generation"]
                    and progressing and progressing[0]["reason"] == "NewReplicaSetAvailable")
        return live if finished else None
    return wait_for(done)  # type: ignore[no-any-return]


def test_apply_creates_and_a_second_identical_apply_changes_nothing(kube: KubeCluster, namespace: str) -> None:
    before = kube.counters.snapshot()
    created = kube.apply(deployment("web", namespace, labels={"tier": "front"}))
    assert delta(kube.counters, before) == {"reads": 0, "writes": 1, "dry_runs": 0}
    assert created["apiVersion"] == "apps/v1" and created["kind"] == "Deployment"
    meta = created["metadata"]
    assert meta["uid"] and meta["generation"] == 1 and meta["labels"]["tier"] == "front"
    assert [m["manager"] for m in meta["managedFields"]] == [FIELD_MANAGER]

    # the deployment controller writes status after the create; a no-op apply writes nothing
    live = settled(kube, "web", namespace)
    before = kube.counters.snapshot()
    again = kube.apply(deployment("web", namespace, labels={"tier": "front"}))
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1 and again["metadata"]["uid"] == meta["uid"]
    assert kube.get("Deployment", "web", namespace)["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert delta(kube.counters, before) == {"reads": 1, "writes": 1, "dry_runs": 0}

    # nothing else writes Namespaces: the same holds right after the create
    name = f"kbe-{uuid.uuid4().hex[:8]}"
    first = kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"a": "b"}}})
    second = kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"a": "b"}}})
    kube.delete("Namespace", name)
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_apply_of_a_cluster_scoped_object_ignores_a_namespace(kube: KubeCluster) -> None:
    name = f"kbe-{uuid.uuid4().hex[:8]}"
    ns = kube.apply({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "namespace": "ignored", "labels": {"a": "b"}}})
    try:
        assert ns["metadata"]["labels"]["a"] == "b" and "namespace" not in ns["metadata"]
    finally:
        kube.delete("Namespace", name)


def test_dry_run_stores_nothing_and_counts_as_dry_run(kube: KubeCluster, namespace: str) -> None:
    before = kube.counters.snapshot()
    would_be = kube.apply(deployment("dry", namespace, replicas=3), dry_run=True)
    assert would_be["metadata"]["name"] == "dry" and would_be["spec"]["replicas"] == 3
    with pytest.raises(NotFound):
        kube.get("Deployment", "dry", namespace)
    assert delta(kube.counters, before) == {"reads": 1, "writes": 0, "dry_runs": 1}

    kube.apply(deployment("dry", namespace, replicas=1))
    changed = kube.apply(deployment("dry", namespace, replicas=5), dry_run=True)
    assert changed["spec"]["replicas"] == 5
    kube.delete("Deployment", "dry", namespace, dry_run=True)
    assert kube.get("Deployment", "dry", namespace)["spec"]["replicas"] == 1
    assert delta(kube.counters, before) == {"reads": 2, "writes": 1, "dry_runs": 3}


def test_field_ownership_follows_server_side_apply(kube: KubeCluster, namespace: str) -> None:
    kube.apply(deployment("owned", namespace, annotations={"a": "1", "b": "2"}), field_manager="manager-a")
    # manager B sets one field of its own (a partial object, as server-side apply allows)
    kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "owned", "namespace": namespace, "annotations": {"c": "3"}}},
               field_manager="manager-b")
    # A applies again without b: b goes away (A owned it alone), B's c stays
    kube.apply(deployment("owned", namespace, annotations={"a": "1"}), field_manager="manager-a")
    live = kube.get("Deployment", "owned", namespace)
    annotations = live["metadata"]["annotations"]
    annotations.pop("deployment.kubernetes.io/revision", None)  # the controller's, whenever it syncs
    assert annotations == {"a": "1", "c": "3"}
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert {"manager-a", "manager-b"} <= managers

    # taking B's field without force is an apply conflict; with force A takes it over
    with pytest.raises(Conflict) as conflict:
        kube.apply(deployment("owned", namespace, annotations={"a": "1", "c": "4"}),
                   field_manager="manager-a", force=False)
    assert "manager-b" in str(conflict.value)
    taken = kube.apply(deployment("owned", namespace, annotations={"a": "1", "c": "4"}),
                       field_manager="manager-a")
    assert taken["metadata"]["annotations"]["c"] == "4"


# ---------------------------------------------------------------------- list


def test_list_with_selector_full_and_metadata_only(kube: KubeCluster, namespace: str) -> None:
    for i in range(3):
        kube.apply(deployment(f"sel-{i}", namespace, labels={"group": "g1" if i < 2 else "g2"}))

    full = kube.list("Deployment", selector="group=g1", namespace=namespace)
    assert sorted(d["metadata"]["name"] for d in full) == ["sel-0", "sel-1"]
    for item in full:
        assert item["apiVersion"] == "apps/v1" and item["kind"] == "Deployment"
        assert "spec" in item and "status" in item

    meta = kube.list("Deployment", selector="group in (g1,g2),app!=sel-0", namespace=namespace,
                     metadata_only=True)
    assert sorted(d["metadata"]["name"] for d in meta) == ["sel-1", "sel-2"]
    for item in meta:
        assert set(item) == {"apiVersion", "kind", "metadata"}
        assert item["apiVersion"] == "apps/v1" and item["kind"] == "Deployment"
        assert item["metadata"]["labels"]["group"] and item["metadata"]["uid"]

    everywhere = kube.list("Deployment", selector="group,app=sel-2")
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in everywhere] == [(namespace, "sel-2")]
    assert kube.list("Deployment", selector="group=none", namespace=namespace) == []
    namespaces = kube.list("Namespace", metadata_only=True)
    assert namespace in {n["metadata"]["name"] for n in namespaces}
    assert all(n["apiVersion"] == "v1" and n["kind"] == "Namespace" for n in namespaces)


def test_list_follows_continue_pages(kubeconfig: str, namespace: str) -> None:
    small_pages = KubeCluster.from_kubeconfig("paged", kubeconfig, page_size=2)
    try:
        for i in range(5):
            small_pages.apply(deployment(f"page-{i}", namespace))
        before = small_pages.counters.snapshot()
        names = [d["metadata"]["name"] for d in small_pages.list("Deployment", namespace=namespace)]
        assert names == [f"page-{i}" for i in range(5)]
        assert delta(small_pages.counters, before)["reads"] == 3
        metadata = small_pages.list("Deployment", namespace=namespace, metadata_only=True)
        assert [d["metadata"]["name"] for d in metadata] == names
        assert delta(small_pages.counters, before)["reads"] == 6
    finally:
        small_pages.close()


def test_list_from_cache_reads_workloads_in_one_request(kubeconfig: str, namespace: str) -> None:
    cached = KubeCluster.from_kubeconfig("cached", kubeconfig, page_size=2, list_from_cache=True)
    try:
        for i in range(5):
            cached.apply(deployment(f"cache-{i}", namespace))
        # resourceVersion=0 may trail the writes a little: the watch cache catches up quickly
        wait_for(lambda: len(cached.list("Deployment", namespace=namespace)) == 5, timeout=10)
        before = cached.counters.snapshot()
        items = cached.list("Deployment", namespace=namespace)
        assert [d["kind"] for d in items] == ["Deployment"] * 5
        assert delta(cached.counters, before)["reads"] == 1  # the server ignores limit here
        cached.list("Deployment", namespace=namespace, metadata_only=True)  # metadata: paged
        assert delta(cached.counters, before)["reads"] == 4
    finally:
        cached.close()


# ---------------------------------------------------------------------- errors


def test_get_and_delete_of_a_missing_object_raise_not_found(kube: KubeCluster, namespace: str) -> None:
    with pytest.raises(NotFound) as missing:
        kube.get("Deployment", "nope", namespace)
    assert f"Deployment {namespace}/nope" in str(missing.value) and "not found" in str(missing.value)
    assert missing.value.status == 404 and missing.value.reason == "NotFound"
    with pytest.raises(NotFound):
        kube.delete("Deployment", "nope", namespace)
    with pytest.raises(NotFound):
        rollout(kube, "Deployment", "nope", namespace)


def test_delete_with_a_wrong_uid_is_a_conflict(kube: KubeCluster, namespace: str) -> None:
    uid = kube.apply(deployment("victim", namespace))["metadata"]["uid"]
    before = kube.counters.snapshot()
    with pytest.raises(Conflict) as conflict:
        kube.delete("Deployment", "victim", namespace, uid="00000000-0000-0000-0000-000000000000")
    assert "victim" in str(conflict.value) and "precondition" in str(conflict.value).lower()
    assert delta(kube.counters, before) == {"reads": 0, "writes": 1, "dry_runs": 0}  # not retried
    kube.get("Deployment", "victim", namespace)
    kube.delete("Deployment", "victim", namespace, uid=uid, propagation="Foreground")
    wait_for(lambda: not kube.list("Deployment", namespace=namespace, selector="app=victim"))


def test_an_invalid_object_is_refused(kube: KubeCluster, namespace: str) -> None:
    before = kube.counters.snapshot()
    bad = deployment("Bad_Name", namespace)
    with pytest.raises(Invalid) as invalid:
        kube.apply(bad)
    assert f"Deployment {namespace}/Bad_Name" in str(invalid.value) and "metadata.name" in str(invalid.value)
    wrong_selector = deployment("mismatch", namespace)
    wrong_selector["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(Invalid, match="selector"):
        kube.apply(wrong_selector)
    assert delta(kube.counters, before) == {"reads": 0, "writes": 2, "dry_runs": 0}
    with pytest.raises(Invalid):  # refused before any request: no namespace for a namespaced kind
        kube.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})
    with pytest.raises(Invalid):  # a bad selector string
        kube.list("Deployment", selector="a in (", namespace=namespace)


def test_unknown_context_and_unreachable_server(kubeconfig: str, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no-such-context"):
        KubeCluster.from_kubeconfig("x", kubeconfig, context="no-such-context")
    # same credentials, a port nobody listens on: retried, every attempt counted, then Unavailable
    config = yaml.safe_load(Path(kubeconfig).read_text())
    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    naps: list[float] = []
    cluster = KubeCluster.from_kubeconfig("dead", str(dead), context="test", attempts=3, sleep=naps.append)
    try:
        with pytest.raises(Unavailable, match="cannot connect"):
            cluster.list("Deployment")
        assert cluster.counters.snapshot() == {"reads": 3, "writes": 0, "dry_runs": 0}
        assert len(naps) == 2 and all(n > 0 for n in naps)
    finally:
        cluster.close()


def test_in_cluster_configuration_with_a_service_account_token(
        controlplane: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what a pod sees: the API server in two environment variables, a token and a CA file
    token = tmp_path / "token"
    token.write_text(controlplane["KUBE_ADMIN_TOKEN"])
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_CERT_FILENAME", controlplane["KUBE_CA_FILE"])
    host, _, port = controlplane["KUBE_APISERVER_URL"].removeprefix("https://").rpartition(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    with KubeCluster.in_cluster("pod") as cluster:
        assert "default" in {n["metadata"]["name"] for n in cluster.list("Namespace", metadata_only=True)}
        assert cluster.get("Namespace", "default", namespace="ignored")["kind"] == "Namespace"
        assert cluster.counters.snapshot() == {"reads": 2, "writes": 0, "dry_runs": 0}
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "none"))
    with pytest.raises(ClusterError, match="in-cluster"):
        KubeCluster.in_cluster("pod")


# ---------------------------------------------------------------------- rollout, threads


def test_a_two_replica_deployment_rolls_out(kube: KubeCluster, namespace: str) -> None:
    kube.apply(deployment("roll", namespace, replicas=2))
    status = wait_for(lambda: (s := rollout(kube, "Deployment", "roll", namespace)).complete and s)
    assert (status.replicas, status.updated, status.ready, status.available) == (2, 2, 2, 2)
    assert status.observed and not status.failed
    assert {c["type"] for c in status.conditions} >= {"Available", "Progressing"}

    kube.apply(deployment("roll", namespace, replicas=2, image="registry.invalid/app:v2"))
    status = wait_for(lambda: (s := rollout(kube, "Deployment", "roll", namespace)).complete and s)
    assert status.generation == 2 and status.observed_generation == 2 and status.updated == 2


def test_one_cluster_shared_by_threads_counts_every_request(kube: KubeCluster, namespace: str) -> None:
    for i in range(4):
        kube.apply(deployment(f"t-{i}", namespace))
    before = kube.counters.snapshot()

    def work(i: int) -> str:
        name = f"t-{i % 4}"
        assert kube.get("Deployment", name, namespace)["metadata"]["name"] == name
        kube.apply(deployment(name, namespace), dry_run=True)
        return name

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert len(list(pool.map(work, range(80)))) == 80
    assert delta(kube.counters, before) == {"reads": 80, "writes": 0, "dry_runs": 80}
    assert kube.stats.snapshot()["retries"] == 0
