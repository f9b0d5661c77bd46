"""`reconciler drift` and `reconciler status SERVICE`: what differs from git, since when and why.

Both read git and the clusters themselves (`--config`), or ask a running daemon (`--server
URL`) for the same documents. Tables are drawn by Rich and fit 80 columns; rows needing
attention come first. Exit codes: 0 every row Synced, Stopped or NotDeployed; 1 otherwise;
2 on error (a cluster or the source could not be read).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EMBEDDED,
    EXIT_DIFFERENCES,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    check_services,
    config_or_default,
    emit_document,
    err,
    read_sources,
    settings_factory,
    unknown,
    worker_count,
)
from reconciler.cluster.protocol import Cluster
from reconciler.config import Config
from reconciler.reconcile.cycle import CycleResult, Mode
from reconciler.reconcile.each import reconcile_each
from reconciler.reconcile.revision import Revision
from reconciler.report.document import drift_document, status_document, versions_present
from reconciler.report.status import SETTLED, Row, instance_rows

Versions = dict[str, dict[tuple[str, str], dict[str, int]]]
#: The bearer token sent to a daemon that requires one (its `auth.token_env`).
API_TOKEN_ENV = "RECONCILER_API_TOKEN"


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    drift = sub.add_parser("drift", help="what differs from git on every cluster, since when and why",
                           description=__doc__)
    status = sub.add_parser("status", help="one service on every cluster: replicas, versions, rollout",
                            description=__doc__)
    status.add_argument("service", metavar="SERVICE")
    for p, formats in ((drift, ("table", "json", "yaml", "markdown")), (status, ("table", "json", "yaml"))):
        p.add_argument("--config", help="reconciler.yaml: read git and the clusters directly (with neither "
                                        "--config nor --server: the embedded default, as `reconciler run`)")
        p.add_argument("--server", metavar="URL", help="ask a running daemon instead (http://host:port; "
                                                        "the token in $RECONCILER_API_TOKEN is sent if set)")
        p.add_argument("--soa-dir", help="the soa-configs directory (default: the config's source)")
        p.add_argument("--cluster", action="append", help="only this cluster (repeatable)")
        p.add_argument("-o", "--output", choices=formats, default="table")
    drift.add_argument("--service", action="append", help="only this service (repeatable)")
    drift.set_defaults(func=run_drift)
    status.set_defaults(func=run_status)


# ---------------------------------------------------------------------- reading
def _from_server(url: str, path: str, params: dict[str, str] | list[tuple[str, str]],
                 method: str = "GET") -> dict[str, Any]:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    token = os.environ.get(API_TOKEN_ENV)
    request = urllib.request.Request(url.rstrip("/") + path + query, method=method,
                                     data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            doc = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{url}{path}: HTTP {exc.code}: {_server_message(exc)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UsageError(f"cannot ask the daemon at {url}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{url}{path}: not a JSON object")
    return doc


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The daemon's own reason (its JSON `error`), never a raw page."""
    try:
        doc = json.loads(exc.read(64 * 1024))
    except (ValueError, OSError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    return str(exc.reason)


def _direct(args: argparse.Namespace, services: list[str] | None, *, pods: bool) -> tuple[dict[str, Any], Versions]:
    config = config_or_default(args.config)
    clusters = _clusters(args, config)
    sources = read_sources(args.soa_dir, config)
    check_services(sources.tree, services, "soa-configs")
    revision = Revision.of(sources.tree, clusters, settings_factory(config, None), services, workers=worker_count())

    def versions_on(name: str, backend: Cluster, cycle: CycleResult) -> dict[tuple[str, str], dict[str, int]]:
        found: dict[tuple[str, str], dict[str, int]] = {}
        for service in services if pods and services else ():
            selector = f"{config.label_domain}/service={service}"
            found.update(versions_present(backend.list("Pod", selector=selector), config.label_domain))
        return found

    mode = Mode(check_drift=True, services=frozenset(services) if services else None,
                freeze_windows=config.freezes, time_zone=config.time_zone)
    runs = reconcile_each(config, clusters, revision, mode, then=versions_on)
    rows: list[Row] = []
    infos: dict[str, dict[str, Any]] = {}
    versions: Versions = {}
    results = revision.view().results
    for run in runs:  # one cluster failing never stops the others
        infos[run.name] = {"reachable": run.error is None, "error": run.error}
        if run.result is None:
            continue
        rows += instance_rows(run.name, results, run.result.plan, run.result.health,
                              label_domain=config.label_domain, changed_at=sources.commit_time)
        if pods and services:
            versions[run.name] = run.extra or {}
    doc = drift_document(generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         source={"soa_configs_commit": sources.soa_commit,
                                 "deployments_commit": sources.deployments_commit, "error": None},
                         clusters=infos, rows=rows)
    return doc, versions


def _clusters(args: argparse.Namespace, config: Config) -> list[str]:
    unknown("cluster", args.cluster or (), config.clusters, args.config or EMBEDDED)
    return list(args.cluster or config.clusters)


def _need_one(args: argparse.Namespace) -> None:
    if args.config and args.server:
        raise UsageError("give --config (read git and the clusters) or --server URL (ask a daemon), not both; "
                         "with neither, the embedded default is read")


def _exit(doc: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    broken = [name for name, info in doc["clusters"].items() if info.get("reachable") is False]
    for name in broken:
        err(f"cluster {name}: {doc['clusters'][name].get('error')}")
    if doc["source"].get("error"):
        err(f"source: {doc['source']['error']}")
    if broken:
        return EXIT_ERROR
    return EXIT_OK if all(r["status"] in SETTLED for r in rows) else EXIT_DIFFERENCES


def ask_server(url: str, path: str, params: dict[str, str] | list[tuple[str, str]], method: str = "GET") -> dict[str, Any]:
    """A JSON document from the daemon at `url` (errors: UsageError with its own reason)."""
    return _from_server(url, path, params, method)


# ---------------------------------------------------------------------- drift
def read_drift(args: argparse.Namespace, services: list[str] | None) -> dict[str, Any]:
    """The drift document of `services` (None: all) on `args.cluster` (None: all), from the
    daemon at `args.server` or read directly with `args.config` (never writing)."""
    _need_one(args)
    if args.server:
        doc = _from_server(args.server, "/api/v1/drift", {})
        wanted_clusters, wanted_services = set(args.cluster or ()), set(services or ())
        doc["instances"] = [r for r in doc["instances"]
                            if (not wanted_clusters or r["cluster"] in wanted_clusters)
                            and (not wanted_services or r["service"] in wanted_services)]
        return doc
    doc, _ = _direct(args, services, pods=False)
    return doc


def run_drift(args: argparse.Namespace) -> int:
    doc = read_drift(args, args.service)
    if args.output in DOCUMENT_FORMATS:
        emit_document(doc, args.output)
    elif args.output == "markdown":
        sys.stdout.write(markdown(doc))
    else:
        _print_drift(doc)
    return _exit(doc, doc["instances"])


def _short(side: dict[str, Any] | None) -> str:
    sha = (side or {}).get("git_sha") or ""
    return sha[:8] or "-"


def _ago(moment: str | None, now: str) -> str:
    if not moment:
        return "-"
    try:
        then = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        seconds = int((datetime.fromisoformat(now.replace("Z", "+00:00")) - then).total_seconds())
    except ValueError:
        return moment
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


def _detail(row: dict[str, Any]) -> str:
    text = str(row["message"])
    for difference in row.get("differences", [])[:3]:
        text += f"\n{difference['path']}: git {difference['desired']!r}, live {difference['live']!r}"
    if row.get("train", {}).get("halted"):
        text += f"\ntrain halted: {row['train']['reason']}"
    return text


#: Status colours on a terminal (Rich drops them elsewhere, and with NO_COLOR set).
STATUS_STYLE = {"Synced": "green", "Stopped": "dim", "NotDeployed": "dim", "Progressing": "cyan",
                "OutOfSync": "yellow", "Waiting": "yellow", "Frozen": "cyan", "Drifted": "magenta", "Missing": "yellow",
                "Orphaned": "magenta", "Degraded": "bold red", "Invalid": "bold red"}


def _console() -> Console:
    """Tables as wide as the terminal (or $COLUMNS); 80 columns when piped without COLUMNS."""
    wide = sys.stdout.isatty() or bool(os.environ.get("COLUMNS"))
    return Console(width=None if wide else 80, highlight=False, soft_wrap=False)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _print_drift(doc: dict[str, Any]) -> None:
    console = _console()
    counts: dict[str, dict[str, int]] = {}
    for row in doc["instances"]:
        per = counts.setdefault(row["cluster"], {})
        per[row["status"]] = per.get(row["status"], 0) + 1
    for name, info in doc["clusters"].items():
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.get(name, {}).items())) or "no instances"
        state = f"UNREACHABLE: {info.get('error')}" if info.get("reachable") is False else summary
        console.print(f"{name}: {state}")
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, expand=False)
    for column, options in (("CLUSTER", {}), ("INSTANCE", {"overflow": "fold"}), ("STATUS", {}),
                            ("GIT", {"no_wrap": True}),
                            ("SINCE", {"no_wrap": True}), ("WHY", {"overflow": "fold", "ratio": 1})):
        table.add_column(column, **options)
    for row in doc["instances"]:
        git = _short(row.get("desired"))
        live = _short(row.get("live"))
        table.add_row(row["cluster"], f"{row['service']}.{row['instance']}", _status(row["status"]),
                      git if live in (git, "-") else f"{live}->{git}", _ago(row.get("since"), doc["generated_at"]),
                      _detail(row))
    console.print(table)


def markdown(doc: dict[str, Any]) -> str:
    """The drift report as a Markdown document (for a pull request or a wiki page)."""
    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", "<br>")

    lines = [f"# Drift report ({doc['generated_at']})", "",
             f"soa-configs `{(doc['source'].get('soa_configs_commit') or '-')[:12]}`, deployments "
             f"`{(doc['source'].get('deployments_commit') or '-')[:12]}`", ""]
    for name, info in doc["clusters"].items():
        lines.append(f"- **{name}**: " + ("reachable" if info.get("reachable") else f"unreachable: {info.get('error')}"))
    lines += ["", "| cluster | instance | status | git | live | since | why |", "|---|---|---|---|---|---|---|"]
    for row in doc["instances"]:
        lines.append("| " + " | ".join(cell(v) for v in (
            row["cluster"], f"{row['service']}.{row['instance']}", row["status"], _short(row.get("desired")),
            _short(row.get("live")), row.get("since") or "-", _detail(row))) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- status
def run_status(args: argparse.Namespace) -> int:
    _need_one(args)
    if args.server:
        doc = _from_server(args.server, f"/api/v1/status/{urllib.parse.quote(args.service)}", {})
        if args.cluster:
            doc["instances"] = [i for i in doc["instances"] if i["cluster"] in set(args.cluster)]
    else:
        drift, versions = _direct(args, [args.service], pods=True)
        doc = status_document(args.service, drift, versions)
    if not doc["instances"]:
        err(f"no instance of service {args.service!r} on the selected clusters")
        return EXIT_ERROR
    if args.output in DOCUMENT_FORMATS:
        emit_document(doc, args.output)
    else:
        _print_status(doc)
    return _exit(doc, doc["instances"])


def _print_status(doc: dict[str, Any]) -> None:
    console = _console()
    console.print(f"{doc['service']}: soa-configs {(doc['source'].get('soa_configs_commit') or '-')[:12]}, "
                  f"deployments {(doc['source'].get('deployments_commit') or '-')[:12]}")
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for column, options in (("CLUSTER", {}), ("INSTANCE", {}), ("STATE", {}), ("PODS", {"no_wrap": True}),
                            ("VERSIONS", {}), ("ROLLOUT", {"overflow": "fold", "ratio": 1})):
        table.add_column(column, **options)
    for item in doc["instances"]:
        replicas = item["replicas"]
        ready = replicas.get("ready")
        pods = f"{ready if ready is not None else '-'}/{replicas.get('desired') if replicas.get('desired') is not None else 'auto'}"
        versions = item["versions"]
        present = versions.get("pods") or {}
        new = versions.get("new") or ""
        shown = [f"new {new[:8]}: {present.get(new, 0)}"] + [f"old {sha[:8]}: {present[sha]}" for sha in versions.get("old", [])]
        rollout = f"{item['status']}: {item['rollout']['message']}"
        if (item.get("train") or {}).get("halted"):
            rollout += f"\ntrain halted: {item['train']['reason']}"
        table.add_row(item["cluster"], item["instance"], item["desired_state"], pods, "\n".join(shown), rollout)
    console.print(table)
