"""The report page at `/`: one self-contained HTML document (no external assets) from the drift
JSON, rendered from `templates/page.html` by Jinja2 with autoescaping on, so nothing a config or a
cluster contains (service names, messages, field values) can inject markup."""

from __future__ import annotations

from collections import Counter
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader

from reconciler.report.status import SETTLED

_ENV = Environment(loader=PackageLoader("reconciler.daemon", "templates"), autoescape=True,
                   undefined=ChainableUndefined, keep_trailing_newline=True)


def _count(side: dict[str, Any]) -> str:
    replicas, ready = side.get("replicas"), side.get("ready_replicas")
    if ready is not None:
        return f"{ready}/{replicas}"
    return f"{replicas if replicas is not None else 'auto'}"


def render(report: dict[str, Any], filters: dict[str, str] | None = None,
           releases: list[dict[str, Any]] | None = None) -> str:
    """The page for a drift report (`DaemonState.drift()`), problem rows first; `filters`: the
    cluster, service and status it was filtered by (shown in the filter form); `releases`: each
    release's progress through its pipeline (`DaemonState.releases()`)."""
    per_cluster: dict[str, Counter[str]] = {name: Counter() for name in report["clusters"]}
    for row in report["instances"]:
        per_cluster.setdefault(row["cluster"], Counter())[row["status"]] += 1
    clusters = []
    for name, info in report["clusters"].items():
        counts = per_cluster.get(name, Counter())
        bad = sum(v for k, v in counts.items() if k not in SETTLED)
        unreachable = info.get("reachable") is False
        state = f"unreachable: {info.get('error') or ''}" if unreachable else (
            f"{bad} need attention" if bad else "all settled")
        clusters.append({"name": name, "bad": bad, "unreachable": unreachable, "state": state,
                         "summary": ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))})
    checked = {name: info.get("last_success") for name, info in report["clusters"].items()}
    statuses = sorted({r["status"] for r in report["instances"]} | {(filters or {}).get("status") or "Synced"})
    return _ENV.get_template("page.html").render(report=report, clusters=clusters, settled=SETTLED, count=_count,
                                                 checked=checked, filters=filters or {}, statuses=statuses,
                                                 releases=releases or [],
                                                 freezes=[(name, f) for name, info in report["clusters"].items()
                                                          for f in info.get("freezes") or ()])
