"""A deploy group's health at a release's sha, from the rows of every cluster that runs it."""

from __future__ import annotations

from reconciler.engine.release import FAILED, HEALTHY, PROGRESSING, UNKNOWN
from reconciler.report.releases import group_health
from reconciler.report.status import Row

SHA, OLD = "a" * 40, "b" * 40


def row(cluster: str, status: str, sha: str = SHA, *, group: str = "prod", halted: bool = False,
        instance: str = "main") -> Row:
    train = {"halted": halted, "failed_config_sha": "x" if halted else None, "reason": "crash" if halted else None}
    return Row(cluster, "web", instance, status, "why", desired={"git_sha": sha}, train=train, deploy_group=group)


def health(rows: dict[str, list[Row]], reachable: dict[str, bool | None] | None = None,
           runs_on: tuple[str, ...] = ("east", "west")) -> tuple[str, str]:
    found = group_health("web", "prod", SHA, rows, reachable or {c: True for c in runs_on}, runs_on)
    return found.state, found.message


def test_healthy_when_every_row_everywhere_runs_the_sha() -> None:
    assert health({"east": [row("east", "Synced")], "west": [row("west", "Stopped")]})[0] == HEALTHY
    assert health({"east": [row("east", "Synced")], "west": [row("west", "Drifted")]})[0] == PROGRESSING
    assert health({}, runs_on=())[0] == HEALTHY  # no cluster runs it: nothing to wait for


def test_a_row_not_rendering_the_sha_yet_or_rolling_out_holds() -> None:
    state, message = health({"east": [row("east", "Synced", OLD)], "west": [row("west", "Progressing")]})
    assert state == PROGRESSING and "deployments.json not at" in message and "west web.main Progressing" in message
    assert health({"east": [row("east", "Synced")], "west": []})[0] == PROGRESSING  # not observed yet


def test_degraded_or_halted_fails_and_an_unreachable_cluster_or_invalid_row_is_unknown() -> None:
    assert health({"east": [row("east", "Degraded")], "west": [row("west", "Synced")]})[0] == FAILED
    assert health({"east": [row("east", "Waiting", halted=True)], "west": [row("west", "Synced")]})[0] == FAILED
    assert health({"east": [row("east", "Synced")]}, {"east": True, "west": False})[0] == UNKNOWN
    assert health({"east": [row("east", "Invalid")], "west": [row("west", "Synced")]})[0] == UNKNOWN
    # rows of other deploy groups do not count
    assert health({"east": [row("east", "Degraded", group="canary"), row("east", "Synced")],
                   "west": [row("west", "Synced")]})[0] == HEALTHY
