"""Pure helpers of the cluster layer: selector parsing, rollout status, kinds, error mapping."""

from __future__ import annotations

import pytest

from reconciler.cluster.errors import Conflict, Forbidden, Invalid, NotFound, Timeout, Unavailable, from_status
from reconciler.cluster.selectors import Requirement, parse_selector
from reconciler.engine.health import rollout_status
from reconciler.kinds import kind_of


def test_parse_selector() -> None:
    assert parse_selector("a=b,c!=d,e,!f,g in (x, y),h notin (z),i==j") == (
        Requirement("a", "=", ("b",)), Requirement("c", "!=", ("d",)), Requirement("e", "exists"),
        Requirement("f", "!exists"), Requirement("g", "in", ("x", "y")), Requirement("h", "notin", ("z",)),
        Requirement("i", "=", ("j",)))
    assert parse_selector("") == () and parse_selector(None) == ()
    with pytest.raises(ValueError):
        parse_selector("a b c")


def deployment(spec_replicas: int | None, **status: object) -> dict:
    spec = {} if spec_replicas is None else {"replicas": spec_replicas}
    return {"kind": "Deployment", "metadata": {"generation": 2}, "spec": spec, "status": status}


@pytest.mark.parametrize("obj, complete", [
    (deployment(3, observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=3), True),
    (deployment(3, observedGeneration=1, replicas=3, updatedReplicas=3, availableReplicas=3), False),
    (deployment(3, observedGeneration=2, replicas=4, updatedReplicas=3, availableReplicas=3), False),
    (deployment(3, observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=2), False),
    (deployment(None, observedGeneration=2, replicas=1, updatedReplicas=1, availableReplicas=1), True),
    (deployment(0, observedGeneration=2), True),
])
def test_deployment_rollout_complete_follows_kubectl(obj: dict, complete: bool) -> None:
    assert rollout_status(obj).complete is complete


def test_progress_deadline_is_a_failure() -> None:
    obj = deployment(1, observedGeneration=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    status = rollout_status(obj)
    assert status.failed and not status.complete and status.unavailable == 1


def test_statefulset_rollout_complete() -> None:
    base = {"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2}}
    done = {**base, "status": {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a",
                               "updateRevision": "a"}}
    moving = {**base, "status": {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a",
                                 "updateRevision": "b"}}
    assert rollout_status(done).complete and not rollout_status(moving).complete
    with pytest.raises(ValueError):
        rollout_status({"kind": "Pod"})


def test_kind_paths() -> None:
    assert kind_of("Deployment").path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert kind_of("Namespace").path(None, "ns") == "/api/v1/namespaces/ns"
    assert kind_of("Pod").path("ns") == "/api/v1/namespaces/ns/pods"
    with pytest.raises(ValueError):
        kind_of("ConfigMapp")


@pytest.mark.parametrize("status, kind", [(404, NotFound), (409, Conflict), (403, Forbidden), (401, Forbidden),
                                          (422, Invalid), (400, Invalid), (429, Unavailable), (500, Unavailable),
                                          (503, Unavailable), (504, Timeout)])
def test_error_mapping(status: int, kind: type) -> None:
    err = from_status(status, "boom")
    assert isinstance(err, kind) and err.status == status
