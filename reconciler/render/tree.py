"""A whole soa-configs tree rendered: every instance of every chosen cluster, rendered or not,
in forked worker processes when the tree is large."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from reconciler.render.service import RenderResult, render_service
from reconciler.render.settings import RenderSettings
from reconciler.soa.files import SoaSource, ignored_issues, unreadable_issues
from reconciler.soa.issues import Issue
from reconciler.soa.load import ServiceLoad, load_service
from reconciler.soa.pipeline import DeployStep


@dataclass
class TreeRender:
    """Everything found while rendering a tree: per-instance results and file-level issues."""

    results: list[RenderResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    #: every service read, in order (also those with no instance on the chosen clusters)
    services: list[str] = field(default_factory=list)
    #: with an `encode` function: each result encoded, in order (results then carry no objects)
    encoded: list[str] = field(default_factory=list)
    #: each service's deploy.yaml pipeline, when it has a valid one
    pipelines: dict[str, tuple[DeployStep, ...]] = field(default_factory=dict)


#: Below this many services a second process costs more than it saves.
PARALLEL_MIN_SERVICES = 64


def render_tree(source: SoaSource, clusters: Iterable[str] | None,
                settings_for: Callable[[str], RenderSettings],
                services: Iterable[str] | None = None, workers: int = 1,
                encode: Callable[[RenderResult], str] | None = None) -> TreeRender:
    """Render `services` (default: all) for `clusters` (default: every cluster each service has).

    With `workers` > 1 on a platform that can fork, services are split into ordered chunks
    rendered by that many processes; the result is the same, in the same order. `encode`
    turns each result into its output text where it is rendered (in the worker), so that
    the objects themselves need not travel back.
    """
    names, skipped = source.services()
    wanted = list(names) if services is None else list(services)
    job = _Job(source, None if clusters is None else list(clusters), settings_for, encode)
    out = TreeRender(issues=list(skipped))
    if workers > 1 and len(wanted) >= PARALLEL_MIN_SERVICES and \
            "fork" in multiprocessing.get_all_start_methods():
        size = -(-len(wanted) // (workers * 4))
        chunks = [wanted[i:i + size] for i in range(0, len(wanted), size)]
        # fork: the job (closures included) reaches the workers without being pickled
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_adopt, initargs=(job,)) as pool:
            parts = list(pool.map(_run_adopted, chunks))
    else:
        parts = [job.run(wanted)]
    for part in parts:
        out.results.extend(part.results)
        out.issues.extend(part.issues)
        out.services.extend(part.services)
        out.encoded.extend(part.encoded)
        out.pipelines.update(part.pipelines)
    return out


@dataclass
class _Job:
    source: SoaSource
    clusters: list[str] | None
    settings_for: Callable[[str], RenderSettings]
    encode: Callable[[RenderResult], str] | None = None

    def run(self, services: list[str]) -> TreeRender:
        out = TreeRender()
        for service in services:
            out.services.append(service)
            issues: dict[Issue, None] = {}
            for load in _loads(self.source, service, self.clusters):
                issues.update(dict.fromkeys(load.issues))
                if load.pipeline is not None:
                    out.pipelines[service] = load.pipeline
                if load.cluster:
                    out.results.extend(render_service(load, self.settings_for(load.cluster)))
            out.issues.extend(issues)
        if self.encode is not None:
            out.encoded = [self.encode(r) for r in out.results]
            out.results = [replace(r, objects=()) for r in out.results]
        return out


_adopted: list[_Job] = []  # the job of a forked worker process (set once by its initializer)


def _adopt(job: _Job) -> None:
    _adopted.append(job)


def _run_adopted(services: list[str]) -> TreeRender:
    return _adopted[0].run(services)


def _loads(source: SoaSource, service: str, clusters: list[str] | None) -> Iterator[ServiceLoad]:
    if clusters is not None and len(clusters) == 1:
        files = source.read_service(service, clusters[0])
    else:
        files = source.read_service(service)
    unreadable = unreadable_issues(files)
    if clusters is not None and "." in files.unreadable:
        targets = list(clusters)  # the directory itself is unreadable: it may hold instances anywhere
    else:
        targets = files.clusters() if clusters is None else [c for c in clusters if c in files.clusters()]
    ignored = ignored_issues(files)
    for i, cluster in enumerate(targets or [None]):
        load = load_service(files, cluster)
        if unreadable and (i == 0 or "." in files.unreadable):  # once (the run dedupes a directory's)
            load = replace(load, issues=tuple(dict.fromkeys((*unreadable, *load.issues))))
        if ignored and i == 0:
            load = replace(load, issues=(*load.issues, *ignored))
        yield load
