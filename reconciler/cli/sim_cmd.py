"""`reconciler sim`: look inside the embedded simulated cluster (the state file a daemon may share)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

from reconciler.cli.common import EXIT_DIFFERENCES, EXIT_OK, UsageError, maybe_config, print_table
from reconciler.cluster.errors import ClusterError
from reconciler.kinds import KINDS


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sim", help="inspect the embedded simulated cluster",
                       description="List or show objects of a simulated cluster: the one a config's "
                                   "cluster names (`sim: {state: ...}`), or a state file given with "
                                   "--state. KIND is one of: " + ", ".join(KINDS) + ".")
    p.add_argument("action", choices=("list", "get"))
    p.add_argument("kind", metavar="KIND")
    p.add_argument("name", nargs="?", metavar="NAME", help="with get: the object's name")
    p.add_argument("-n", "--namespace", help="only this namespace")
    p.add_argument("-l", "--selector", help="label selector, e.g. paasta.yelp.com/service=web")
    p.add_argument("--config", help="reconciler.yaml")
    p.add_argument("--cluster", help="the simulated cluster of the config (default: its only one)")
    p.add_argument("--state", help="a simulated cluster's state file, instead of --config")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def _state_path(args: argparse.Namespace) -> tuple[str, str]:
    if args.state:
        return args.cluster or "sim", args.state
    config = maybe_config(args.config)
    if config is None:
        raise UsageError("sim needs --config (with a `sim:` cluster) or --state FILE")
    sims = {name: c.sim_state for name, c in config.clusters.items() if c.sim_state}
    if args.cluster:
        if args.cluster not in sims:
            raise UsageError(f"{args.cluster} is not a simulated cluster of {args.config}")
        return args.cluster, str(sims[args.cluster])
    if len(sims) != 1:
        raise UsageError(f"{args.config} has {len(sims)} simulated clusters: name one with --cluster")
    [(name, path)] = sims.items()
    return name, str(path)


def run(args: argparse.Namespace) -> int:
    from reconciler.cluster.sim.backend import SimCluster

    if args.kind not in KINDS:
        raise UsageError(f"unknown kind {args.kind!r}; one of: {', '.join(KINDS)}")
    if (args.action == "get") != bool(args.name):
        raise UsageError("get takes a NAME; list takes none")
    name, path = _state_path(args)
    cluster = SimCluster(name, path)
    try:
        if args.action == "get":
            items = [cluster.get(args.kind, args.name, args.namespace)]
        else:
            items = cluster.list(args.kind, selector=args.selector, namespace=args.namespace)
    except ClusterError as exc:
        print(f"reconciler: {exc}", file=sys.stderr)
        return EXIT_DIFFERENCES
    finally:
        cluster.close()
    if args.output == "json":
        json.dump(items[0] if args.action == "get" else items, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_objects(args.kind, items)
    return EXIT_OK


def _print_objects(kind: str, items: list[dict[str, Any]]) -> None:
    if kind in ("Deployment", "StatefulSet"):
        header = ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        rows = [[_ns(o), o["metadata"]["name"],
                 f"{o.get('status', {}).get('readyReplicas', 0)}/{o.get('spec', {}).get('replicas', 0)}",
                 str(o.get("status", {}).get("updatedReplicas", 0)),
                 str(o.get("status", {}).get("availableReplicas", 0)), _age(o)] for o in items]
    elif kind == "Pod":
        header = ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        rows = [[_ns(o), o["metadata"]["name"], *_pod_state(o), _age(o)] for o in items]
    else:
        header = ["NAMESPACE", "NAME", "AGE"]
        rows = [[_ns(o), o["metadata"]["name"], _age(o)] for o in items]
    print_table(header, rows)


def _ns(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("namespace") or "-")


def _pod_state(pod: dict[str, Any]) -> list[str]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    waiting = [s["state"]["waiting"].get("reason", "Waiting") for s in statuses
               if "waiting" in (s.get("state") or {})]
    phase = waiting[0] if waiting else str(pod.get("status", {}).get("phase", "Pending"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    return [f"{ready}/{len(pod.get('spec', {}).get('containers') or [])}", phase, str(restarts)]


def _age(obj: dict[str, Any]) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "-"
    seconds = int((datetime.now(timezone.utc) - datetime.fromisoformat(created.replace("Z", "+00:00")))
                  .total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"
