"""`reconciler promote SERVICE --to STEP`: move the current release past a manual gate.

The same as pushing the deploy tags by hand: the release's sha (the newest new sha on the
pipeline's first step, see `engine.release`) is tagged for every deploy group of STEP that does
not run it yet, in one push, with the release's image version. The daemon's promoter then takes
it from there. It takes effect when deployments.json is next generated.
"""

from __future__ import annotations

import argparse

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_DIFFERENCES,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    emit_document,
    err,
)
from reconciler.cli.generate_cmd import load, service_repo_template, soa_source
from reconciler.daemon.promotion import histories
from reconciler.engine.release import current, release_start, stages
from reconciler.soa.files import SERVICE_NAME
from reconciler.soa.load import load_service
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import list_tags, repo_url
from reconciler.sources.mirror import Mirror
from reconciler.sources.tagpush import push_tags
from reconciler.sources.tags import DeployTag


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "promote", help="promote the current release to a step of its deploy.yaml pipeline",
        description="Push the deploy tags of STEP (every deploy group of a parallel step) on the sha of "
                    "SERVICE's current release: what lifts a trigger_next_step_manually gate. Exit 0 when "
                    "tags were pushed, 1 when STEP already runs the release, 2 on error.")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("--to", required=True, metavar="STEP", help="a step of deploy.yaml's pipeline")
    p.add_argument("--config", required=True, help="reconciler.yaml")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load(args.config)
    template = service_repo_template(config, args.config)
    service = args.service
    if not SERVICE_NAME.match(service):
        raise UsageError(f"not a service name: {service!r}")
    try:
        source = soa_source(config, args.config)
        if service not in source.services()[0]:
            raise UsageError(f"no such service in soa-configs: {service}")
        loaded = load_service(source.read_service(service), None)
    except (SourceError, OSError) as exc:
        err(f"cannot read soa-configs: {exc}")
        return EXIT_ERROR
    if loaded.pipeline is None:
        problems = "; ".join(str(i) for i in loaded.issues if i.file.endswith("/deploy.yaml")) or "no deploy.yaml"
        raise UsageError(f"{service} has no usable pipeline: {problems}")
    pipeline = stages(loaded.pipeline)
    target = next((s for s in pipeline if args.to == s.name or args.to in s.groups), None)
    if target is None:
        raise UsageError(f"{args.to!r} is not a step of {service}'s pipeline (steps: "
                         f"{', '.join(s.name for s in pipeline)})")
    if target is pipeline[0]:
        raise UsageError(f"{args.to!r} is the first step: a release starts there with mark-for-deployment")
    try:
        mirror = Mirror(repo_url(template, service), config.state_dir)
        mirror.fetch()
        history = histories(list_tags(mirror.url, mirror.timeout), [g for s in pipeline for g in s.groups])
        start = release_start([history[g] for g in pipeline[0].groups])
        if start is None:
            raise UsageError(f"{service} has no release: no deploy tag on its first step {pipeline[0].name!r}")
        missing = [g for g in target.groups if (now := current(history[g])) is None or now.sha != start.sha]
        doc = {"service": service, "step": target.name, "sha": start.sha, "release_tag": start.tag,
               "tags": [], "repository": mirror.safe_url}
        if not missing:
            _emit(args.output, doc, f"{target.name} already runs {start.sha[:12]} (release {start.tag})")
            return EXIT_DIFFERENCES
        newest = max((e.timestamp for g in missing for e in history[g]), default=None)
        doc["tags"] = push_tags(mirror, lambda stamp: {DeployTag(g, stamp, start.image_version).name: start.sha
                                                       for g in missing}, newest,
                                warn=lambda text: err(f"warning: {text}"))
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    _emit(args.output, doc, f"promoted {start.sha[:12]} of {service} to {target.name}: pushed "
                            f"{', '.join(doc['tags'])} to {mirror.safe_url}")
    return EXIT_OK


def _emit(output: str, doc: dict[str, object], line: str) -> None:
    if output in DOCUMENT_FORMATS:
        emit_document(doc, output)
    else:
        print(line)
