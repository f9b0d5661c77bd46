"""`reconciler freeze`, `unfreeze` and `freezes`: ad-hoc freezes stored on the clusters.

A freeze holds every bounce, create, scale, stop and prune on the clusters it names (only the
services it names, with `--service`), and every promotion onto them, except what `--allow`
lets through; rollbacks always run. It is stored on the cluster (`reconcile.freezes`), so every
daemon replica and CLI run sees it at once, and it ends at `--until` / after `--for`, or when
`unfreeze` clears it. `freezes` lists what is in force now: configured windows and ad-hoc ones.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    emit_document,
    err,
    maybe_config,
    print_table,
    unknown,
)
from reconciler.cluster.errors import ClusterError
from reconciler.cluster.factory import connect
from reconciler.config import Config, parse_duration
from reconciler.config.model import FREEZE_ALLOWS
from reconciler.engine.freeze import Freeze
from reconciler.engine.marks import parse_time
from reconciler.reconcile.cycle import policy_for
from reconciler.reconcile.freezes import UnreadableFreezes, active, entry, read_freezes, update_freezes, without


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("freeze", help="freeze clusters: no bounce, create or promotion starts",
                       description="Store a freeze on each cluster (default: every configured one). Exit 0 "
                                   "when stored everywhere, 2 when a cluster could not be written.")
    p.add_argument("--config", required=True, help="reconciler.yaml")
    p.add_argument("--cluster", action="append", help="freeze this cluster (repeatable; default: all)")
    p.add_argument("--service", action="append", help="only this service (repeatable; default: all)")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--for", dest="duration", metavar="DURATION", help="how long, e.g. 2h or 30m")
    end.add_argument("--until", metavar="TIME", help="when it ends (RFC 3339, e.g. 2026-12-24T18:00:00Z)")
    p.add_argument("--allow", action="append", choices=FREEZE_ALLOWS, help="let this through (repeatable)")
    p.add_argument("--name", help="the freeze's name (default: adhoc-<UTC time>)")
    p.add_argument("--reason", default="", help="why (shown on every frozen row)")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run_freeze)

    u = sub.add_parser("unfreeze", help="clear an ad-hoc freeze",
                       description="Clear the ad-hoc freeze NAME (or, with --all, every ad-hoc freeze) on each "
                                   "cluster. Configured freeze windows stay: they are in reconciler.yaml. Exit 0 "
                                   "when cleared everywhere, 2 when a cluster could not be written.")
    u.add_argument("--config", required=True, help="reconciler.yaml")
    u.add_argument("--cluster", action="append", help="this cluster (repeatable; default: all)")
    which = u.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the freeze to clear")
    which.add_argument("--all", action="store_true", help="clear every ad-hoc freeze")
    u.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    u.set_defaults(func=run_unfreeze)

    f = sub.add_parser("freezes", help="the freezes in force now",
                       description="The freezes in force now on each cluster: configured windows that are "
                                   "open and ad-hoc freezes. Exit 0, or 2 when a cluster could not be read.")
    f.add_argument("--config", required=True, help="reconciler.yaml")
    f.add_argument("--cluster", action="append", help="this cluster (repeatable; default: all)")
    f.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    f.set_defaults(func=run_list)


def _config(args: argparse.Namespace) -> tuple[Config, list[str]]:
    config = maybe_config(args.config)
    assert config is not None
    unknown("cluster", args.cluster or (), config.clusters, args.config)
    return config, args.cluster or list(config.clusters)


def _until(args: argparse.Namespace, now: datetime) -> datetime | None:
    if args.duration:
        try:
            return now + timedelta(seconds=parse_duration(args.duration))
        except ValueError:
            raise UsageError(f"--for {args.duration!r}: expected a duration such as 2h, 30m or 90s") from None
    if args.until:
        moment = parse_time(args.until)
        if moment is None:
            raise UsageError(f"--until {args.until!r}: expected an RFC 3339 time such as 2026-12-24T18:00:00Z")
        if moment <= now:
            raise UsageError(f"--until {args.until!r} is in the past")
        return moment
    return None


def _each(config: Config, clusters: list[str], work: Any) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    failed = False
    for name in clusters:
        try:
            backend = connect(config.clusters[name])
            try:
                out[name] = work(name, backend, policy_for(config.clusters[name], config.label_domain,
                                                             config.lease_namespace))
            finally:
                backend.close()
        except (ClusterError, UnreadableFreezes) as exc:
            err(f"cluster {name}: {exc}")
            failed = True
    return out, failed


def run_freeze(args: argparse.Namespace) -> int:
    config, clusters = _config(args)
    now = datetime.now(timezone.utc)
    until = _until(args, now)
    name = args.name or f"adhoc-{now.strftime('%Y%m%dT%H%M%S')}"
    freeze = Freeze(name, until, frozenset(args.service) if args.service else None, frozenset(args.allow or ()),
                    args.reason, source="ad-hoc")
    record = entry(freeze, by=getpass.getuser(), at=now)
    done, failed = _each(config, clusters, lambda cluster, backend, policy: update_freezes(
        backend, policy, lambda entries: [*without(entries, name), record]))
    if args.output in DOCUMENT_FORMATS:
        emit_document({"freeze": record, "clusters": sorted(done)}, args.output)
    elif done:
        print(f"frozen: {freeze.label} on {', '.join(sorted(done))}"
              + (f" for {', '.join(sorted(freeze.services))}" if freeze.services else "")
              + (f"; allowed: {', '.join(sorted(freeze.allow))}" if freeze.allow else ""))
    return EXIT_ERROR if failed else EXIT_OK


def run_unfreeze(args: argparse.Namespace) -> int:
    config, clusters = _config(args)
    cleared: dict[str, list[str]] = {}

    def clear(cluster: str, backend: Any, policy: Any) -> None:
        def change(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            kept = without(entries, None if args.all else args.name)
            cleared[cluster] = [str(e.get("name")) for e in entries if e not in kept]
            return kept
        update_freezes(backend, policy, change, clear_unreadable=args.all)

    _, failed = _each(config, clusters, clear)
    if args.output in DOCUMENT_FORMATS:
        emit_document({"cleared": cleared}, args.output)
    else:
        for cluster, names in sorted(cleared.items()):
            print(f"{cluster}: {'cleared ' + ', '.join(names) if names else 'no such ad-hoc freeze'}")
    return EXIT_ERROR if failed else EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    config, clusters = _config(args)
    now = datetime.now(timezone.utc)
    found, failed = _each(config, clusters, lambda cluster, backend, policy: active(
        config.freezes, read_freezes(backend, policy), cluster, now, config.zone))
    doc = {name: [f.as_dict() for f in freezes] for name, freezes in sorted(found.items())}
    if args.output in DOCUMENT_FORMATS:
        emit_document({"freezes": doc}, args.output)
    else:
        rows = [[cluster, f["name"], f["source"], f["until"] or "until unfrozen",
                 ", ".join(f["services"]) if f["services"] is not None else "all",
                 ", ".join(f["allow"]) or "-", f["reason"]] for cluster, items in doc.items() for f in items]
        if rows:
            print_table(["CLUSTER", "FREEZE", "SOURCE", "UNTIL", "SERVICES", "ALLOWED", "REASON"], rows)
        else:
            print("no freeze in force")
    return EXIT_ERROR if failed else EXIT_OK
