"""Releases read from deploy tags and group health: where a sha is and what the promoter does next."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reconciler.engine.release import (
    FAILED,
    HEALTHY,
    PROGRESSING,
    GroupHealth,
    Push,
    Stage,
    TagEntry,
    previous,
    release,
    release_start,
    stages,
)
from reconciler.soa.pipeline import DeployStep

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
PIPELINE = (Stage("canary", ("canary",)), Stage("prod", ("prod",)), Stage("prod-east", ("prod-east",)))


def tag(group: str, minute: int, sha: str) -> TagEntry:
    stamp = f"20261207T11{minute:02d}00"
    return TagEntry(stamp, f"paasta-{group}-{stamp}-deploy", sha)


def ok(*groups: str) -> dict[str, GroupHealth]:
    return {g: GroupHealth(HEALTHY) for g in groups}


def test_no_release_without_a_tag_on_the_first_stage_or_with_one_stage() -> None:
    assert release("svc", PIPELINE, {"prod": [tag("prod", 1, "a")]}, {}, now=NOW) is None
    assert release("svc", PIPELINE[:1], {"canary": [tag("canary", 1, "a")]}, {}, now=NOW) is None


def test_a_healthy_stage_promotes_the_next_and_then_the_release_completes() -> None:
    history = {"canary": [tag("canary", 1, "old"), tag("canary", 5, "new")], "prod": [tag("prod", 2, "old")],
               "prod-east": [tag("prod-east", 2, "old")]}
    first = release("svc", PIPELINE, history, ok("canary"), now=NOW)
    assert first is not None and first.state == "promoting" and first.step == "prod"
    assert first.pushes == (Push("prod", "new", "promote"),)
    assert [s.state for s in first.stages] == ["healthy", "promoting", "pending"]
    # prod tagged: deploying until healthy, then prod-east
    history["prod"].append(tag("prod", 6, "new"))
    rolling = release("svc", PIPELINE, history, {**ok("canary"), "prod": GroupHealth(PROGRESSING, "1 of 3 new")},
                      now=NOW)
    assert rolling is not None and rolling.state == "progressing" and not rolling.pushes
    assert "1 of 3 new" in rolling.message
    history["prod-east"].append(tag("prod-east", 7, "new"))
    final = release("svc", PIPELINE, history, ok("canary", "prod", "prod-east"), now=NOW)
    assert final is not None and final.state == "complete" and not final.pushes


def test_a_sha_the_first_stage_ran_before_is_a_rollback_not_a_release() -> None:
    history = {"canary": [tag("canary", 1, "a"), tag("canary", 2, "b"), tag("canary", 3, "a")],
               "prod": [tag("prod", 1, "a")]}
    start = release_start([history["canary"]])
    assert start is not None and start.sha == "b"
    found = release("svc", PIPELINE, history, ok("canary"), now=NOW)
    assert found is not None and found.state == "rolled_back" and not found.pushes


def test_a_manual_gate_waits_for_a_person_and_a_pushed_tag_lifts_it() -> None:
    gated = (Stage("canary", ("canary",), manual=True), Stage("prod", ("prod",)))
    history = {"canary": [tag("canary", 5, "new")], "prod": [tag("prod", 1, "old")]}
    held = release("svc", gated, history, ok("canary"), now=NOW)
    assert held is not None and held.state == "gated" and not held.pushes
    assert "reconciler promote svc --to prod" in held.message
    history["prod"].append(tag("prod", 6, "new"))
    after = release("svc", gated, history, ok("canary", "prod"), now=NOW)
    assert after is not None and after.state == "complete"


def test_auto_certify_delay_counts_from_healthy_since() -> None:
    certified = (Stage("canary", ("canary",), certify_delay=300), Stage("prod", ("prod",)))
    history = {"canary": [tag("canary", 5, "new")]}
    early = release("svc", certified, history, ok("canary"), now=NOW, healthy_since={"canary": NOW - timedelta(seconds=60)})
    assert early is not None and early.state == "certifying" and not early.pushes
    late = release("svc", certified, history, ok("canary"), now=NOW, healthy_since={"canary": NOW - timedelta(seconds=301)})
    assert late is not None and late.pushes == (Push("prod", "new", "promote"),)


def test_a_failed_stage_halts_and_with_auto_rollback_rolls_back_every_group_of_the_release() -> None:
    history = {"canary": [tag("canary", 1, "old"), tag("canary", 5, "new")],
               "prod": [tag("prod", 1, "old"), tag("prod", 6, "new")], "prod-east": [tag("prod-east", 1, "old")]}
    health = {**ok("canary"), "prod": GroupHealth(FAILED, "web.main: CrashLoopBackOff")}
    halted = release("svc", PIPELINE, history, health, now=NOW)
    assert halted is not None and halted.state == "halted" and not halted.pushes
    assert "CrashLoopBackOff" in halted.message and halted.step == "prod"
    rolling = (PIPELINE[0], Stage("prod", ("prod",), auto_rollback=True), PIPELINE[2])
    back = release("svc", rolling, history, health, now=NOW)
    assert back is not None and back.state == "rolling_back"
    assert set(back.pushes) == {Push("canary", "old", "rollback"), Push("prod", "old", "rollback")}
    # once pushed, the release reads as rolled back and nothing more is pushed
    history["canary"].append(tag("canary", 8, "old"))
    history["prod"].append(tag("prod", 8, "old"))
    done = release("svc", rolling, history, health, now=NOW)
    assert done is not None and done.state == "rolled_back" and not done.pushes


def test_a_first_deploy_has_nothing_to_roll_back_to() -> None:
    rolling = (Stage("canary", ("canary",), auto_rollback=True), Stage("prod", ("prod",)))
    found = release("svc", rolling, {"canary": [tag("canary", 5, "new")]}, {"canary": GroupHealth(FAILED, "x")}, now=NOW)
    assert found is not None and found.state == "halted" and "no earlier sha" in found.message


def test_a_person_deploying_another_sha_after_the_release_started_overrides_it() -> None:
    history = {"canary": [tag("canary", 5, "new")], "prod": [tag("prod", 6, "hotfix")]}
    found = release("svc", PIPELINE, history, ok("canary"), now=NOW)
    assert found is not None and found.state == "overridden" and not found.pushes
    assert "prod runs hotfix" in found.message


def test_a_newer_release_supersedes_the_older_one() -> None:
    history = {"canary": [tag("canary", 1, "one"), tag("canary", 5, "two")], "prod": [tag("prod", 2, "one")]}
    found = release("svc", PIPELINE[:2], history, ok("canary"), now=NOW)
    assert found is not None and found.sha == "two" and found.pushes == (Push("prod", "two", "promote"),)


def test_parallel_steps_are_pushed_together_and_a_freeze_holds_them() -> None:
    pipeline = (Stage("canary", ("canary",)), Stage("prod", ("prod-a", "prod-b")))
    history = {"canary": [tag("canary", 5, "new")]}
    found = release("svc", pipeline, history, ok("canary"), now=NOW)
    assert found is not None and set(found.pushes) == {Push("prod-a", "new", "promote"), Push("prod-b", "new", "promote")}
    frozen = release("svc", pipeline, history, ok("canary"), now=NOW, frozen={"prod-b": "weekend until 18:00"})
    assert frozen is not None and frozen.state == "frozen" and not frozen.pushes
    # one of the two tagged (by a person): the other one is pushed
    history["prod-a"] = [tag("prod-a", 6, "new")]
    rest = release("svc", pipeline, history, ok("canary"), now=NOW)
    assert rest is not None and rest.pushes == (Push("prod-b", "new", "promote"),)


def test_stages_skip_ci_steps_and_disabled_ones_and_merge_parallel_options() -> None:
    pipeline = (DeployStep("itest"), DeployStep("canary", trigger_next_step_manually=True, auto_certify_delay=60),
                DeployStep("off", disabled=True),
                DeployStep("prod", parallel=(DeployStep("prod-a", auto_rollback=True), DeployStep("prod-b"))))
    found = stages(pipeline)
    assert [(s.name, s.groups) for s in found] == [("canary", ("canary",)), ("prod", ("prod-a", "prod-b"))]
    assert found[0].manual and found[0].certify_delay == 60 and found[1].auto_rollback


def test_previous_sha_skips_the_run_of_the_sha_itself() -> None:
    found = previous([tag("g", 1, "a"), tag("g", 2, "b"), tag("g", 3, "b")], "b")
    assert found is not None and found.sha == "a"
    assert previous([tag("g", 1, "b")], "b") is None


def test_a_failed_group_of_a_parallel_step_halts_before_its_siblings_are_pushed() -> None:
    pipeline = (Stage("canary", ("a", "b"), auto_rollback=True), Stage("prod", ("prod",)))
    history = {"a": [tag("a", 1, "old"), tag("a", 5, "new")], "b": [tag("b", 1, "old")]}
    found = release("svc", pipeline, history, {"a": GroupHealth(FAILED, "crash")}, now=NOW)
    assert found is not None and found.state == "rolling_back"
    assert found.pushes == (Push("a", "old", "rollback"),)  # b never gets the failing sha


def test_a_rollback_covers_groups_promoted_past_the_failed_step() -> None:
    pipeline = (Stage("canary", ("canary",), auto_rollback=True, wait=False), Stage("prod", ("prod",)))
    history = {"canary": [tag("canary", 1, "old"), tag("canary", 5, "new")],
               "prod": [tag("prod", 1, "old"), tag("prod", 6, "new")]}
    found = release("svc", pipeline, history, {"canary": GroupHealth(FAILED, "crash")}, now=NOW)
    assert found is not None and set(found.pushes) == {Push("canary", "old", "rollback"), Push("prod", "old", "rollback")}


def test_an_older_release_promotion_landing_after_the_start_does_not_override() -> None:
    history = {"canary": [tag("canary", 1, "one"), tag("canary", 5, "two")],
               "prod": [tag("prod", 2, "zero"), tag("prod", 5, "one")]}  # release one's push, same second
    found = release("svc", PIPELINE[:2], history, ok("canary"), now=NOW)
    assert found is not None and found.state == "promoting" and found.pushes == (Push("prod", "two", "promote"),)


def test_a_disabled_parallel_step_and_its_wait_for_deployment_count() -> None:
    off = DeployStep("prod", disabled=True, parallel=(DeployStep("a"), DeployStep("b")))
    assert off.deploy_groups == ()
    quick = stages((DeployStep("canary"), DeployStep("prod", wait_for_deployment=False,
                                                     parallel=(DeployStep("a"), DeployStep("b")))))
    assert not quick[1].wait
