"""The promotion job: moves each release through its deploy.yaml pipeline (platform.md section 4).

Every `promotion.interval` (and after each generator run), for every service whose pipeline has
two stages or more: the service repository's deploy tags (read again every `generate_interval`,
and at once after a push or a webhook), the health of each deploy group from the latest rows of
every cluster, and the freezes in force; `engine.release` says where the release is and what to
push. Only the holder of the `reconciler-promotion` lease pushes; every
replica computes the same view for its page and API.

Before pushing, the tags are listed again and the release computed again: when the pushes it asks
for are not the same any more (a person or another promoter was faster), nothing is pushed. All
tags of one decision go in one atomic push; the generator then runs for the service at once.

What is kept in memory only: since when a stage has been healthy (`auto_certify_delay` starts
again after a restart: later, never sooner) and the last decision per service (so each decision
is logged, notified and counted once; a restarted daemon says its current decisions once more).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.config import Config
from reconciler.daemon.leader import Elector
from reconciler.daemon.logs import log, warn
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify import Notifier, event
from reconciler.daemon.state import DaemonState
from reconciler.engine.freeze import Freeze, covering
from reconciler.engine.release import UNKNOWN, GroupHealth, Release, Stage, TagEntry, release, stage_healthy, stages
from reconciler.reconcile.revision import Revision
from reconciler.render.service import Outcome, RenderResult
from reconciler.report.releases import group_health
from reconciler.report.status import Row
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import list_tags, read_tags, repo_url
from reconciler.sources.mirror import Mirror
from reconciler.sources.tagpush import TagCollision, push_tags
from reconciler.sources.tags import DeployTag, parse_deploy_tag

#: What a decision is counted as in reconciler_promotions_total{result}.
RESULTS = {"promoting": "promoted", "rolling_back": "rolled_back", "halted": "halted", "frozen": "frozen",
           "gated": "gated", "overridden": "overridden", "complete": "complete"}


def histories(tags: Mapping[str, str], groups: Sequence[str]) -> dict[str, list[TagEntry]]:
    """Deploy tags (name -> commit) per deploy group of `groups`."""
    out: dict[str, list[TagEntry]] = {g: [] for g in groups}
    known = frozenset(groups)
    for name, sha in tags.items():
        tag = parse_deploy_tag(name, known)
        if tag is not None:
            out[tag.deploy_group].append(TagEntry(tag.timestamp, tag.name, sha, tag.image_version))
    return out


@dataclass(frozen=True)
class Observed:
    """What the clusters showed at the start of a run: per (service, deploy group), the clusters
    whose soa-configs give it an instance and their rows; whether each cluster answered."""

    runs_on: Mapping[tuple[str, str], tuple[str, ...]]
    rows: Mapping[tuple[str, str], Mapping[str, Sequence[Row]]]
    reachable: Mapping[str, bool | None]
    #: per service, the clusters where some instance is Invalid (its deploy group may be unknown)
    invalid: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, results: Sequence[RenderResult], pipelines: Mapping[str, Sequence[Stage]],
           rows: Mapping[str, Sequence[Row]], reachable: Mapping[str, bool | None]) -> Observed:
        runs_on: dict[tuple[str, str], set[str]] = {}
        invalid: dict[str, set[str]] = {}
        for result in results:
            if result.service not in pipelines:
                continue
            if result.outcome is Outcome.INVALID:
                invalid.setdefault(result.service, set()).add(result.cluster)
            elif result.deploy_group:
                runs_on.setdefault((result.service, result.deploy_group), set()).add(result.cluster)
        index: dict[tuple[str, str], dict[str, list[Row]]] = {}
        for cluster, found in rows.items():
            for row in found:
                if row.service in pipelines and row.deploy_group:
                    index.setdefault((row.service, row.deploy_group), {}).setdefault(cluster, []).append(row)
        return cls({k: tuple(sorted(v)) for k, v in runs_on.items()}, index, reachable,
                   {k: tuple(sorted(v)) for k, v in invalid.items()})

    def clusters(self, service: str, group: str) -> tuple[str, ...]:
        return self.runs_on.get((service, group), ())

    def health(self, service: str, group: str, sha: str) -> GroupHealth:
        """An Invalid instance may belong to any group (its deploy group may be what cannot be
        read): while the service has one, its groups hold."""
        if service in self.invalid:
            return GroupHealth(UNKNOWN, f"{service} has Invalid instances on {', '.join(self.invalid[service])}: "
                                        "the release holds until they are fixed")
        return group_health(service, group, sha, self.rows.get((service, group), {}), self.reachable,
                            self.clusters(service, group))


class Promoter:
    """One daemon's promotion job (see the module docstring)."""

    def __init__(self, config: Config, state: DaemonState, metrics: Metrics, notifier: Notifier,
                 revision: Revision, elector: Elector, *, git_lock: threading.RLock,
                 generate: Callable[[str], None], freezes: Callable[[str], Sequence[Freeze]]) -> None:
        """`generate(service)`: run the generator for a service soon; `freezes(cluster)`: the
        freezes in force on a cluster now (read when a promotion is about to be pushed)."""
        self.config, self.state, self.metrics, self.notifier = config, state, metrics, notifier
        self.revision, self.elector, self.git_lock, self.generate = revision, elector, git_lock, generate
        self.freezes = freezes
        self._tags: dict[str, tuple[float, dict[str, str]]] = {}  # service -> (read at, tags)
        self._forgotten: set[str] = set()
        # service -> (the tags parsed, the groups, their histories): parsed once per read
        self._histories: dict[str, tuple[Mapping[str, str], tuple[str, ...], dict[str, list[TagEntry]]]] = {}
        self._healthy_since: dict[str, tuple[str, dict[str, datetime]]] = {}  # service -> (sha, stage -> since)
        self._decided: dict[str, tuple[str, str, str | None]] = {}

    # ------------------------------------------------------------------ the job
    def run(self) -> None:
        repos = self.config.service_repos
        if repos is None or not self.config.promotion.enabled:
            return
        view = self.revision.view()
        pipelines = {s: stages(p) for s, p in view.pipelines.items()}
        pipelines = {s: p for s, p in pipelines.items() if len(p) >= 2}
        observed = Observed.of(view.results, pipelines, *self.state.cluster_rows())
        tags = self._read(sorted(pipelines), repos.url_template, repos.parallelism, repos.generate_interval)
        releases: dict[str, dict[str, Any]] = {}
        for service, pipeline in sorted(pipelines.items()):
            if service not in tags:
                continue
            found = self.decide(service, pipeline, tags[service], observed)
            if found is not None and found.pushes and self.elector.is_leader():
                found = self.push(service, pipeline, found, observed)
            if found is not None:
                self.report(service, found)
                releases[service] = found.as_dict()
        for memory in (self._healthy_since, self._decided):  # services that lost their pipeline
            for gone in set(memory) - set(pipelines):
                del memory[gone]
        self.state.set_releases(releases)

    def forget(self, service: str) -> None:
        """`service`'s tags changed (a push, a webhook): read them again at the next run."""
        self._tags.pop(service, None)
        self._forgotten.add(service)

    def _read(self, services: list[str], template: str, parallelism: int, every: float) -> dict[str, dict[str, str]]:
        """Each service's tags, read again when older than `every` (the generator's interval: health
        changes are seen every run, tag changes at that pace or at once after a push or webhook)."""
        now = time.monotonic()
        cached = dict(self._tags)  # forget() may run on another thread
        stale = [s for s in services if s not in cached or now - cached[s][0] >= every]
        fresh, errors = read_tags(stale, template, parallelism)
        for service, problem in sorted(errors.items()):
            warn("promotion: service repository unreadable; its release holds", service=service, error=problem)
        cached.update({s: (now, t) for s, t in fresh.items()})
        for service in errors:
            cached.pop(service, None)
        for gone in set(cached) - set(services):
            del cached[gone]
            self._histories.pop(gone, None)
        found = {s: cached[s][1] for s in services if s in cached}
        self._tags = cached
        while self._forgotten:  # forgotten while reading: read again next run
            self._tags.pop(self._forgotten.pop(), None)
        return found

    def _history(self, service: str, tags: Mapping[str, str], groups: tuple[str, ...]) -> dict[str, list[TagEntry]]:
        cached = self._histories.get(service)
        if cached is not None and cached[0] is tags and cached[1] == groups:
            return cached[2]
        history = histories(tags, groups)
        self._histories[service] = (tags, groups, history)
        return history

    def decide(self, service: str, pipeline: Sequence[Stage], tags: Mapping[str, str],
               observed: Observed) -> Release | None:
        """The release of `service` now, from `tags` and the clusters' latest rows."""
        groups = tuple(g for stage in pipeline for g in stage.groups)
        history = self._history(service, tags, groups)
        now = datetime.now(timezone.utc)
        first = release(service, pipeline, history, {}, now=now)
        if first is None:
            return None
        health = {g: observed.health(service, g, first.sha) for g in groups}
        sha, since = self._healthy_since.get(service, (first.sha, {}))
        if sha != first.sha:  # a new release: its stages start over
            since = {}
        since = {stage.name: since.get(stage.name, now) for stage in pipeline if stage_healthy(stage, health)}
        self._healthy_since[service] = (first.sha, since)
        found = release(service, pipeline, history, health, now=now, healthy_since=since)
        if found is None or not any(p.why == "promote" for p in found.pushes):
            return found
        frozen = {p.group: held for p in found.pushes
                  if (held := self._frozen(service, observed.clusters(service, p.group))) is not None}
        return release(service, pipeline, history, health, now=now, healthy_since=since, frozen=frozen)

    def _frozen(self, service: str, clusters: Sequence[str]) -> str | None:
        """The freeze that holds a promotion of `service` onto any of `clusters`, as a label."""
        for cluster in clusters:
            freeze = covering(self.freezes(cluster), service, "promote")
            if freeze is not None:
                return f"{freeze.label} on {cluster}"
        return None

    def push(self, service: str, pipeline: Sequence[Stage], planned: Release, observed: Observed) -> Release:
        """Push what `planned` asks for, unless a fresh read of the tags asks for something else."""
        repos = self.config.service_repos
        assert repos is not None
        url = repo_url(repos.url_template, service)
        step = planned.step or ""
        try:
            with self.git_lock:  # the mirror must hold the commits the tags point at
                mirror = Mirror(url, self.config.state_dir)
                mirror.fetch()
            fresh_tags = list_tags(mirror.url, mirror.timeout)
            fresh = self.decide(service, pipeline, fresh_tags, observed)  # may read the clusters' freezes
            if fresh is None or fresh.pushes != planned.pushes or not self.elector.is_leader():
                self.forget(service)
                self.metrics.promotions.labels(service=service, step=step, result="skipped").inc()
                log("promotion skipped: the tags moved (a person or another promoter was faster) or the lease "
                    "was lost", service=service, step=step, sha=planned.sha)
                return fresh or planned
            history = self._history(service, fresh_tags, tuple(g for s in pipeline for g in s.groups))
            newest = max((e.timestamp for p in planned.pushes for e in history.get(p.group, ())), default=None)
            with self.git_lock:
                # one attempt: a name taken by someone else's push means the tags moved: decide again
                pushed = push_tags(mirror, lambda stamp: {
                    DeployTag(p.group, stamp, p.image_version).name: p.sha for p in planned.pushes}, newest,
                    attempts=1)
        except TagCollision:
            self.forget(service)
            self.metrics.promotions.labels(service=service, step=step, result="skipped").inc()
            log("promotion skipped: a tag of the same second was pushed by someone else", service=service, step=step)
            return planned
        except SourceError as exc:
            self.forget(service)
            self.metrics.promotions.labels(service=service, step=step, result="failed").inc()
            warn("promotion push failed; tried again next run", service=service, step=step, error=str(exc))
            return planned
        result = RESULTS[planned.state]
        self.metrics.promotions.labels(service=service, step=step, result=result).inc()
        log("release rolled back" if planned.state == "rolling_back" else "promoted", service=service, step=step,
            sha=planned.sha, tags=pushed, message=planned.message)
        self._notify(service, "release_rolled_back" if planned.state == "rolling_back" else "promoted",
                     planned, tags=pushed)
        self.forget(service)
        self.generate(service)
        return planned

    # ------------------------------------------------------------------ reporting
    def report(self, service: str, found: Release) -> None:
        """One log line, notification and count per decision (not per run)."""
        decision = (found.sha, found.state, found.step)
        if self._decided.get(service) == decision:
            return
        self._decided[service] = decision
        if found.state in ("promoting", "rolling_back", "progressing", "certifying"):
            return  # pushes are reported when made; rolling out is not a decision
        log(f"release {found.state}", service=service, step=found.step, sha=found.sha, message=found.message,
            leader=self.elector.is_leader())
        if found.state in RESULTS and self.elector.is_leader():
            self.metrics.promotions.labels(service=service, step=found.step or "", result=RESULTS[found.state]).inc()
            self._notify(service, f"release_{found.state}", found)

    def _notify(self, service: str, kind: str, found: Release, **details: Any) -> None:
        if not self.elector.is_leader():
            return
        step = next((s for s in found.stages if s.name == found.step), None)
        self.notifier.send([event(kind, None, service, None, ",".join(step.groups) if step else None, found.message,
                                  release=found.as_dict(), **details)])
