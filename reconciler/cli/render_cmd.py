"""`reconciler render`: the Kubernetes objects a soa-configs tree asks for, without any cluster."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import yaml

from reconciler.cli.common import (
    EXIT_DIFFERENCES,
    EXIT_OK,
    UsageError,
    check_services,
    err,
    maybe_config,
    settings_factory,
    soa_dir,
    unknown,
    worker_count,
)
from reconciler.render.service import Outcome, RenderResult
from reconciler.render.tree import render_tree
from reconciler.sources.directory import DirectoryTree

try:
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("render", help="print the Kubernetes objects of instances",
                       description="Render instances to Kubernetes objects. TARGET is SERVICE or "
                                   "SERVICE.INSTANCE; --all renders every service. Instances not "
                                   "deployed yet are left out (noted on stderr). Exit 1 when any "
                                   "instance is invalid.")
    p.add_argument("targets", nargs="*", metavar="TARGET", help="SERVICE or SERVICE.INSTANCE")
    p.add_argument("--all", action="store_true", help="every service in the tree")
    p.add_argument("--soa-dir", help="the soa-configs directory")
    p.add_argument("--cluster", help="only this cluster (default: every cluster)")
    p.add_argument("--config", help="reconciler.yaml: cluster settings such as docker_registry")
    p.add_argument("--docker-registry", metavar="REGISTRY", help="image registry prefix")
    p.add_argument("-o", "--output", choices=("yaml", "json", "jsonl"), default="yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.all == bool(args.targets):
        raise UsageError("render needs --all or at least one SERVICE[.INSTANCE], not both")
    config = maybe_config(args.config)
    tree = DirectoryTree(soa_dir(args.soa_dir, config))
    wanted: dict[str, set[str] | None] = {}
    for target in args.targets:
        service, _, instance = target.partition(".")
        if instance:
            instances = wanted.setdefault(service, set())
            if instances is not None:
                instances.add(instance)
        else:
            wanted[service] = None
    check_services(tree, wanted, str(tree.root))
    if args.cluster:
        if config is not None:
            unknown("cluster", [args.cluster], config.clusters, args.config)
        clusters: list[str] | None = [args.cluster]
    elif config is not None:
        clusters = list(config.clusters)
    else:
        clusters = None
    encode = _jsonl_line if args.output == "jsonl" else None
    rendered = render_tree(tree, clusters, settings_factory(config, args.docker_registry),
                           list(wanted) if wanted else None, workers=worker_count(), encode=encode)
    if args.cluster and config is None and not rendered.results:  # a typo, or a cluster nobody runs on
        unknown("cluster", [args.cluster], {c for name in tree.services()[0] for c in tree.read_service(name).clusters()},
                f"{tree.root} (no service has files for it)")
    chosen = [not wanted.get(r.service) or r.instance in (wanted[r.service] or ())
              for r in rendered.results]
    results = [r for r, keep in zip(rendered.results, chosen) if keep]
    if wanted:
        _check_instances_exist(wanted, results)
    for issue in rendered.issues:
        if not issue.is_error and not args.all:
            err(f"warning: {issue}")
    if encode is not None:
        sys.stdout.write("".join(line for line, keep in zip(rendered.encoded, chosen) if keep))
    else:
        (_json if args.output == "json" else _yaml)(results, sys.stdout)
    for result in results:
        if result.outcome is Outcome.NOT_DEPLOYED and not args.all:
            err(f"{result.service}.{result.instance} on {result.cluster}: not deployed yet "
                f"(no deployments.json entry for deploy group {result.deploy_group!r})")
        if result.outcome is Outcome.INVALID and args.output != "jsonl":
            err(f"error: {result.error_text()}")
    return EXIT_DIFFERENCES if any(r.outcome is Outcome.INVALID for r in results) else EXIT_OK


def _check_instances_exist(wanted: dict[str, set[str] | None], results: list[RenderResult]) -> None:
    found = {(r.service, r.instance) for r in results}
    for service, instances in wanted.items():
        for instance in sorted(instances or ()):
            if (service, instance) not in found:
                raise UsageError(f"no instance {service}.{instance} on the selected clusters")


_compact = json.JSONEncoder(separators=(",", ":")).encode


def _jsonl_line(result: RenderResult) -> str:
    """One `-o jsonl` line; instances not deployed yet are left out (empty string)."""
    if result.outcome is Outcome.NOT_DEPLOYED:
        return ""
    return _compact(result.to_record()) + "\n"


def _objects(results: list[RenderResult]) -> list[dict[str, Any]]:
    """Rendered objects, each shared Namespace once (as kubectl would apply them)."""
    seen: set[tuple[str, str, str]] = set()
    objects = []
    for result in results:
        for obj in result.objects:
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if key not in seen:
                seen.add(key)
                objects.append(obj)
    return objects


def _json(results: list[RenderResult], out: TextIO) -> None:
    json.dump({"apiVersion": "v1", "kind": "List", "items": _objects(results)}, out, indent=2)
    out.write("\n")


def _yaml(results: list[RenderResult], out: TextIO) -> None:
    yaml.dump_all(_objects(results), out, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
