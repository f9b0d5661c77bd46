"""`reconciler validate`: check soa-configs (and/or reconciler.yaml) without touching any cluster."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_DIFFERENCES,
    EXIT_OK,
    check_services,
    emit_document,
    maybe_config,
    settings_factory,
    soa_dir,
    worker_count,
)
from reconciler.render.service import Outcome
from reconciler.render.tree import render_tree
from reconciler.soa.issues import Issue, Severity
from reconciler.sources.directory import DirectoryTree


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("validate", help="check soa-configs and reconciler.yaml for errors",
                       description="Check a soa-configs tree (every service, or those named) and/or "
                                   "a reconciler.yaml. Exit 0 when clean (warnings allowed), 1 on "
                                   "errors, 2 on usage errors. `--config F` alone checks the file alone.")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services")
    p.add_argument("--soa-dir", help="the soa-configs directory (default: $RECONCILER_SOA_DIR or "
                                     "the bundled template)")
    p.add_argument("--config", help="reconciler.yaml to check (and to take cluster settings from)")
    p.add_argument("--cluster", help="only this cluster")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = maybe_config(args.config)  # an invalid config raises UsageError with every problem
    if config is not None and not args.soa_dir and not args.services and not (
            config.soa_configs and config.soa_configs.path):
        _print([], args.output, summary={"config": args.config, "services": 0, "instances": 0})
        return EXIT_OK
    tree = DirectoryTree(soa_dir(args.soa_dir, config))
    check_services(tree, args.services, str(tree.root))
    clusters = [args.cluster] if args.cluster else None
    rendered = render_tree(tree, clusters, settings_factory(config, None), args.services or None,
                           workers=worker_count())
    issues = list(rendered.issues)
    for result in rendered.results:
        issues.extend(result.issues)
    issues = list(dict.fromkeys(issues))
    summary = {
        "services": len(rendered.services),
        "instances": len(rendered.results),
        "not_deployed": sum(r.outcome is Outcome.NOT_DEPLOYED for r in rendered.results),
        "errors": sum(i.is_error for i in issues),
        "warnings": sum(i.severity is Severity.WARNING for i in issues),
        "info": sum(i.severity is Severity.INFO for i in issues),
    }
    _print(issues, args.output, summary)
    return EXIT_DIFFERENCES if summary["errors"] else EXIT_OK


def _print(issues: list[Issue], output: str, summary: Mapping[str, object]) -> None:
    if output in DOCUMENT_FORMATS:
        emit_document({"issues": [i.as_dict() for i in issues], "summary": summary}, output)
        return
    for issue in sorted(issues, key=lambda i: (not i.is_error, i.file, i.instance or "", i.key or "")):
        print(f"{issue.severity.value}: {issue}")
    if "config" in summary:
        print(f"{summary['config']}: ok")
        return
    print(f"{summary['services']} services, {summary['instances']} instances: "
          f"{summary['errors']} errors, {summary['warnings']} warnings"
          + (f", {summary['info']} files not read" if summary["info"] else ""))
