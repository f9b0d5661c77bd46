"""The desired state of a soa-configs tree: every instance of every cluster, rendered or not."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

from reconciler.render.service import RenderResult, render_service
from reconciler.render.settings import RenderSettings
from reconciler.soa.issues import Issue
from reconciler.soa.load import ServiceLoad, load_service
from reconciler.soa.tree import ServiceFiles, unreadable_issues


class SoaSource(Protocol):
    """Where service files come from: a directory today, a git commit as well later."""

    def services(self) -> tuple[list[str], list[Issue]]: ...

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles: ...


@dataclass
class TreeRender:
    """Everything found while rendering a tree: per-instance results and file-level issues."""

    results: list[RenderResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    loads: list[ServiceLoad] = field(default_factory=list)


def render_tree(source: SoaSource, clusters: Iterable[str] | None,
                settings_for: Callable[[str], RenderSettings],
                services: Iterable[str] | None = None) -> TreeRender:
    """Render `services` (default: all) for `clusters` (default: every cluster each service has)."""
    out = TreeRender()
    names, skipped = source.services()
    out.issues.extend(skipped)
    wanted = list(names) if services is None else list(services)
    cluster_list = None if clusters is None else list(clusters)
    for service in wanted:
        for load in _loads(source, service, cluster_list):
            out.loads.append(load)
            out.issues.extend(load.issues)
            if load.cluster:
                out.results.extend(render_service(load, settings_for(load.cluster)))
    return out


def _loads(source: SoaSource, service: str, clusters: list[str] | None) -> Iterator[ServiceLoad]:
    if clusters is not None and len(clusters) == 1:
        files = source.read_service(service, clusters[0])
    else:
        files = source.read_service(service)
    unreadable = unreadable_issues(files)
    targets = files.clusters() if clusters is None else [c for c in clusters if c in files.clusters()]
    for i, cluster in enumerate(targets or [None]):
        load = load_service(files, cluster)
        if i == 0 and unreadable:  # reported once, with the first cluster's load
            load = replace(load, issues=tuple(dict.fromkeys((*unreadable, *load.issues))))
        yield load
