"""5xx in the middle of an apply, on the real control plane: no duplicate, no loss.

The HTTP pool of the Kubernetes backend is wrapped so that chosen write requests answer 503,
either *before* reaching the API server (it never acted) or *after* it (the server acted and
the answer was lost: the worst case for a retry). Every object must end up applied exactly once,
as rendered, and the next cycle must find nothing to do.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from reconciler.cluster.kube.backend import KubeCluster
from reconciler.config import ClusterConfig
from reconciler.reconcile.cycle import Mode, policy_for, reconcile
from reconciler.reconcile.revision import Revision
from reconciler.render.settings import RenderSettings
from reconciler.sources.directory import DirectoryTree
from tests.support.controlplane import ControlPlane

pytestmark = pytest.mark.kube

DOMAIN = "paasta.yelp.com"
SHA = "d" * 40


class FlakyPool:
    """A urllib3 pool that answers 503 to the writes numbered in `before` (not sent) and
    `after` (sent, the server's answer replaced), counting writes from 1, and to the first write
    whose "METHOD url" contains each of `lose_once` (sent, the answer replaced)."""

    def __init__(self, pool: urllib3.PoolManager, *, before: set[int], after: set[int]) -> None:
        self.pool, self.before, self.after = pool, before, after
        self.lose_once: set[str] = set()
        self.writes = 0
        self.injected: list[tuple[str, str, str]] = []

    def request(self, method: str, url: str, **kw: Any) -> Any:
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            self.writes += 1
            if self.writes in self.before:
                self.injected.append(("before", method, url))
                return self._unavailable()
            lost = next((part for part in self.lose_once if part in f"{method} {url}"), None)
            if lost is not None:
                self.lose_once.discard(lost)
            if self.writes in self.after or lost is not None:
                response = self.pool.request(method, url, **kw)
                response.read()
                response.release_conn()
                self.injected.append(("after", method, url))
                return self._unavailable()
        return self.pool.request(method, url, **kw)

    @staticmethod
    def _unavailable() -> urllib3.HTTPResponse:
        body = json.dumps({"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable",
                           "message": "injected by the test", "code": 503}).encode()
        return urllib3.HTTPResponse(body=io.BytesIO(body), status=503, headers={"Content-Type": "application/json"},
                                    preload_content=False)


def write_service(root: Path, service: str, instances: str) -> None:
    base = root / service
    base.mkdir(parents=True, exist_ok=True)
    (base / "service.yaml").write_text("description: flaky\n")
    (base / "kubernetes-local.yaml").write_text(instances)
    (base / "deployments.json").write_text(json.dumps({"v2": {"deployments": {
        g: {"docker_image": f"services-{service}:paasta-{SHA}", "git_sha": SHA, "image_version": None}
        for g in ("local.web", "local.auto", "local.gone")}, "controls": {}}}))


@pytest.fixture
def flaky(kube_controlplane: ControlPlane) -> Iterator[tuple[KubeCluster, FlakyPool]]:
    cluster = KubeCluster.from_kubeconfig("kube", str(kube_controlplane.kubeconfig))
    connection = cluster._connection  # noqa: SLF001 - the test replaces the transport's pool
    pool = FlakyPool(connection.pool, before=set(), after=set())
    connection.pool = pool  # type: ignore[assignment]
    yield cluster, pool
    cluster.close()


def test_server_errors_mid_apply_lose_nothing_and_duplicate_nothing(flaky: tuple[KubeCluster, FlakyPool],
                                                                    tmp_path: Path) -> None:
    cluster, pool = flaky
    service = f"flaky{tmp_path.name[-6:].replace('_', '').lower()}"
    namespace = f"paastasvc-{service}"
    root = tmp_path / "soa"
    write_service(root, service, "web: {instances: 2}\nauto: {min_instances: 1, max_instances: 3}\n"
                                 "gone: {instances: 1}\n")
    settings = ClusterConfig("local", prune=True, max_prune_fraction=1.0)
    ledger = f"ledger-{service}"  # its own prune ledger: other tests' prunes on this cluster are not counted

    def cycle() -> Any:
        revision = Revision.of(DirectoryTree(root), ["local"], lambda c: RenderSettings(cluster=c), [service])
        return reconcile(cluster, policy_for(settings, DOMAIN, ledger), revision, Mode(apply=True, services=frozenset({service})))

    try:
        # Writes of the first cycle: 1 Namespace, 2 Deployment web, 3 Deployment auto, 4 its
        # initial replicas, 5 Deployment gone, 6.. PDBs and the HPA.
        pool.before, pool.after = {2, 7}, {3, 4, 9}
        first = cycle()
        assert not first.failed, [o.as_dict() for o in first.failed]
        assert len(pool.injected) == 5
        assert cluster._http.stats.retries == 5  # noqa: SLF001 - every injected failure was retried once
        names = {(o["kind"], o["metadata"]["name"]) for kind in ("Deployment", "PodDisruptionBudget",
                                                                  "HorizontalPodAutoscaler")
                 for o in cluster.list(kind, namespace=namespace)}
        assert names == {("Deployment", f"{service}-web"), ("Deployment", f"{service}-auto"),
                         ("Deployment", f"{service}-gone"), ("PodDisruptionBudget", f"{service}-web"),
                         ("PodDisruptionBudget", f"{service}-auto"), ("PodDisruptionBudget", f"{service}-gone"),
                         ("HorizontalPodAutoscaler", f"{service}-auto")}
        web = cluster.get("Deployment", f"{service}-web", namespace)
        assert web["metadata"]["generation"] == 1  # applied once in effect: the retry changed nothing
        assert cluster.get("Deployment", f"{service}-auto", namespace)["spec"]["replicas"] == 1
        assert cycle().requests["writes"] == 0

        # The prune ledger's write and then a delete lose their answers: the ledger's retry finds
        # its entries already recorded (recorded once), the delete's (uid precondition) finds it gone.
        write_service(root, service, "web: {instances: 2}\nauto: {min_instances: 1, max_instances: 3}\n")
        pool.writes, pool.before, pool.after, pool.injected = 0, set(), set(), []
        pool.lose_once = {f"namespaces/{ledger}/configmaps", "DELETE"}
        pruned = cycle()
        assert not pruned.failed and [a.kind for a in pruned.plan.actions if a.action == "delete"] == [
            "PodDisruptionBudget", "Deployment"]
        assert len(pool.injected) == 2 and pool.injected[1][1] == "DELETE", pool.injected
        entries = json.loads(cluster.get("ConfigMap", "reconciler-prune-ledger", ledger)["data"]["deletions"])
        assert [e["kind"] for e in entries] == ["Deployment"], entries  # recorded once (PDBs are not counted)
        assert {o["metadata"]["name"] for o in cluster.list("Deployment", namespace=namespace)} == {
            f"{service}-web", f"{service}-auto"}
        assert cycle().requests["writes"] == 0
    finally:
        try:
            cluster.delete("Namespace", namespace)
            cluster.delete("Namespace", ledger)
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
            pass
