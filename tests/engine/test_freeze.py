"""The plan actions a freeze holds, and those it never holds (rollbacks, companions)."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.engine.actions import Action, Plan, PruneDecision
from reconciler.engine.freeze import Freeze, hold
from reconciler.engine.owned import pack
from reconciler.engine.policy import Policy

UTC = timezone.utc
POLICY = Policy("c", "example.com")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def action(kind: str, what: str, *, replicas: int = 2, rollback: bool = False, prune: str | None = None,
           service: str = "web") -> Action:
    desired = {"kind": kind, "spec": {"replicas": replicas}}
    return Action(what, kind, "ns", f"{service}-{what}", service, "main", "because", desired, {"kind": kind},
                  rollback=rollback, prune_group=prune)


def test_hold_turns_covered_workload_changes_into_frozen_waits_and_lets_rollbacks_through() -> None:
    plan = Plan("c", (action("Deployment", "create"), action("Deployment", "update"),
                      action("Deployment", "update", rollback=True), action("Deployment", "scale"),
                      action("Deployment", "scale", replicas=0), action("PodDisruptionBudget", "update"),
                      action("Deployment", "delete", prune="workloads"), action("Deployment", "update", service="db")),
                PruneDecision(1, False, None))
    freeze = Freeze("weekend", at(7, 8), services=frozenset({"web"}), allow=frozenset({"stop"}))
    held = hold(plan, [freeze], POLICY)
    got = [(a.action, a.reason.split(":")[0]) for a in held.actions]
    assert got == [("wait", "Frozen (weekend until 2026-12-07T08"), ("wait", "Frozen (weekend until 2026-12-07T08"),
                   ("update", "because"), ("wait", "Frozen (weekend until 2026-12-07T08"),
                   ("scale", "because"), ("update", "because"),
                   ("wait", "Frozen (weekend until 2026-12-07T08"), ("update", "because")]
    assert "bounce held (because)" in held.actions[1].reason
    assert hold(plan, [], POLICY) is plan


def test_a_bounce_back_to_the_last_healthy_sha_is_a_rollback_no_freeze_holds() -> None:
    def workload(sha: str, **annotations: str) -> dict[str, object]:
        return {"kind": "Deployment", "metadata": {"labels": {"example.com/git_sha": sha}, "annotations": annotations},
                "spec": {"replicas": 2}}
    healthy = pack(workload("old"))
    back = Action("update", "Deployment", "ns", "web-main", "web", "main", "config_sha changed", workload("old"),
                  workload("new", **{"example.com/last-healthy": healthy}))
    forward = Action("update", "Deployment", "ns", "web-main", "web", "main", "config_sha changed", workload("newer"),
                     workload("new", **{"example.com/last-healthy": healthy}))
    held = hold(Plan("c", (back, forward), PruneDecision(0, False, None)), [Freeze("f", None)], POLICY)
    assert [a.action for a in held.actions] == ["update", "wait"]
