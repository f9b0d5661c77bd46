"""Releases: one sha moving through a service's deploy pipeline, and what the promoter does next (pure).

Spec: ../shared/spec/platform.md section 4. Everything is read from the service repository's deploy
tags (each deploy group's history) and the health of each deploy group on the clusters, so a
restarted daemon, a second replica and the CLI all reach the same answer; nothing is stored.

- The *release* is the newest deploy tag of the first stage whose sha that stage never ran
  before. Deploying a sha the first stage ran before is a rollback, not a release.
- A later stage's deploy group is *promoted* when its newest tag names the release's sha, and
  was *rolled back* when it got the sha after the release started and then another one. Another
  sha tagged after the release started (a person deployed something else) *overrides* the
  release from that stage on.
- A stage is healthy when all its groups are (for `auto_certify_delay` seconds, from
  `healthy_since`); then the next stage's groups that do not run the sha are pushed, all in one
  go, unless the stage has `trigger_next_step_manually` (the release is gated until a person
  pushes the tag, `reconciler promote`) or a freeze holds the next stage's clusters.
- A failed stage halts the release; with `auto_rollback` on it, every group of the release's
  stages so far that runs the sha is pushed back to the sha it ran before (one push).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.soa.pipeline import DeployStep

HEALTHY, PROGRESSING, FAILED, UNKNOWN = "healthy", "progressing", "failed", "unknown"


@dataclass(frozen=True, order=True)
class TagEntry:
    """One deploy tag of a deploy group: its timestamp (`YYYYMMDDTHHMMSS`), name, commit and
    image version (`+<version>` in the name)."""

    timestamp: str
    tag: str
    sha: str
    image_version: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stage:
    """A step of the pipeline as promotion sees it: the deploy groups that move together."""

    name: str
    groups: tuple[str, ...]
    manual: bool = False
    auto_rollback: bool = False
    certify_delay: float = 0.0
    wait: bool = True


def stages(pipeline: Sequence[DeployStep] | None) -> tuple[Stage, ...]:
    """The stages of a pipeline: steps without deploy groups (CI steps, disabled ones) left out.
    A parallel step is one stage: manual, rolled back or certified when any of its steps says so."""
    out = []
    for step in pipeline or ():
        groups = step.deploy_groups
        if not groups:
            continue
        parts = step.parallel or (step,)
        out.append(Stage(
            step.step, groups,
            manual=step.trigger_next_step_manually or any(p.trigger_next_step_manually for p in parts),
            auto_rollback=step.auto_rollback or any(p.auto_rollback for p in parts),
            certify_delay=float(max([p.auto_certify_delay or 0 for p in parts] + [step.auto_certify_delay or 0])),
            wait=step.wait_for_deployment is not False and not all(p.wait_for_deployment is False for p in parts)))
    return tuple(out)


@dataclass(frozen=True)
class GroupHealth:
    """How a deploy group does at the release's sha on every cluster that runs it."""

    state: str
    message: str = ""


@dataclass(frozen=True)
class Push:
    """A deploy tag for `group` on `sha` that the promoter should push (`why`: promote, rollback)."""

    group: str
    sha: str
    why: str
    image_version: str | None = None


@dataclass(frozen=True)
class StageView:
    name: str
    groups: tuple[str, ...]
    state: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "deploy_groups": list(self.groups), "state": self.state, "message": self.message}


#: Release states; `pushes` are non-empty only for promoting and rolling_back.
RELEASE_STATES = ("promoting", "progressing", "certifying", "gated", "frozen", "halted", "rolling_back",
                  "rolled_back", "overridden", "complete")


@dataclass(frozen=True)
class Release:
    service: str
    sha: str
    tag: str
    started: str
    state: str
    message: str
    stages: tuple[StageView, ...]
    pushes: tuple[Push, ...] = ()
    #: the stage the pushes (or the gate, freeze, halt) concern
    step: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "sha": self.sha, "tag": self.tag, "started": self.started,
                "state": self.state, "message": self.message, "step": self.step,
                "steps": [s.as_dict() for s in self.stages],
                "pushes": [{"deploy_group": p.group, "sha": p.sha, "why": p.why} for p in self.pushes]}


def current(history: Sequence[TagEntry]) -> TagEntry | None:
    return max(history) if history else None


def release_start(first: Sequence[Sequence[TagEntry]]) -> TagEntry | None:
    """The tag that started the current release: the newest tag on the first stage's groups
    whose sha none of them had run before."""
    seen: set[str] = set()
    start = None
    for entry in sorted(e for history in first for e in history):
        if entry.sha not in seen:
            start = entry
        seen.add(entry.sha)
    return start


def previous(history: Sequence[TagEntry], sha: str) -> TagEntry | None:
    """The tag a group ran before its latest run of `sha` (None: nothing before it)."""
    entries = sorted(history)
    while entries and entries[-1].sha == sha:
        entries.pop()
    return entries[-1] if entries else None


def _group_state(history: Sequence[TagEntry], sha: str, start: str, older: frozenset[str]) -> str:
    """promoted, pending, rolled_back or overridden (see the module docstring). A tag since the
    start on a sha of an older release (`older`: what the first stage ran before) is the older
    release's promotion landing late: it does not override this one."""
    since = sorted(e for e in history if e.timestamp >= start)
    newest = current(history)
    if since and since[-1].sha == sha:
        return "promoted"
    if any(e.sha == sha for e in since):
        return "rolled_back"
    if any(e.sha not in older for e in since):
        return "overridden"
    return "promoted" if newest is not None and newest.sha == sha else "pending"


def stage_healthy(stage: Stage, health: Mapping[str, GroupHealth]) -> bool:
    return all(health.get(g, GroupHealth(UNKNOWN)).state == HEALTHY for g in stage.groups)


def release(service: str, pipeline: Sequence[Stage], history: Mapping[str, Sequence[TagEntry]],
            health: Mapping[str, GroupHealth], *, now: datetime,
            healthy_since: Mapping[str, datetime] | None = None,
            frozen: Mapping[str, str] | None = None) -> Release | None:
    """The service's current release and the promoter's next move, None without one (fewer than
    two stages, or no deploy tag on the first). `health`: per deploy group at the release's sha;
    `healthy_since`: per stage, since when it has been healthy (for `auto_certify_delay`);
    `frozen`: per deploy group, the freeze that holds pushes to it."""
    if len(pipeline) < 2:
        return None
    start = release_start([history.get(g, ()) for g in pipeline[0].groups])
    if start is None:
        return None
    sha, since, frozen = start.sha, healthy_since or {}, frozen or {}
    older = frozenset(e.sha for g in pipeline[0].groups for e in history.get(g, ()) if e.timestamp < start.timestamp)
    views: list[StageView] = []

    def done(state: str, message: str, step: str | None, pushes: Sequence[Push] = ()) -> Release:
        rest = [StageView(s.name, s.groups, "pending") for s in pipeline[len(views):]]
        return Release(service, sha, start.tag, start.timestamp, state, message, (*views, *rest), tuple(pushes), step)

    for i, stage in enumerate(pipeline):
        states = {g: _group_state(history.get(g, ()), sha, start.timestamp, older) for g in stage.groups}
        moved = sorted(g for g, s in states.items() if s in ("rolled_back", "overridden"))
        if moved:
            kind = "rolled_back" if all(states[g] == "rolled_back" for g in moved) else "overridden"
            runs = ", ".join(f"{g} runs {(current(history.get(g, ())) or start).sha[:8]}" for g in moved)
            views.append(StageView(stage.name, stage.groups, kind, runs))
            what = "rolled back" if kind == "rolled_back" else "overridden by a later deploy"
            return done(kind, f"{what} at {stage.name}: {runs}", stage.name)
        failed = [f"{g}: {health[g].message}" for g in stage.groups
                  if states[g] == "promoted" and g in health and health[g].state == FAILED]
        if failed:
            views.append(StageView(stage.name, stage.groups, "failed", "; ".join(failed)))
            if not stage.auto_rollback:
                return done("halted", f"{stage.name} failed: {'; '.join(failed)}", stage.name)
            pushes = _rollbacks(pipeline, history, sha, start.timestamp)
            if not pushes:
                return done("halted", f"{stage.name} failed and there is no earlier sha to roll back to: "
                                      f"{'; '.join(failed)}", stage.name)
            return done("rolling_back", f"{stage.name} failed ({'; '.join(failed)}): rolling back "
                                        f"{', '.join(p.group for p in pushes)}", stage.name, pushes)
        pending = [g for g in stage.groups if states[g] == "pending"]
        if pending:
            previous = pipeline[i - 1] if i else None
            if previous is not None and previous.manual and len(pending) == len(stage.groups):
                views.append(StageView(stage.name, stage.groups, "gated",
                                       f"after {previous.name}: waiting for reconciler promote {service} --to {stage.name}"))
                return done("gated", f"{previous.name} is healthy; {stage.name} waits for a person "
                                     f"(reconciler promote {service} --to {stage.name})", stage.name)
            held = sorted({frozen[g] for g in pending if g in frozen})
            if held:
                views.append(StageView(stage.name, stage.groups, "frozen", "; ".join(held)))
                return done("frozen", f"promotion to {stage.name} held: {'; '.join(held)}", stage.name)
            views.append(StageView(stage.name, stage.groups, "promoting", f"pushing {', '.join(pending)}"))
            return done("promoting", f"promoting {sha[:8]} to {stage.name}", stage.name,
                        [Push(g, sha, "promote", start.image_version) for g in pending])
        if stage.wait and not stage_healthy(stage, health):
            waiting = [f"{g}: {health[g].message}" if g in health else f"{g}: not observed yet"
                       for g in stage.groups if health.get(g, GroupHealth(UNKNOWN)).state != HEALTHY]
            views.append(StageView(stage.name, stage.groups, "deploying", "; ".join(waiting)))
            return done("progressing", f"{stage.name} is rolling out: {'; '.join(waiting)}", stage.name)
        healthy_at = since.get(stage.name, now)
        left = stage.certify_delay - (now - healthy_at).total_seconds()
        if stage.wait and left > 0:
            until = (now + timedelta(seconds=left)).strftime("%Y-%m-%dT%H:%M:%SZ")
            views.append(StageView(stage.name, stage.groups, "certifying", f"healthy; certified at {until}"))
            return done("certifying", f"{stage.name} is healthy; auto_certify_delay until {until}", stage.name)
        views.append(StageView(stage.name, stage.groups, "healthy" if stage.wait else "deployed"))
    return done("complete", f"{sha[:8]} runs on every step", None)


def _rollbacks(pipeline: Sequence[Stage], history: Mapping[str, Sequence[TagEntry]], sha: str,
               start: str) -> list[Push]:
    """A rollback push for every group of the pipeline the release reached (its newest tag is on
    `sha`, dated from the release's start, or the first stage's) that ran something before: steps
    after the failed one included (a `promote --to` ahead, `wait_for_deployment: false`)."""
    pushes = []
    first = set(pipeline[0].groups)
    for stage in pipeline:
        for group in stage.groups:
            entries = history.get(group, ())
            newest = current(entries)
            before = previous(entries, sha)
            reached = newest is not None and newest.sha == sha and (newest.timestamp >= start or group in first)
            if reached and before is not None:
                pushes.append(Push(group, before.sha, "rollback", before.image_version))
    return pushes
