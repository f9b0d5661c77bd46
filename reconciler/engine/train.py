"""Health gating: failed rollouts halt their deploy group's train, and auto_rollback (pure).

Spec: ../shared/spec/reconciler.md section 4. Everything is read from the live workloads, so every
process (the daemon, a CLI run) reaches the same decision:

- A workload whose rollout *failed* (see `health.assess`) while still running the config_sha git
  asks for halts its deploy group's train on this cluster. With `auto_rollback` for the instance
  and a `last-healthy` rendering on the workload (stored by the apply that started the bounce),
  its action becomes a rollback: an `update` that re-applies that rendering in full, labels
  included, and writes the failed config_sha in a `failed-config-sha` annotation.
- A workload whose `failed-config-sha` annotation names the config_sha git still asks for (it
  was rolled back) keeps the train halted; its update waits.
- While a group is halted, every bounce of that group waits (a train is one service's deploy
  group: another service with a deploy group of the same name is not held). Creates, scales and other kinds do
  not (they are not bounces). The halt lifts when git asks for another config_sha (a new sha or
  config) for the failed instance, or when a person resumed it: a `resumed-config-sha`
  annotation `<config_sha>@<time>` lifts a halt for that config_sha whose rollout started no
  later than `<time>` (a later failure of the same config_sha halts again).
- Failures of workloads that are not running what git asks for (git already moved on) halt
  nothing: the plan's update is the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.engine.actions import Action, Halt, Plan
from reconciler.engine.health import FAILED, Health
from reconciler.engine.marks import (
    BOUNCE_STARTED,
    FAILED_CONFIG_SHA,
    FAILED_REASON,
    LAST_HEALTHY,
    RESUMED_CONFIG_SHA,
    parse_time,
    rfc3339,
)
from reconciler.engine.objects import Key
from reconciler.engine.owned import unpack
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS


def rollout_started(live: Mapping[str, Any], policy: Policy) -> datetime | None:
    """When the workload's current rollout started: its bounce-start annotation, else its creation."""
    started = parse_time(policy.annotation(live, BOUNCE_STARTED))
    if started is None:
        started = parse_time((live.get("metadata") or {}).get("creationTimestamp"))
    return started


def resume_mark(config_sha: str, now: datetime) -> str:
    """The `resumed-config-sha` annotation value lifting a halt on `config_sha` as of `now`."""
    return f"{config_sha}@{rfc3339(now)}"


def _resumed(live: Mapping[str, Any], policy: Policy, config_sha: str, started: datetime | None) -> bool:
    value = policy.annotation(live, RESUMED_CONFIG_SHA)
    if value is None:
        return False
    sha, _, when = value.partition("@")
    moment = parse_time(when)
    return sha == config_sha and moment is not None and (started is None or started <= moment)


def _key(action: Action) -> Key:
    return (action.kind, action.namespace, action.name)


def _group(action: Action, policy: Policy) -> str:
    """The deploy group, from the pod template's labels (where the rendering puts it)."""
    for obj in (action.desired, action.live):
        template = ((obj or {}).get("spec") or {}).get("template")
        if isinstance(template, Mapping):
            group = policy.label(template, "deploy_group")
            if group:
                return group
    return f"{action.service}.{action.instance}"


#: The failure's reason kept on a rolled-back workload is cut at this many characters.
MAX_REASON = 500


def _rollback(action: Action, failed_sha: str, reason: str, policy: Policy) -> tuple[Action | None, str]:
    """The rollback action for a failed workload, or None and why there is none."""
    packed = policy.annotation(action.live or {}, LAST_HEALTHY)
    if packed is None:
        return None, "no healthy rendering recorded to roll back to"
    try:
        previous = unpack(packed)
    except ValueError as exc:
        return None, f"the last-healthy annotation is unreadable ({exc})"
    previous_sha = policy.label(previous, "config_sha")
    if not previous_sha or previous_sha == failed_sha:
        return None, "the recorded healthy rendering is the failed one"
    meta = dict(previous.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), policy.key(FAILED_CONFIG_SHA): failed_sha,
                           policy.key(FAILED_REASON): reason[:MAX_REASON]}
    desired = {**previous, "metadata": meta}
    return dataclasses.replace(
        action, action="update", desired=desired, rollback=True,
        reason=f"rollback: {reason}; re-applying the last healthy rendering {previous_sha}"), previous_sha


def guard(plan: Plan, health: Mapping[Key, Health], policy: Policy, *,
          auto_rollback: frozenset[tuple[str, str]] = frozenset()) -> Plan:
    """`plan` with failed rollouts turned into halts (and rollbacks where `auto_rollback` has the
    (service, instance)), and the bounces of halted deploy groups turned into `wait`."""
    halts: dict[tuple[str, str], Halt] = {}  # (service, deploy group): a train is one service's
    replaced: dict[int, Action] = {}
    for index, action in enumerate(plan.actions):
        if action.kind not in WORKLOAD_KINDS or action.desired is None or action.live is None:
            continue
        want = policy.label(action.desired, "config_sha")
        have = policy.label(action.live, "config_sha")
        if want is None:
            continue
        group = _group(action, policy)
        train = (action.service, group)
        started = rollout_started(action.live, policy)
        state = health.get(_key(action))
        if (state is not None and state.state == FAILED and want == have
                and not _resumed(action.live, policy, want, started)):
            reason = f"rollout of {want} failed: {state.reason}"
            rolled_back_to = None
            if (action.service, action.instance) in auto_rollback:
                rollback, detail = _rollback(action, want, reason, policy)
                if rollback is None:
                    reason += f"; not rolled back: {detail}"
                else:
                    replaced[index] = rollback
                    rolled_back_to = detail
            halts.setdefault(train, Halt(group, action.service, action.instance, want, reason, rolled_back_to))
        elif (policy.annotation(action.live, FAILED_CONFIG_SHA) == want and have != want
              and not _resumed(action.live, policy, want, started)):
            cause = policy.annotation(action.live, FAILED_REASON)
            halts.setdefault(train, Halt(group, action.service, action.instance, want,
                                         f"rolled back to {have}" + (f" after: {cause}" if cause else "")
                                         + f"; git asks for {want}", have))

    if not halts and not replaced:
        return plan
    actions = []
    for index, action in enumerate(plan.actions):
        if index in replaced:
            action = replaced[index]
        elif (action.action == "update" and action.kind in WORKLOAD_KINDS and action.live is not None
              and (action.service, _group(action, policy)) in halts):
            halt = halts[(action.service, _group(action, policy))]
            action = dataclasses.replace(action, action="wait", reason=(
                f"train halted: {halt.service}.{halt.instance}: {halt.reason}; lifts when git changes or "
                f"with `reconciler resume {halt.service}.{halt.instance} --cluster {plan.cluster}`"))
        actions.append(action)
    return dataclasses.replace(plan, actions=tuple(actions), halts=tuple(halts.values()))
