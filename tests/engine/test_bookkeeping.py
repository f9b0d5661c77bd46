"""The bookkeeping annotations each workload write carries (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from reconciler.engine.bookkeeping import annotate
from reconciler.engine.marks import BOUNCE_STARTED, FAILED_CONFIG_SHA, LAST_HEALTHY, RESUMED_CONFIG_SHA, key
from reconciler.engine.owned import pack, unpack
from reconciler.engine.actions import Action, Plan, PruneDecision
from reconciler.engine.policy import Policy

DOMAIN = "paasta.yelp.com"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
STAMP = "2024-05-01T12:00:00.000Z"
FIELDS = {"f:metadata": {"f:labels": {"f:paasta.yelp.com/config_sha": {}},
                         "f:annotations": {"f:paasta.yelp.com/bounce-started-at": {}}},
          "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"main"}': {
              ".": {}, "f:name": {}, "f:image": {}}}}}}}


def workload(config: str, image: str, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "svc-main", "namespace": "paastasvc-svc",
                         "labels": {f"{DOMAIN}/config_sha": config},
                         **({"annotations": {key(DOMAIN, k.replace("_", "-")): v for k, v in annotations.items()}}
                            if annotations else {})},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}


def live(config: str, image: str, *, complete: bool = True, **annotations: str) -> dict[str, Any]:
    obj = workload(config, image, **annotations)
    obj["metadata"].update(generation=3, managedFields=[
        {"manager": "reconciler", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": FIELDS},
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}])
    obj["status"] = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2 if complete else 1,
                     "availableReplicas": 2, "readyReplicas": 2}
    return obj


def one(action: str, desired: dict[str, Any] | None, current: dict[str, Any] | None, rollback: bool = False) -> Action:
    marked = annotate(Plan("c", (Action(action, "Deployment", "paastasvc-svc", "svc-main", "svc", "main", "why",
                                        desired, current, rollback),), PruneDecision(0, False, None)),
                      Policy("c", DOMAIN), now=NOW)
    return marked.actions[0]


def annotations(action: Action) -> dict[str, str]:
    assert action.desired is not None
    return dict(action.desired["metadata"].get("annotations") or {})


def test_a_bounce_stores_the_completed_rendering_it_replaces() -> None:
    before = live("configold", "img:1", bounce_started_at="2024-04-01T00:00:00Z")
    marks = annotations(one("update", workload("confignew", "img:2"), before))
    assert marks[key(DOMAIN, BOUNCE_STARTED)] == STAMP
    stored = unpack(marks[key(DOMAIN, LAST_HEALTHY)])
    assert stored == {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "svc-main", "namespace": "paastasvc-svc",
                                   "labels": {f"{DOMAIN}/config_sha": "configold"}},
                      "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "img:1"}]}}}}


def test_a_bounce_over_an_unfinished_rollout_keeps_the_older_healthy_rendering() -> None:
    older = pack({"kind": "Deployment", "metadata": {"labels": {f"{DOMAIN}/config_sha": "config0"}}})
    before = live("configold", "img:1", complete=False, last_healthy=older)
    assert annotations(one("update", workload("confignew", "img:2"), before))[key(DOMAIN, LAST_HEALTHY)] == older
    # drift repair (same config_sha) keeps the stored rendering too: the live one is the drifted one
    before = live("confignew", "img:1", last_healthy=older)
    assert annotations(one("update", workload("confignew", "img:2"), before))[key(DOMAIN, LAST_HEALTHY)] == older


def test_scale_keeps_marks_and_drops_a_stale_failed_mark() -> None:
    before = live("configx", "img:1", bounce_started_at="2024-04-01T00:00:00Z", last_healthy="abc",
                  failed_config_sha="configbad")
    assert annotations(one("scale", workload("configx", "img:1"), before)) == {
        key(DOMAIN, BOUNCE_STARTED): "2024-04-01T00:00:00Z", key(DOMAIN, LAST_HEALTHY): "abc"}


def test_a_rollback_keeps_its_failed_mark_and_the_stored_rendering() -> None:
    rollback = workload("configold", "img:1", failed_config_sha="configbad")
    before = live("configbad", "img:crashloop", complete=False, last_healthy="abc")
    assert annotations(one("update", rollback, before, rollback=True)) == {
        key(DOMAIN, FAILED_CONFIG_SHA): "configbad", key(DOMAIN, BOUNCE_STARTED): STAMP,
        key(DOMAIN, LAST_HEALTHY): "abc"}


def test_creates_start_clean_and_other_actions_are_untouched() -> None:
    fresh = workload("config1", "img:1")
    assert "annotations" not in one("create", copy.deepcopy(fresh), None).desired["metadata"]  # type: ignore[index]
    before = live("config1", "img:1", resumed_config_sha="x@y")
    for name in ("noop", "wait"):
        assert one(name, fresh, before).desired is fresh
    # resume's own annotation belongs to another field manager: never repeated by our applies
    assert key(DOMAIN, RESUMED_CONFIG_SHA) not in annotations(one("update", workload("config2", "img:2"), before))
