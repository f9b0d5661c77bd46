"""`reconciler mark-for-deployment`, `start`, `stop` and `restart`: push deploy and control tags.

Tags are lightweight, as PaaSTA pushes them: a ref straight to the commit, so `git ls-remote`
names the commit itself and no tagger identity is needed (annotated tags pushed by other
tools are read as well). A ref can only be pushed to an object the pushing repository has,
so tags are pushed from the service repository's mirror under `state_dir` (fetched
incrementally, locked while used). Pushes never force: a tag of the same name (pushed in
the same second) is left alone and the next second's timestamp is used instead.

The tags take effect when deployments.json is next generated (`reconciler
generate-deployments`, or the daemon's job).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import git

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    emit_document,
    err,
)
from reconciler.cli.generate_cmd import load, service_repo_template, soa_source
from reconciler.config import Config
from reconciler.soa.files import SERVICE_NAME, SoaSource
from reconciler.soa.load import INSTANCE_NAME, load_service
from reconciler.soa.pipeline import deploy_steps
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import list_tags, repo_url, service_instances
from reconciler.sources.mirror import Mirror
from reconciler.sources.tagpush import push_tags
from reconciler.sources.tags import (
    IMAGE_VERSION,
    ControlTag,
    DeployTag,
    State,
    format_timestamp,
    latest_controls,
    latest_deploys,
    parse_control_tag,
    parse_deploy_tag,
)

_HEX = re.compile(r"^[0-9a-fA-F]{7,64}$")

CONTROL_HELP = {
    "start": ("start an instance (and restart its pods)",
              "Push a start tag on the commit the instance's deploy group runs: desired state start, "
              "with a new force_bounce, so every pod is replaced."),
    "stop": ("stop an instance (0 replicas)",
             "Push a stop tag on the commit the instance's deploy group runs: desired state stop. It "
             "counts for that commit only: deploying a new commit starts the instance again."),
    "restart": ("restart every pod of an instance",
                "Push a start tag on the commit the instance's deploy group runs: its timestamp becomes "
                "force_bounce, which changes the config hash and so replaces every pod."),
}


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "mark-for-deployment", help="deploy a commit to a deploy group (push a deploy tag)",
        description="Push the deploy tag paasta-<deploy_group>[+<image_version>]-<UTC time>-deploy on "
                    "COMMIT to the service repository (service_repos.url_template). The commit must be "
                    "in that repository. It takes effect when deployments.json is next generated. "
                    "Exit 0 when the tag was pushed, 2 on error.")
    p.add_argument("--service", required=True)
    p.add_argument("--deploy-group", required=True)
    p.add_argument("--commit", required=True, metavar="SHA", help="the commit to deploy (full or abbreviated sha)")
    p.add_argument("--image-version", help="extra image version: the image is services-<service>:paasta-<sha>-<version>")
    p.add_argument("--config", required=True, help="reconciler.yaml")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run_mark)
    for action, (short, long) in CONTROL_HELP.items():
        c = sub.add_parser(action, help=short, description=(
            long + " It takes effect when deployments.json is next generated. Exit 0 when the tag "
                   "was pushed, 2 on error (the instance has never been deployed, for one)."))
        c.add_argument("target", metavar="SERVICE.INSTANCE")
        c.add_argument("--cluster", required=True)
        c.add_argument("--config", required=True, help="reconciler.yaml")
        c.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
        c.set_defaults(func=run_control, action=action)


# -- mark-for-deployment -------------------------------------------------------------------------

def run_mark(args: argparse.Namespace) -> int:
    config = load(args.config)
    template = service_repo_template(config, args.config)
    service, group, version = args.service, args.deploy_group, args.image_version
    if not SERVICE_NAME.match(service):
        raise UsageError(f"not a service name: {service!r}")
    if not group or group != group.strip():
        raise UsageError(f"not a deploy group: {group!r}")
    if version is not None and not IMAGE_VERSION.match(version):
        raise UsageError(f"--image-version {version!r}: only letters, digits, '_', '.' and '-' (it becomes "
                         "part of the image tag)")
    if not _HEX.match(args.commit):
        raise UsageError(f"--commit {args.commit!r}: expected a commit sha (at least 7 hex digits)")
    _check_ref(DeployTag(group, format_timestamp(_now()), version).name)
    known = _known_groups(config, args.config, service)
    if known is not None:
        if group not in known:
            err(f"warning: deploy group {group!r} is not used by any instance of {service} (nor a step of its "
                f"deploy.yaml){_listing(known)}: the tag is pushed, nothing runs it yet")
        probe = DeployTag(group, format_timestamp(_now()), version)
        if parse_deploy_tag(probe.name, known | {group}) != probe:
            raise UsageError(f"tag {probe.name!r} would be read as another deploy group's; choose another "
                             "--image-version")
    try:
        mirror = _fetched(repo_url(template, service), config)
        sha = _resolve_commit(mirror, args.commit)
        current = latest_deploys(list_tags(mirror.url, mirror.timeout), {group}).get(group)
        tag = _push_tag(mirror, sha, lambda stamp: DeployTag(group, stamp, version).name,
                        current.timestamp if current else None)
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    doc = {"service": service, "deploy_group": group, "commit": sha, "image_version": version,
           "tag": tag, "repository": mirror.safe_url}
    _emit(args.output, doc, f"marked {sha[:12]} for deployment to {service} deploy group {group}: pushed tag "
                            f"{tag} to {mirror.safe_url}")
    return EXIT_OK


def _known_groups(config: Config, path: str, service: str) -> set[str] | None:
    """The service's deploy groups (instances and deploy.yaml steps); None when unreadable."""
    try:
        source = soa_source(config, path)
        names, _ = source.services()
        if service not in names:
            raise UsageError(f"no such service in soa-configs: {service}")
        groups = set(service_instances(source, service).groups.values())
        pipeline = load_service(source.read_service(service), None).pipeline or ()
        return groups | {step.step for step in deploy_steps(pipeline)}
    except (SourceError, OSError) as exc:
        err(f"warning: could not read soa-configs to check the deploy group: {exc}")
        return None


def _listing(known: set[str]) -> str:
    return f" (known: {', '.join(sorted(known))})" if known else ""


def _resolve_commit(mirror: Mirror, given: str) -> str:
    try:
        out = git.Git(mirror.path).execute(["git", "rev-parse", "--verify", "--quiet", f"{given.lower()}^{{commit}}"])
    except git.GitCommandError:
        raise SourceError(f"commit {given} is not in {mirror.safe_url} (push it there first)") from None
    return str(out).strip()


# -- start / stop / restart -------------------------------------------------------------------

def run_control(args: argparse.Namespace) -> int:
    config = load(args.config)
    template = service_repo_template(config, args.config)
    service, _, instance = args.target.partition(".")
    if not SERVICE_NAME.match(service) or not INSTANCE_NAME.match(instance):
        raise UsageError(f"expected SERVICE.INSTANCE, got {args.target!r}")
    state: State = "stop" if args.action == "stop" else "start"
    try:
        group = _deploy_group(soa_source(config, args.config), service, instance, args.cluster)
        mirror = _fetched(repo_url(template, service), config)
        tags = list_tags(mirror.url, mirror.timeout)
        deployed = latest_deploys(tags, {group}).get(group)
        if deployed is None:
            raise UsageError(f"{service}.{instance} on {args.cluster} has never been deployed: no deploy tag "
                             f"for its deploy group {group!r} in {mirror.safe_url} (use mark-for-deployment)")
        key = (args.cluster, instance)
        control = latest_controls(tags, {key: deployed.git_sha}).get(key)
        tag = _push_tag(mirror, deployed.git_sha,
                        lambda stamp: ControlTag(args.cluster, instance, stamp, state).name,
                        control.timestamp if control else None)
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    pushed = parse_control_tag(tag)
    stamp = pushed.timestamp if pushed else None
    doc = {"service": service, "instance": instance, "cluster": args.cluster, "action": args.action,
           "desired_state": state, "force_bounce": stamp if state == "start" else None,
           "deploy_group": group, "commit": deployed.git_sha, "tag": tag, "repository": mirror.safe_url}
    _emit(args.output, doc, f"{args.action} {service}.{instance} on {args.cluster}: pushed tag {tag} on "
                            f"{deployed.git_sha[:12]} (deploy group {group}) to {mirror.safe_url}")
    return EXIT_OK


def _deploy_group(source: SoaSource, service: str, instance: str, cluster: str) -> str:
    names, _ = source.services()
    if service not in names:
        raise UsageError(f"no such service in soa-configs: {service}")
    files = source.read_service(service, cluster)
    loaded = load_service(files, cluster)
    found = next((r for r in loaded.instances if r.instance == instance), None)
    if found is None:
        raise UsageError(f"{service} has no instance {instance!r} on cluster {cluster!r} "
                         f"(kubernetes-{cluster}.yaml or eks-{cluster}.yaml)")
    if found.config is None:
        problems = "; ".join(str(i) for i in found.errors) or "invalid"
        raise UsageError(f"{service}.{instance} on {cluster} has config errors, so its deploy group is not "
                         f"known: {problems}")
    return found.config.deploy_group


# -- shared -------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fetched(url: str, config: Config) -> Mirror:
    mirror = Mirror(url, config.state_dir)
    mirror.fetch()
    return mirror


def _check_ref(name: str) -> None:
    try:
        git.Git().execute(["git", "check-ref-format", f"refs/tags/{name}"])
    except git.GitCommandError:
        raise UsageError(f"{name!r} is not a valid git tag name") from None


def _push_tag(mirror: Mirror, sha: str, name_at: Callable[[str], str], newest: str | None) -> str:
    """Push one new tag `name_at(timestamp)` on `sha`, later than `newest` (see sources.tagpush)."""
    [name] = push_tags(mirror, lambda stamp: {name_at(stamp): sha}, newest, warn=lambda text: err(f"warning: {text}"))
    return name


def _emit(output: str, doc: dict[str, Any], line: str) -> None:
    if output in DOCUMENT_FORMATS:
        emit_document(doc, output)
    else:
        print(line)
        print("it takes effect when deployments.json is next generated (reconciler generate-deployments, "
              "or the daemon's job)")
