"""`reconciler wait SERVICE[.INSTANCE]`: until every selected row is Synced (at `--sha`, when
given) with its rollout complete, like `argocd app wait`. It only reads (the daemon or a
`--config` plan, never writing). Exit 0 done, 1 Degraded, halted or Invalid, 3 timeout, 2 error."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from reconciler.cli.common import EXIT_DIFFERENCES, EXIT_OK, UsageError
from reconciler.cli.drift_cmd import read_drift
from reconciler.config.schema import parse_duration

EXIT_TIMEOUT = 3
#: Statuses a wait cannot end well from.
FAILED = frozenset({"Degraded", "Invalid"})


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("wait", help="wait until a service (or instance) is Synced, at a sha if given",
                       description=__doc__)
    p.add_argument("target", metavar="SERVICE[.INSTANCE]")
    p.add_argument("--cluster", action="append", help="only this cluster (repeatable)")
    p.add_argument("--sha", help="the git sha (or its start) every row must run")
    p.add_argument("--timeout", default="10m", help="give up after this long (default 10m; 90s, 1h, ...)")
    p.add_argument("--interval", default="2s", help="between two looks (default 2s)")
    p.add_argument("--config", help="reconciler.yaml: read git and the clusters directly (default: the "
                                    "embedded default)")
    p.add_argument("--server", metavar="URL", help="ask a running daemon instead")
    p.add_argument("--soa-dir", help="the soa-configs directory (default: the config's source)")
    p.set_defaults(func=run)


def verdict(rows: list[dict[str, Any]], sha: str | None) -> tuple[str, str]:
    """("done" | "failed" | "waiting", why) for the selected rows."""
    if not rows:
        return "waiting", "no instance yet"
    for row in rows:
        if row["status"] in FAILED or (row.get("train") or {}).get("halted"):
            reason = (row.get("train") or {}).get("reason") if row["status"] not in FAILED else row["message"]
            return "failed", f"{row['service']}.{row['instance']} on {row['cluster']}: {row['status']}: {reason}"
    pending = []
    for row in rows:
        live = ((row.get("live") or {}).get("git_sha") or "")
        if row["status"] != "Synced" or (sha and not live.startswith(sha)):
            pending.append(f"{row['service']}.{row['instance']}@{row['cluster']} {row['status']}"
                           + (f" ({live[:8] or '-'})" if sha else ""))
    if pending:
        return "waiting", ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
    return "done", f"{len(rows)} instance(s) Synced" + (f" at {sha}" if sha else "")


def run(args: argparse.Namespace) -> int:
    service, _, instance = args.target.partition(".")
    if not service:
        raise UsageError("wait needs SERVICE or SERVICE.INSTANCE")
    try:
        timeout, interval = parse_duration(args.timeout), parse_duration(args.interval)
    except ValueError as exc:
        raise UsageError(f"--timeout/--interval: {exc}") from None
    deadline = time.monotonic() + timeout
    terminal = sys.stderr.isatty()
    back = "\r" if terminal else ""
    last = ""
    while True:
        doc = read_drift(args, [service])
        rows = [r for r in doc["instances"] if not instance or r["instance"] == instance]
        state, why = verdict(rows, args.sha)
        if why != last:
            print(f"{back}{state}: {why}", file=sys.stderr, end="" if terminal else "\n")
            last = why
        if state == "done":
            print(f"\n{why}" if terminal else why)
            return EXIT_OK
        if state == "failed":
            print(f"\n{why}" if terminal else why)
            return EXIT_DIFFERENCES
        if time.monotonic() + interval > deadline:
            print(f"\ntimed out after {args.timeout}: {why}" if terminal else f"timed out after {args.timeout}: {why}")
            return EXIT_TIMEOUT
        time.sleep(interval)
