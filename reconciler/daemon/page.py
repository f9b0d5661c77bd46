"""The report page at `/`: one self-contained HTML document (no external assets) from the drift JSON."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from reconciler.report.status import SETTLED

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
.s{font-weight:600}.bad{color:#b00020}.ok{color:#1b5e20}.muted{color:#666}
summary{cursor:pointer}code{font-size:12px}.clusters td{border:0;padding-right:2em}
"""


def _status(status: str) -> str:
    return f'<span class="s {"ok" if status in SETTLED else "bad"}">{escape(status)}</span>'


def _version(side: dict[str, Any] | None) -> str:
    if not side:
        return '<span class="muted">-</span>'
    sha = (side.get("git_sha") or "")[:8]
    replicas = side.get("replicas")
    ready = side.get("ready_replicas")
    count = f"{ready}/{replicas}" if ready is not None else f"{replicas if replicas is not None else 'auto'}"
    return f"<code>{escape(sha)}</code> <code>{escape(side.get('config_sha') or '')}</code> {escape(str(count))}"


def render(report: dict[str, Any]) -> str:
    """The page for a drift report (`DaemonState.drift()`), problem rows first."""
    rows = report["instances"]
    per_cluster: dict[str, Counter[str]] = {name: Counter() for name in report["clusters"]}
    for row in rows:
        per_cluster.setdefault(row["cluster"], Counter())[row["status"]] += 1
    source = report["source"]
    parts = ['<!doctype html><html><head><meta charset=utf-8><meta http-equiv="refresh" content="15">'
             f"<title>reconciler</title><style>{_STYLE}</style>"
             "</head><body><h1>reconciler</h1>",
             f'<p class="muted">generated {escape(report["generated_at"])} &middot; soa-configs '
             f'<code>{escape((source.get("soa_configs_commit") or "-")[:12])}</code> &middot; deployments '
             f'<code>{escape((source.get("deployments_commit") or "-")[:12])}</code> &middot; '
             '<a href="/api/v1/drift">JSON</a> &middot; <a href="/metrics">metrics</a></p>']
    if source.get("error"):
        parts.append(f'<p class="bad">source error: {escape(source["error"])}</p>')
    parts.append('<table class="clusters" id="clusters">')
    for name, info in report["clusters"].items():
        counts = per_cluster.get(name, Counter())
        bad = sum(v for k, v in counts.items() if k not in SETTLED)
        state = "unreachable: " + escape(info.get("error") or "") if info.get("reachable") is False else (
            f"{bad} need attention" if bad else "all settled")
        summary = ", ".join(f"{escape(k)} {v}" for k, v in sorted(counts.items()))
        parts.append(f'<tr data-cluster="{escape(name)}"><td class="s">{escape(name)}</td>'
                     f'<td class="{"bad" if bad or info.get("reachable") is False else "ok"}">{state}</td>'
                     f"<td>{summary}</td></tr>")
    parts.append('</table><table id="instances"><tr><th>cluster</th><th>instance</th><th>status</th>'
                 "<th>git</th><th>live</th><th>since</th><th>why</th></tr>")
    for row in rows:
        details = ""
        if row["differences"] or row["train"]["halted"]:
            items = "".join(f"<li><code>{escape(d['path'])}</code>: git <code>{escape(str(d['desired']))}</code>, "
                            f"live <code>{escape(str(d['live']))}</code></li>" for d in row["differences"])
            if row["train"]["halted"]:
                items += f"<li>train halted: {escape(str(row['train']['reason']))}</li>"
            details = f"<details><summary>details</summary><ul>{items}</ul></details>"
        parts.append(
            f'<tr data-status="{escape(row["status"])}"><td>{escape(row["cluster"])}</td>'
            f'<td>{escape(row["service"])}.{escape(row["instance"])}</td><td>{_status(row["status"])}</td>'
            f'<td>{_version(row["desired"])}</td><td>{_version(row["live"])}</td>'
            f'<td class="muted">{escape(row["since"] or "")}</td><td>{escape(row["message"])}{details}</td></tr>')
    parts.append("</table></body></html>\n")
    return "".join(parts)
