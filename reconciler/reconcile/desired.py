"""What git wants on one cluster, from a rendered tree: the input of the planner (pure)."""

from __future__ import annotations

from reconciler.engine.actions import Desired, Wanted
from reconciler.render.service import Outcome
from reconciler.render.tree import TreeRender


def wanted(rendered: TreeRender, cluster: str) -> Wanted:
    """The rendered objects of `cluster`, and what must never be pruned there: services with a
    file-level error or a result without an instance, and instances that did not render
    (invalid, or not deployed yet)."""
    desired: list[Desired] = []
    protected_instances: set[tuple[str, str]] = set()
    auto_rollback: set[tuple[str, str]] = set()
    protected_services = {i.service for i in rendered.issues if i.is_error and i.service}
    for result in rendered.results:
        if result.cluster != cluster:
            continue
        if result.outcome is Outcome.RENDERED and result.instance is not None:
            desired.extend(Desired(obj, result.service, result.instance) for obj in result.objects)
            if result.auto_rollback:
                auto_rollback.add((result.service, result.instance))
        elif result.instance is None:
            protected_services.add(result.service)
        else:
            protected_instances.add((result.service, result.instance))
    return Wanted(desired, frozenset(protected_services), frozenset(protected_instances), frozenset(auto_rollback))
