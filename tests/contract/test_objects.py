"""Every protocol operation on plain objects: apply, get, list, delete, errors, counters."""

from __future__ import annotations

import pytest

from reconciler.cluster.errors import Conflict, Invalid, NotFound
from reconciler.cluster.protocol import INITIAL_REPLICAS_MANAGER, Cluster
from tests.contract.conftest import deployment


def test_apply_creates_and_get_reads_back(cluster: Cluster, namespace: str) -> None:
    created = cluster.apply(deployment("web", namespace, labels={"tier": "front"}))
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["generation"] == 1
    assert meta["labels"]["tier"] == "front"
    read = cluster.get("Deployment", "web", namespace)
    assert read["apiVersion"] == "apps/v1" and read["kind"] == "Deployment"
    assert read["metadata"]["uid"] == meta["uid"]
    assert read["spec"]["replicas"] == 2
    assert read["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/app:v1"


def test_no_op_apply_changes_nothing(cluster: Cluster, namespace: str) -> None:
    # A Lease has no controller writing its status, so its resourceVersion must not move at all.
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "steady", "namespace": namespace},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    first = cluster.apply(lease)
    assert cluster.apply(lease)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    # A Deployment's controller writes status meanwhile: the object as applied stays the same.
    first = cluster.apply(deployment("web", namespace))
    again = cluster.apply(deployment("web", namespace))
    assert again["metadata"]["generation"] == first["metadata"]["generation"] == 1
    assert again["spec"] == first["spec"]
    ours = [[f for f in obj["metadata"]["managedFields"] if f["manager"] == "reconciler"] for obj in (first, again)]
    assert ours[0] == ours[1] and ours[0]


def test_dry_run_stores_nothing_and_counts_as_dry_run(cluster: Cluster, namespace: str) -> None:
    before = cluster.counters.snapshot()
    preview = cluster.apply(deployment("ghost", namespace), dry_run=True)
    assert preview["metadata"]["name"] == "ghost"
    after = cluster.counters.snapshot()
    assert after["dry_runs"] == before["dry_runs"] + 1 and after["writes"] == before["writes"]
    with pytest.raises(NotFound):
        cluster.get("Deployment", "ghost", namespace)


def test_spec_change_bumps_generation_label_change_does_not(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace))
    relabelled = cluster.apply(deployment("web", namespace, labels={"extra": "yes"}))
    assert relabelled["metadata"]["generation"] == 1
    changed = cluster.apply(deployment("web", namespace, labels={"extra": "yes"}, image="registry.example.com/app:v2"))
    assert changed["metadata"]["generation"] == 2


def test_apply_removes_fields_the_manager_dropped_and_keeps_others(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, annotations={"example.com/a": "1", "example.com/b": "2"}))
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": namespace,
                                "annotations": {"someone.else/note": "keep me"}}},
                  field_manager="someone-else")
    result = cluster.apply(deployment("web", namespace, annotations={"example.com/a": "1"}))
    annotations = result["metadata"].get("annotations", {})
    assert annotations.get("example.com/a") == "1"
    assert "example.com/b" not in annotations
    assert annotations.get("someone.else/note") == "keep me"


def test_replicas_written_once_by_another_manager_survive_our_apply(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("auto", namespace, replicas=None))
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "auto", "namespace": namespace}, "spec": {"replicas": 3}},
                  field_manager=INITIAL_REPLICAS_MANAGER)
    again = cluster.apply(deployment("auto", namespace, replicas=None, image="registry.example.com/app:v2"))
    assert again["spec"]["replicas"] == 3


def test_apply_without_force_conflicts_with_another_owner(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=2))
    with pytest.raises(Conflict):
        cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "namespace": namespace}, "spec": {"replicas": 5}},
                      field_manager="intruder", force=False)
    taken = cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "namespace": namespace}, "spec": {"replicas": 5}},
                          field_manager="intruder", force=True)
    assert taken["spec"]["replicas"] == 5


def test_list_by_label_selector_and_namespace(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("a", namespace, labels={"team": "x"}))
    cluster.apply(deployment("b", namespace, labels={"team": "y"}))
    cluster.apply(deployment("c", namespace, labels={"team": "x", "canary": "true"}))
    names = lambda items: sorted(i["metadata"]["name"] for i in items)  # noqa: E731
    assert names(cluster.list("Deployment", selector="team=x", namespace=namespace)) == ["a", "c"]
    assert names(cluster.list("Deployment", selector="team=x,!canary", namespace=namespace)) == ["a"]
    assert names(cluster.list("Deployment", selector="team in (x,y)", namespace=namespace)) == ["a", "b", "c"]
    assert names(cluster.list("Deployment", selector="team!=x", namespace=namespace)) == ["b"]
    everywhere = cluster.list("Deployment", selector="example.com/managed=true")
    assert {"a", "b", "c"} <= set(names(everywhere))
    assert all(i["kind"] == "Deployment" and i["apiVersion"] == "apps/v1" for i in everywhere)


def test_metadata_only_listing(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("a", namespace, labels={"team": "x"}))
    [item] = cluster.list("Deployment", selector="team=x", namespace=namespace, metadata_only=True)
    assert item["metadata"]["name"] == "a" and item["metadata"]["labels"]["team"] == "x"
    assert item["metadata"]["resourceVersion"] and item["metadata"]["uid"]
    assert "spec" not in item and "status" not in item


def test_list_and_get_count_as_reads(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("a", namespace))
    before = cluster.counters.snapshot()
    cluster.list("Deployment", namespace=namespace)
    cluster.get("Deployment", "a", namespace)
    after = cluster.counters.snapshot()
    assert after["reads"] == before["reads"] + 2 and after["writes"] == before["writes"]


def test_get_missing_raises_not_found(cluster: Cluster, namespace: str) -> None:
    with pytest.raises(NotFound):
        cluster.get("Deployment", "nope", namespace)


def test_apply_into_missing_namespace_is_not_found(cluster: Cluster) -> None:
    with pytest.raises(NotFound):
        cluster.apply(deployment("web", "no-such-namespace-here"))


def test_selector_not_matching_template_is_invalid(cluster: Cluster, namespace: str) -> None:
    bad = deployment("web", namespace)
    bad["spec"]["selector"]["matchLabels"] = {"other": "label"}
    with pytest.raises(Invalid):
        cluster.apply(bad)


def test_selector_is_immutable(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace))
    changed = deployment("web", namespace)
    changed["spec"]["selector"]["matchLabels"]["extra"] = "x"
    changed["spec"]["template"]["metadata"]["labels"]["extra"] = "x"
    with pytest.raises(Invalid):
        cluster.apply(changed)


def test_delete_and_uid_precondition(cluster: Cluster, namespace: str) -> None:
    created = cluster.apply(deployment("web", namespace))
    with pytest.raises(Conflict):
        cluster.delete("Deployment", "web", namespace, uid="00000000-0000-0000-0000-000000000000")
    cluster.get("Deployment", "web", namespace)  # still there
    before = cluster.counters.snapshot()
    cluster.delete("Deployment", "web", namespace, uid=created["metadata"]["uid"])
    assert cluster.counters.snapshot()["writes"] == before["writes"] + 1

    def gone() -> bool:
        try:
            cluster.get("Deployment", "web", namespace)
        except NotFound:
            return True
        return False

    from tests.contract.conftest import wait_for
    wait_for(gone, timeout=30, what="deletion")
    with pytest.raises(NotFound):
        cluster.delete("Deployment", "web", namespace)


def test_dry_run_delete_keeps_the_object(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace))
    cluster.delete("Deployment", "web", namespace, dry_run=True)
    assert cluster.get("Deployment", "web", namespace)["metadata"]["name"] == "web"


def test_other_kinds_round_trip(cluster: Cluster, namespace: str) -> None:
    selector = {"matchLabels": {"app.example.com/name": "web"}}
    pdb = cluster.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                         "metadata": {"name": "web", "namespace": namespace},
                         "spec": {"maxUnavailable": "10%", "selector": selector}})
    assert pdb["spec"]["maxUnavailable"] == "10%"
    hpa = cluster.apply({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"name": "web", "namespace": namespace},
                         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                  "minReplicas": 1, "maxReplicas": 4,
                                  "metrics": [{"type": "Resource", "resource": {
                                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}})
    assert hpa["spec"]["maxReplicas"] == 4
    lease = cluster.apply({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": "reconciler-x", "namespace": namespace},
                           "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}})
    assert lease["spec"]["holderIdentity"] == "me"
    ns = cluster.get("Namespace", namespace)
    assert ns["status"]["phase"] == "Active"
