"""The bookkeeping annotations each workload write carries (pure). Names: `engine.marks`.

Server-side apply removes the fields a manager stops setting, so every apply of a workload must
repeat the marks it wants to keep; and a mark is only ever written inside an apply that changes
the object anyway (spec section 4: a no-op cycle makes zero writes).

- A bounce (`update` of a Deployment/StatefulSet, rollbacks included) sets `bounce-started-at` to
  now. When the rendering it replaces had completed its rollout and carried another config_sha,
  that rendering (recovered from the live object's managed fields) becomes `last-healthy`;
  otherwise the existing `last-healthy` is kept. A rollback's own `failed-config-sha` (set by
  `engine.train`) is kept; other applies drop it, since git has moved on.
- A `scale` keeps `bounce-started-at` and `last-healthy`; a `create` starts with no marks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.engine.actions import Action, Plan
from reconciler.engine.health import rollout_status
from reconciler.engine.marks import APPLIED_MARKS, BOUNCE_STARTED, LAST_HEALTHY, rfc3339
from reconciler.engine.owned import owned_fields, pack, strip_annotations
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS


def healthy_rendering(live: Mapping[str, Any], policy: Policy) -> str | None:
    """The packed rendering the reconciler applied to `live`, if its rollout completed (None
    when it did not, or when the rendering cannot be recovered or packed)."""
    if not isinstance(live.get("status"), Mapping) or not rollout_status(dict(live)).complete:
        return None
    try:
        rendering = owned_fields(live)
        if rendering is None:
            return None
        return pack(strip_annotations(rendering, [policy.key(m) for m in APPLIED_MARKS]))
    except ValueError:
        return None  # unreadable managed fields or too large: the previous mark stays


def _marks(action: Action, now: datetime, policy: Policy) -> dict[str, str]:
    live = action.live or {}
    marks: dict[str, str] = {}
    last = policy.annotation(live, LAST_HEALTHY)
    if action.action == "update":
        marks[BOUNCE_STARTED] = rfc3339(now)
        moving = policy.label(live, "config_sha") != policy.label(action.desired or {}, "config_sha")
        if not action.rollback and moving:
            last = healthy_rendering(live, policy) or last
    elif action.action == "scale":
        started = policy.annotation(live, BOUNCE_STARTED)
        if started:
            marks[BOUNCE_STARTED] = started
    if last:
        marks[LAST_HEALTHY] = last
    return marks


def annotate(plan: Plan, policy: Policy, *, now: datetime) -> Plan:
    """`plan` with each workload create/update/scale carrying its bookkeeping annotations."""
    actions = []
    for action in plan.actions:
        if (action.action in ("create", "update", "scale") and action.kind in WORKLOAD_KINDS
                and action.desired is not None):
            meta = dict(action.desired.get("metadata") or {})
            annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                           if action.rollback or k not in {policy.key(m) for m in APPLIED_MARKS}}
            annotations.update({policy.key(k): v for k, v in _marks(action, now, policy).items()})
            if annotations:
                meta["annotations"] = annotations
            else:
                meta.pop("annotations", None)
            action = dataclasses.replace(action, desired={**action.desired, "metadata": meta})
        actions.append(action)
    return dataclasses.replace(plan, actions=tuple(actions))
