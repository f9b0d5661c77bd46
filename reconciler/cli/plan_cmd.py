"""`reconciler plan` and `reconciler apply [--dry-run]`: one cycle, by hand."""

from __future__ import annotations

import argparse
import getpass

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EMBEDDED,
    EXIT_DIFFERENCES,
    EXIT_ERROR,
    EXIT_OK,
    check_services,
    config_or_default,
    emit_document,
    err,
    print_table,
    read_sources,
    settings_factory,
    unknown,
    worker_count,
)
from reconciler.cluster.protocol import Cluster
from reconciler.config import Config
from reconciler.daemon.leader import other_holder
from reconciler.daemon.notify import Notifier, event
from reconciler.reconcile.cycle import CycleResult, Mode
from reconciler.reconcile.each import ClusterRun, reconcile_each
from reconciler.reconcile.revision import Revision


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    for name, help_text in (("plan", "show what a cycle would change, and why"),
                            ("apply", "carry out a cycle: apply the changes within the budgets")):
        p = sub.add_parser(name, help=help_text, description=(
            help_text + ". Exit codes: plan and apply --dry-run 0 nothing to do, 1 differences (changes, held "
            "back or not, a refused prune, invalid instances), 2 error; apply 0 when every action it took "
            "succeeded (waiting is not a failure), 1 when one failed, 2 on error."))
        p.add_argument("--config", help="reconciler.yaml (clusters, budgets, prune; default: the embedded default)")
        p.add_argument("--soa-dir", help="the soa-configs directory (default: the config's `path:` source)")
        p.add_argument("--cluster", action="append", help="only this cluster (repeatable)")
        p.add_argument("--service", action="append", help="only this service (repeatable)")
        p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
        if name == "apply":
            p.add_argument("--dry-run", action="store_true", help="the same cycle as server dry runs")
            p.add_argument("--force", action="store_true",
                           help="write even though a running daemon holds the cluster's lease")
            p.add_argument("--allow-mass-prune", action="store_true",
                           help="lift max_prune_fraction for this run")
            p.add_argument("--override-freeze", action="store_true",
                           help="let bounces, creates and scales through the freezes in force, for this run "
                                "(logged, and notified when notify is configured)")
        p.set_defaults(func=run, apply=name == "apply")


def run(args: argparse.Namespace) -> int:
    config = config_or_default(args.config)
    unknown("cluster", args.cluster or (), config.clusters, args.config or EMBEDDED)
    clusters = args.cluster or list(config.clusters)
    tree = read_sources(args.soa_dir, config).tree
    check_services(tree, args.service, "soa-configs")
    revision = Revision.of(tree, clusters, settings_factory(config, None), args.service, workers=worker_count())
    dry_run = getattr(args, "dry_run", False)
    writing = args.apply and not dry_run

    def refuse(name: str, backend: Cluster) -> str | None:
        holder = other_holder(name, config.clusters[name], config, backend) if writing else None
        if holder and not args.force:
            return (f"a running reconciler holds its lease: {holder}; not writing "
                    "(--dry-run to see the cycle, --force to write anyway)")
        return None

    mode = Mode(apply=args.apply, dry_run=dry_run, check_drift=True,
                allow_mass_prune=getattr(args, "allow_mass_prune", False),
                services=frozenset(args.service) if args.service else None,
                override_freeze=getattr(args, "override_freeze", False),
                freeze_windows=config.freezes, time_zone=config.time_zone)
    runs: list[ClusterRun[None]] = reconcile_each(config, clusters, revision, mode, refuse=refuse)
    _say_overridden(config, [r.result for r in runs if r.result is not None and r.result.freeze_overridden])
    for failed in (r for r in runs if r.error is not None):  # one cluster failing never stops the others
        err(f"cluster {failed.name}: {failed.error}")
    results = [r.result for r in runs if r.result is not None]
    _print(results, args.output)
    if any(r.error is not None for r in runs):
        return EXIT_ERROR
    if writing:
        return EXIT_DIFFERENCES if any(r.failed for r in results) else EXIT_OK
    return EXIT_DIFFERENCES if any(r.differs for r in results) else EXIT_OK


def _say_overridden(config: Config, results: list[CycleResult]) -> None:
    """An override that lifted a freeze is said on stderr and to the notification receiver."""
    events = []
    for result in results:
        names = ", ".join(f.name for f in result.freezes)
        err(f"warning: cluster {result.cluster}: freeze overridden for this run ({names})")
        events.append(event("freeze_overridden", result.cluster, None, None, None,
                            f"apply --override-freeze ran through {names}",
                            freezes=[f.as_dict() for f in result.freezes], by=getpass.getuser()))
    if events and config.notify_url_env:
        notifier = Notifier(config.notify_url_env)
        notifier.send(events)
        if not notifier.close(timeout=10.0):
            err("warning: the freeze override could not be notified")


def _print(results: list[CycleResult], output: str) -> None:
    if output in DOCUMENT_FORMATS:
        docs = [r.as_dict() for r in results]
        emit_document(docs[0] if len(docs) == 1 else docs, output)
        return
    for result in results:
        doc = result.as_dict()
        rows = [[a["action"], a["kind"], a["namespace"] or "-", a["name"],
                 a["reason"] + (f" [FAILED: {a['error']}]" if a.get("error") else "")]
                for a in doc["actions"] if a["action"] != "noop"]
        print(f"cluster {result.cluster}{' (dry run)' if result.dry_run else ''}:")
        print_table(["ACTION", "KIND", "NAMESPACE", "NAME", "REASON"], rows, indent="  ")
        summary = ", ".join(f"{k} {v}" for k, v in doc["summary"].items())
        print(f"  {summary}; requests {doc['requests']}")
        for freeze in doc["freezes"]:
            state = "overridden for this run" if doc["freeze_overridden"] else "holding"
            print(f"  frozen: {freeze['name']} until {freeze['until'] or 'unfrozen'} ({state})")
        for halt in doc["halted_trains"]:
            print(f"  train halted: deploy group {halt['deploy_group']} ({halt['service']}.{halt['instance']}): "
                  f"{halt['reason']}")
        prune = doc["prune"]
        if prune["candidates"]:
            state = f"refused: {prune['reason']}" if prune["refused"] else "deleting"
            print(f"  prune: {prune['candidates']} objects no longer in git, {state}")
        for item in doc["invalid"]:
            print(f"  invalid: {item['service']}.{item['instance']}: {item['error']}")
        for item in doc["not_deployed"]:
            print(f"  not deployed yet: {item['service']}.{item['instance']} (deploy group "
                  f"{item['deploy_group']!r} has no deployments.json entry)")
