"""Leader election on a Lease, on both backends: one holder at a time, takeover after expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from reconciler.cluster.errors import Conflict
from reconciler.cluster.protocol import Cluster
from reconciler.daemon.leader import FileLockElector, LeaseElector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lease_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"lease-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        cluster.delete("Namespace", name)
    except Exception:  # noqa: BLE001 - cleanup
        pass


def electors(cluster: Cluster, namespace: str) -> tuple[LeaseElector, LeaseElector, Clock, Clock]:
    ca, cb = Clock(), Clock()
    a = LeaseElector(lambda: cluster, "reconciler-test", namespace, "a", lease_duration=15, renew_deadline=10, clock=ca)
    b = LeaseElector(lambda: cluster, "reconciler-test", namespace, "b", lease_duration=15, renew_deadline=10, clock=cb)
    return a, b, ca, cb


def test_one_holder_and_takeover_after_expiry(cluster: Cluster, lease_namespace: str) -> None:
    a, b, ca, cb = electors(cluster, lease_namespace)
    a.renew()
    b.renew()
    assert a.is_leader() and not b.is_leader()
    lease = cluster.get("Lease", "reconciler-test", lease_namespace)
    assert lease["spec"]["holderIdentity"] == "a" and lease["spec"]["leaseDurationSeconds"] == 15
    for _ in range(3):  # a keeps renewing: b never takes over, however long it waits
        ca.now += 5
        cb.now += 5
        a.renew()
        b.renew()
        assert a.is_leader() and not b.is_leader()
    # a stops renewing (killed): it stops counting itself leader after renew_deadline...
    ca.now += 10.5
    assert not a.is_leader()
    # ...and b takes over once the record has not changed for lease_duration on b's clock
    cb.now += 10
    b.renew()
    assert not b.is_leader()
    cb.now += 6
    b.renew()
    assert b.is_leader()
    lease = cluster.get("Lease", "reconciler-test", lease_namespace)
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    a.renew()  # a comes back: b holds a fresh lease
    assert not a.is_leader()


def test_release_hands_over_at_once(cluster: Cluster, lease_namespace: str) -> None:
    a, b, _, _ = electors(cluster, lease_namespace)
    a.renew()
    a.release()
    assert not a.is_leader()
    assert cluster.get("Lease", "reconciler-test", lease_namespace)["spec"]["holderIdentity"] == ""
    b.renew()  # no holder: b takes it without waiting for an expiry
    assert b.is_leader()
    assert cluster.get("Lease", "reconciler-test", lease_namespace)["spec"]["holderIdentity"] == "b"


def test_a_stale_write_loses_the_race(cluster: Cluster, lease_namespace: str) -> None:
    a, _, _, _ = electors(cluster, lease_namespace)
    a.renew()
    lease = cluster.get("Lease", "reconciler-test", lease_namespace)
    stale = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "reconciler-test", "namespace": lease_namespace,
                          "resourceVersion": lease["metadata"]["resourceVersion"]},
             "spec": {**lease["spec"], "holderIdentity": "x"}}
    a.renew()  # a renews: the resourceVersion moves on
    with pytest.raises(Conflict):
        cluster.apply(stale, field_manager="reconciler-leader")
    with pytest.raises(Conflict):
        cluster.create({k: v for k, v in stale.items() if k != "metadata"}
                       | {"metadata": {"name": "reconciler-test", "namespace": lease_namespace}})


def test_file_lock_elector(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = FileLockElector(tmp_path / "locks/local.lock"), FileLockElector(tmp_path / "locks/local.lock")
    first.renew()
    second.renew()
    assert first.is_leader() and not second.is_leader()
    first.release()
    second.renew()
    assert second.is_leader()
