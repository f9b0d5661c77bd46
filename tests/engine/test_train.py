"""Health gating: halted trains, rollbacks, resume (pure; the health comes in as data)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.engine.health import FAILED, PROGRESSING, UNAVAILABLE, Health
from reconciler.engine.marks import FAILED_CONFIG_SHA, FAILED_REASON, LAST_HEALTHY, RESUMED_CONFIG_SHA, key, label
from reconciler.engine.owned import pack, unpack
from reconciler.engine.actions import Desired, Plan, Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Policy
from reconciler.engine.train import guard, resume_mark
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
POLICY = Policy("norcal-prod", DOMAIN)
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
K8S = "".join(f"{name}: {{instances: 2, deploy_group: prod}}\n" for name in ("a", "b", "c")) + \
    "d: {instances: 2, deploy_group: canary}\n"


def desired(name: str, k8s: str = K8S) -> list[Desired]:
    result = render(k8s, name, deployed={"prod": "1" * 40, "canary": "1" * 40})
    assert result.objects, result.error_text()
    return [Desired(o, "svc", name) for o in result.objects]


def workload(items: list[Desired]) -> dict[str, Any]:
    return next(copy.deepcopy(dict(d.obj)) for d in items if d.obj["kind"] == "Deployment")


def live_of(items: list[Desired], *, config: str | None = None, annotations: dict[str, str] | None = None,
            started: datetime = NOW - timedelta(minutes=5)) -> list[dict[str, Any]]:
    out = []
    for d in items:
        obj = copy.deepcopy(dict(d.obj))
        meta = obj["metadata"]
        meta.update(uid="u", generation=1, creationTimestamp="2024-04-01T00:00:00Z")
        if obj["kind"] == "Deployment":
            if config is not None:
                meta["labels"][f"{DOMAIN}/config_sha"] = config
            meta["annotations"] = {key(DOMAIN, "bounce-started-at"): started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   **(annotations or {})}
        out.append(obj)
    return out


def sha(items: list[Desired]) -> str:
    found = label(workload(items), DOMAIN, "config_sha")
    assert found
    return found


def planned(want: list[Desired], live: list[dict[str, Any]]) -> Plan:
    return plan(Wanted(want), live, POLICY)


def action(p: Plan, instance: str) -> Any:
    return next(a for a in p.actions if a.instance == instance and a.kind == "Deployment")


def failed(instance: str) -> dict[tuple[str, str | None, str], Health]:
    return {("Deployment", "paastasvc-svc", f"svc-{instance}"): Health(FAILED, "pods of the new revision cannot run")}


def scenario(*, a_annotations: dict[str, str] | None = None, a_config: str | None = None) -> tuple[list[Desired], list[dict[str, Any]]]:
    """a fails on what git asks; b and c (same group) and d (canary) have a new config to roll."""
    want = desired("a") + desired("b") + desired("c") + desired("d")
    live = (live_of(desired("a"), annotations=a_annotations, config=a_config)
            + live_of(desired("b"), config="configold") + live_of(desired("d"), config="configold"))
    return want, live   # c is not on the cluster yet: a create


def test_a_failed_rollout_halts_its_deploy_group() -> None:
    want, live = scenario()
    p = guard(planned(want, live), failed("a"), POLICY)
    assert action(p, "a").action == "noop"
    b = action(p, "b")
    assert b.action == "wait" and b.reason.startswith("train halted: svc.a: rollout of ")
    assert "reconciler resume svc.a --cluster norcal-prod" in b.reason
    assert action(p, "c").action == "create"     # not a bounce: never held
    assert action(p, "d").action == "update"     # another deploy group
    (halt,) = p.halts
    assert (halt.deploy_group, halt.service, halt.instance) == ("prod", "svc", "a")
    assert halt.failed_config_sha == sha(desired("a")) and halt.rolled_back_to is None
    assert "not rolled back" not in halt.reason  # auto_rollback is off


def test_auto_rollback_reapplies_the_last_healthy_rendering() -> None:
    previous = workload(desired("a", K8S.replace("a: {instances: 2", "a: {instances: 2, cmd: old")))
    old_sha = label(previous, DOMAIN, "config_sha")
    want, live = scenario(a_annotations={key(DOMAIN, LAST_HEALTHY): pack(previous)})
    p = guard(planned(want, live), failed("a"), POLICY, auto_rollback=frozenset({("svc", "a")}))
    a = action(p, "a")
    assert a.action == "update" and a.rollback and a.reason.startswith("rollback: rollout of ")
    assert a.reason.endswith(f"re-applying the last healthy rendering {old_sha}")
    assert a.desired is not None
    assert label(a.desired, DOMAIN, "config_sha") == old_sha
    assert a.desired["spec"]["template"] == previous["spec"]["template"]
    annotations = a.desired["metadata"]["annotations"]
    assert annotations[key(DOMAIN, FAILED_CONFIG_SHA)] == sha(desired("a"))
    assert annotations[key(DOMAIN, FAILED_REASON)].startswith("rollout of ")  # the cause outlives the pods
    assert p.halts[0].rolled_back_to == old_sha
    assert action(p, "b").action == "wait"


def test_auto_rollback_without_a_healthy_rendering_halts_and_says_so() -> None:
    want, live = scenario()
    p = guard(planned(want, live), failed("a"), POLICY, auto_rollback=frozenset({("svc", "a")}))
    assert action(p, "a").action == "noop"
    assert p.halts[0].reason.endswith("not rolled back: no healthy rendering recorded to roll back to")
    bad = {key(DOMAIN, LAST_HEALTHY): "not base64!"}
    want, live = scenario(a_annotations=bad)
    p = guard(planned(want, live), failed("a"), POLICY, auto_rollback=frozenset({("svc", "a")}))
    assert "the last-healthy annotation is unreadable" in p.halts[0].reason


def test_a_rolled_back_instance_keeps_the_train_halted_until_git_changes() -> None:
    failed_sha = sha(desired("a"))
    want, live = scenario(a_config="configold", a_annotations={key(DOMAIN, FAILED_CONFIG_SHA): failed_sha})
    p = guard(planned(want, live), {}, POLICY)
    assert action(p, "a").action == "wait" and "rolled back to configold; git asks for " + failed_sha in action(p, "a").reason
    assert action(p, "b").action == "wait"
    assert p.halts[0].rolled_back_to == "configold"


def test_the_cause_of_a_failure_is_told_after_the_rollback() -> None:
    failed_sha = sha(desired("a"))
    want, live = scenario(a_config="configold", a_annotations={
        key(DOMAIN, FAILED_CONFIG_SHA): failed_sha,
        key(DOMAIN, FAILED_REASON): f"rollout of {failed_sha} failed: CrashLoopBackOff: back-off restarting"})
    p = guard(planned(want, live), {}, POLICY)
    assert p.halts[0].reason == (f"rolled back to configold after: rollout of {failed_sha} failed: CrashLoopBackOff: "
                                 f"back-off restarting; git asks for {failed_sha}")
    # git moves on: a new config for a => its desired config_sha differs from the failed one
    moved = desired("a", K8S.replace("a: {instances: 2", "a: {instances: 2, cmd: fixed"))
    p = guard(planned(moved + want[len(desired("a")):], live), {}, POLICY)
    assert not p.halts and action(p, "a").action == "update" and action(p, "b").action == "update"


def test_resume_lifts_a_halt_once() -> None:
    failed_sha = sha(desired("a"))
    rolled_back = {key(DOMAIN, FAILED_CONFIG_SHA): failed_sha}
    resumed = {**rolled_back, key(DOMAIN, RESUMED_CONFIG_SHA): resume_mark(failed_sha, NOW)}
    want, live = scenario(a_config="configold", a_annotations=resumed)
    p = guard(planned(want, live), {}, POLICY)
    assert not p.halts and action(p, "a").action == "update" and action(p, "b").action == "update"
    # a rollout of the same config_sha that started after the resume and failed halts again
    want, live = scenario(a_annotations={key(DOMAIN, RESUMED_CONFIG_SHA): resume_mark(failed_sha, NOW - timedelta(hours=1))})
    p = guard(planned(want, live), failed("a"), POLICY)
    assert p.halts
    # a resume of another config_sha lifts nothing
    want, live = scenario(a_annotations={key(DOMAIN, RESUMED_CONFIG_SHA): resume_mark("config0000", NOW)})
    assert guard(planned(want, live), failed("a"), POLICY).halts


def test_failures_that_are_not_of_what_git_asks_halt_nothing() -> None:
    want, live = scenario(a_config="configold")            # git already moved on: the update is the fix
    p = guard(planned(want, live), failed("a"), POLICY)
    assert not p.halts and action(p, "a").action == "update" and action(p, "b").action == "update"
    want, live = scenario()
    for state in (Health(UNAVAILABLE, "node lost"), Health(PROGRESSING)):
        key_a = ("Deployment", "paastasvc-svc", "svc-a")
        assert not guard(planned(want, live), {key_a: state}, POLICY).halts


def test_packed_rendering_round_trips() -> None:
    obj = workload(desired("a"))
    assert unpack(pack(obj)) == obj


def test_a_halt_holds_only_its_own_service() -> None:
    other = [Desired(d.obj, "other", d.instance) for d in desired("b")]
    # another service whose instance b has a deploy group of the same name (prod), and a new config
    other = [Desired({**d.obj, "metadata": {**d.obj["metadata"], "name": "other-b"}}, "other", "b") for d in other]
    want, live = scenario()
    other_live = live_of(other, config="configold")
    p = guard(planned(want + other, live + other_live), failed("a"), POLICY)
    assert action(p, "b").action == "wait"
    held = [a for a in p.actions if a.service == "other" and a.kind == "Deployment"]
    assert [a.action for a in held] == ["update"]
