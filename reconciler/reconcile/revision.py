"""A revision of the desired state: a soa-configs tree rendered for the clusters of a run.

The CLI renders one revision once (`Revision.of`); the daemon keeps one and moves it along
service by service as commits arrive (`update`), so a commit that touches one service renders
one service. Thread-safe: cycles of several clusters read it while a poll updates it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from reconciler.render.service import RenderResult
from reconciler.render.settings import RenderSettings
from reconciler.render.tree import TreeRender, render_tree
from reconciler.soa.files import SoaSource
from reconciler.soa.issues import Issue
from reconciler.soa.pipeline import DeployStep


class Revision:
    """The latest rendering, per service (see the module docstring)."""

    def __init__(self, clusters: Sequence[str], settings_for: Callable[[str], RenderSettings]) -> None:
        self.clusters = list(clusters)
        self.settings_for = settings_for
        self._lock = threading.Lock()
        self._results: dict[str, list[RenderResult]] = {}
        self._issues: dict[str, list[Issue]] = {}
        self._general: list[Issue] = []
        self._pipelines: dict[str, tuple[DeployStep, ...]] = {}

    @classmethod
    def of(cls, source: SoaSource, clusters: Sequence[str], settings_for: Callable[[str], RenderSettings],
           services: Iterable[str] | None = None, workers: int = 1) -> Revision:
        """`source` rendered now: `services` (default: all of them) for `clusters`."""
        revision = cls(clusters, settings_for)
        revision.update(source, None if services is None else frozenset(services), workers=workers,
                        only_present=False)
        return revision

    def update(self, source: SoaSource, services: frozenset[str] | None, *, workers: int = 1,
               only_present: bool = True) -> TreeRender:
        """Render `services` of `source` again (None: every service; services gone from the tree
        go) and take the result; returns what was rendered. With `only_present`, named services
        the tree no longer has are dropped without rendering them."""
        wanted: list[str] | None = None
        if services is not None:
            wanted = sorted(services & set(source.services()[0])) if only_present else list(services)
        rendered = render_tree(source, self.clusters, self.settings_for, wanted, workers=workers)
        self._take(rendered, services)
        return rendered

    def _take(self, rendered: TreeRender, services: frozenset[str] | None) -> None:
        results: dict[str, list[RenderResult]] = {}
        for result in rendered.results:
            results.setdefault(result.service, []).append(result)
        issues: dict[str, list[Issue]] = {}
        general: list[Issue] = []
        for issue in rendered.issues:
            if issue.service:
                issues.setdefault(issue.service, []).append(issue)
            else:
                general.append(issue)
        with self._lock:
            if services is None:
                self._results, self._issues, self._general = results, issues, general
                self._pipelines = dict(rendered.pipelines)
                return
            for service in services:
                self._results.pop(service, None)
                self._issues.pop(service, None)
                self._pipelines.pop(service, None)
            self._results.update(results)
            self._issues.update(issues)
            self._pipelines.update(rendered.pipelines)

    def view(self) -> TreeRender:
        """Everything rendered so far, as one TreeRender."""
        with self._lock:
            return TreeRender(results=[r for rs in self._results.values() for r in rs],
                              issues=[*self._general, *(i for its in self._issues.values() for i in its)],
                              services=sorted(self._results), pipelines=dict(self._pipelines))
