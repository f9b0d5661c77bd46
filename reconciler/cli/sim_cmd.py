"""`reconciler sim`: read and write the embedded simulated cluster as another client would (kubectl's
role there: seeding objects, a hand edit for a drift drill); the state file a daemon may share."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from reconciler.cli.common import (
    EMBEDDED,
    EXIT_DIFFERENCES,
    EXIT_OK,
    UsageError,
    config_or_default,
    err,
    print_table,
)
from reconciler.cluster.errors import ClusterError
from reconciler.kinds import KINDS

#: The names kubectl accepts for each kind (singular, plural, short), lower-cased.
_ALIASES = {"deploy": "Deployment", "deployments": "Deployment", "sts": "StatefulSet", "statefulsets": "StatefulSet",
            "rs": "ReplicaSet", "replicasets": "ReplicaSet", "controllerrevisions": "ControllerRevision",
            "pdb": "PodDisruptionBudget", "poddisruptionbudgets": "PodDisruptionBudget",
            "hpa": "HorizontalPodAutoscaler", "horizontalpodautoscalers": "HorizontalPodAutoscaler",
            "po": "Pod", "pods": "Pod", "ns": "Namespace", "namespaces": "Namespace", "leases": "Lease",
            "cm": "ConfigMap", "configmaps": "ConfigMap"}


def kind_named(name: str) -> str:
    """The kind a kubectl-style name means (`deploy`, `deployments`, `Deployment`)."""
    for kind in KINDS:
        if name.lower() == kind.lower():
            return kind
    if name.lower() in _ALIASES:
        return _ALIASES[name.lower()]
    raise UsageError(f"unknown kind {name!r}; one of: {', '.join(KINDS)} (or kubectl's names for them)")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sim", help="inspect and edit the embedded simulated cluster (kubectl's role there)",
                       description="Read and write objects of a simulated cluster as another client would: "
                                   "the one a config's cluster names (`sim: {state: ...}`), or a state file "
                                   "given with --state. KIND as kubectl accepts it (deploy, deployments, "
                                   "Deployment). Kinds: " + ", ".join(KINDS) + ".")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", help="reconciler.yaml (default: the embedded default, as `reconciler run`)")
    where.add_argument("--cluster", help="the simulated cluster of the config (default: its only one)")
    where.add_argument("--state", help="a simulated cluster's state file, instead of --config")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (("get", "one object (NAME), or every object of the kind"), ("list", "every object of the kind")):
        q = actions.add_parser(name, parents=[where], help=help_text)
        q.add_argument("kind", metavar="KIND")
        if name == "get":
            q.add_argument("name", nargs="?", metavar="NAME")
        q.add_argument("-n", "--namespace", help="only this namespace")
        q.add_argument("-l", "--selector", help="label selector, e.g. paasta.yelp.com/service=web")
        q.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
        q.set_defaults(func=run)
    apply = actions.add_parser("apply", parents=[where], help="server-side apply objects from a file",
                               description="Server-side apply every object of FILE (YAML or JSON, several "
                                           "documents or a List; - for stdin) as --field-manager, as "
                                           "`kubectl apply --server-side` does: a hand edit, a seeded object.")
    apply.add_argument("-f", "--filename", required=True, metavar="FILE")
    apply.add_argument("--field-manager", default="kubectl", metavar="NAME")
    apply.add_argument("--force-conflicts", action="store_true", help="take over fields other managers own")
    apply.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    apply.set_defaults(func=run_apply)
    delete = actions.add_parser("delete", parents=[where], help="delete one object")
    delete.add_argument("kind", metavar="KIND")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("-n", "--namespace", help="its namespace")
    delete.set_defaults(func=run_delete)


def _state_path(args: argparse.Namespace) -> tuple[str, str]:
    if args.state:
        return args.cluster or "sim", args.state
    config = config_or_default(args.config)
    where = args.config or EMBEDDED
    sims = {name: c.sim_state for name, c in config.clusters.items() if c.sim_state}
    if args.cluster:
        if args.cluster not in sims:
            raise UsageError(f"{args.cluster} is not a simulated cluster of {where}")
        return args.cluster, str(sims[args.cluster])
    if len(sims) != 1:
        raise UsageError(f"{where} has {len(sims)} simulated clusters: name one with --cluster")
    [(name, path)] = sims.items()
    return name, str(path)


def _open(args: argparse.Namespace) -> Any:
    from reconciler.cluster.sim.backend import SimCluster

    name, path = _state_path(args)
    return SimCluster(name, path)


def _emit(items: list[dict[str, Any]], output: str, one: bool, kind: str) -> None:
    if output == "json":
        json.dump(items[0] if one else items, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif output == "yaml":
        yaml.safe_dump_all(items, sys.stdout, sort_keys=False) if not one else yaml.safe_dump(items[0], sys.stdout,
                                                                                             sort_keys=False)
    else:
        _print_objects(kind, items)


def run(args: argparse.Namespace) -> int:
    kind = kind_named(args.kind)
    name = getattr(args, "name", None)
    cluster = _open(args)
    try:
        items = [cluster.get(kind, name, args.namespace)] if name else \
            cluster.list(kind, selector=args.selector, namespace=args.namespace)
    except ClusterError as exc:
        err(str(exc))
        return EXIT_DIFFERENCES
    finally:
        cluster.close()
    _emit(items, args.output, bool(name), kind)
    return EXIT_OK


def _documents(path: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not YAML or JSON: {exc}") from None
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("kind"):
            raise UsageError(f"{path}: every document must be an object with a kind")
        out.extend(doc.get("items") or [] if doc["kind"] == "List" else [doc])
    return out


def run_apply(args: argparse.Namespace) -> int:
    objects = _documents(args.filename)
    cluster = _open(args)
    applied: list[dict[str, Any]] = []
    failed = 0
    try:
        for obj in objects:
            obj = {**obj, "kind": kind_named(str(obj["kind"]))}
            where = f"{obj['kind']} {(obj.get('metadata') or {}).get('namespace') or ''}/{(obj.get('metadata') or {}).get('name')}"
            try:
                applied.append(cluster.apply(obj, field_manager=args.field_manager, force=args.force_conflicts))
            except ClusterError as exc:
                failed += 1
                err(f"{where.replace(' /', ' ')}: {exc}")
    finally:
        cluster.close()
    if args.output == "table":
        for obj in applied:
            print(f"{obj['kind'].lower()}/{obj['metadata']['name']} serverside-applied")
    else:
        _emit(applied, args.output, False, "")
    return EXIT_DIFFERENCES if failed else EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    kind = kind_named(args.kind)
    cluster = _open(args)
    try:
        cluster.delete(kind, args.name, args.namespace)
    except ClusterError as exc:
        err(str(exc))
        return EXIT_DIFFERENCES
    finally:
        cluster.close()
    print(f'{kind.lower()} "{args.name}" deleted')
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
