"""`reconciler history SERVICE` and `reconciler rollback SERVICE --deploy-group G [--to SHA]`.

History is read from the service repository's deploy tags (when, sha, tag, the commit's author)
and, per cluster of the config, the sha its workloads run now. A rollback pushes a deploy tag on
the previous (or named) sha, as PaaSTA's `paasta rollback` does: git stays the authority, so an
auto-sync never undoes it, and the daemon's next generation deploys it like any deploy.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import git

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    emit_document,
    err,
    print_table,
)
from reconciler.cli.deploy_cmd import (
    _fetched,
    _known_groups,
    _push_tag,
    _resolve_commit,
)
from reconciler.cli.generate_cmd import load, service_repo_template
from reconciler.cluster.errors import ClusterError
from reconciler.cluster.factory import connect
from reconciler.config import Config
from reconciler.soa.files import SERVICE_NAME
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import list_tags, repo_url
from reconciler.sources.mirror import Mirror
from reconciler.sources.tags import DeployTag, parse_deploy_tag


@dataclass(frozen=True)
class Deploy:
    deploy_group: str
    timestamp: str
    sha: str
    tag: str
    image_version: str | None
    author: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"deploy_group": self.deploy_group, "when": self.timestamp, "sha": self.sha, "tag": self.tag,
                "image_version": self.image_version, "author": self.author}


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    h = sub.add_parser("history", help="the deploys of a service, newest first, and what each cluster runs",
                       description="Per deploy group, newest first: when, sha, tag and author of every deploy "
                                   "tag in the service repository, and the sha each cluster's workloads run now.")
    h.add_argument("service")
    h.add_argument("--deploy-group", help="only this deploy group")
    h.add_argument("--config", required=True, help="reconciler.yaml")
    h.add_argument("--no-clusters", action="store_true", help="do not read what the clusters run")
    h.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    h.set_defaults(func=run_history)
    r = sub.add_parser("rollback", help="deploy the previous (or a named) sha again, by a deploy tag",
                       description="Push a deploy tag on the sha the deploy group ran before its current one "
                                   "(or --to SHA), as `paasta rollback` does. Exit 0 pushed, 2 on error.")
    r.add_argument("service")
    r.add_argument("--deploy-group", required=True)
    r.add_argument("--to", metavar="SHA", help="the sha to go back to (default: the one before the current)")
    r.add_argument("--config", required=True, help="reconciler.yaml")
    r.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    r.set_defaults(func=run_rollback)


def deploys(mirror: Mirror, groups: set[str] | None) -> list[Deploy]:
    """Every deploy tag of the repository (of `groups`, when known), newest first."""
    found = []
    for name, sha in list_tags(mirror.url, mirror.timeout).items():
        tag = parse_deploy_tag(name, groups)
        if tag is not None:
            found.append(Deploy(tag.deploy_group, tag.timestamp, sha, name.removeprefix("refs/tags/"),
                                tag.image_version, _author(mirror, sha)))
    return sorted(found, key=lambda d: (d.deploy_group, d.timestamp, d.tag), reverse=True)


def _author(mirror: Mirror, sha: str) -> str | None:
    try:
        return str(git.Git(mirror.path).execute(["git", "log", "-1", "--format=%an <%ae>", sha])).strip() or None
    except git.GitCommandError:
        return None  # the commit is not in the mirror (a tag on an unfetched object)


def running(config: Config, service: str) -> dict[str, dict[str, str]]:
    """cluster -> instance -> the git sha its workload runs (unreachable clusters: left out, said)."""
    out: dict[str, dict[str, str]] = {}
    key = f"{config.label_domain}/"
    for name, settings in config.clusters.items():
        try:
            cluster = connect(settings)
        except ClusterError as exc:
            err(f"warning: cluster {name}: {exc}")
            continue
        try:
            for kind in ("Deployment", "StatefulSet"):
                for obj in cluster.list(kind, selector=f"{key}service={service},{key}managed=true"):
                    labels = obj["metadata"].get("labels") or {}
                    out.setdefault(name, {})[labels.get(f"{key}instance", "?")] = labels.get(f"{key}git_sha", "?")
        except ClusterError as exc:
            err(f"warning: cluster {name}: {exc}")
        finally:
            cluster.close()
    return out


def _mirror(config: Config, path: str, service: str) -> Mirror:
    if not SERVICE_NAME.match(service):
        raise UsageError(f"not a service name: {service!r}")
    return _fetched(repo_url(service_repo_template(config, path), service), config)


def run_history(args: argparse.Namespace) -> int:
    config = load(args.config)
    known = _known_groups(config, args.config, args.service)
    groups = {args.deploy_group} if args.deploy_group else known
    try:
        found = deploys(_mirror(config, args.config, args.service), groups)
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    live = {} if args.no_clusters else running(config, args.service)
    if args.output in DOCUMENT_FORMATS:
        emit_document({"service": args.service, "deploys": [d.as_dict() for d in found], "running": live},
                      args.output)
        return EXIT_OK
    newest: set[str] = set()
    rows = []
    for d in found:  # newest first: the first of each deploy group is the one in force
        state = "" if d.deploy_group in newest else "current"
        newest.add(d.deploy_group)
        where = ", ".join(sorted(f"{c}/{i}" for c, instances in live.items() for i, sha in instances.items()
                                 if sha == d.sha))
        rows.append([d.deploy_group, d.timestamp, d.sha[:12], d.author or "", state, where])
    print_table(["DEPLOY GROUP", "WHEN (UTC)", "SHA", "AUTHOR", "", "RUNNING ON"], rows)
    return EXIT_OK


def run_rollback(args: argparse.Namespace) -> int:
    config = load(args.config)
    group = args.deploy_group
    try:
        mirror = _mirror(config, args.config, args.service)
        history = [d for d in deploys(mirror, {group}) if d.deploy_group == group]
        if not history:
            raise UsageError(f"{args.service} deploy group {group!r} has never been deployed: nothing to roll back")
        current = history[0]
        if args.to:
            sha = _resolve_commit(mirror, args.to)
            earlier = next((d for d in history if d.sha == sha), None)
        else:
            earlier = next((d for d in history if d.sha != current.sha), None)
            if earlier is None:
                raise UsageError(f"{args.service} deploy group {group!r} has run only {current.sha[:12]}: "
                                 "nothing earlier to roll back to (use --to SHA)")
            sha = earlier.sha
        if sha == current.sha:
            raise UsageError(f"{args.service} deploy group {group!r} already runs {sha[:12]}")
        version = earlier.image_version if earlier else None
        tag = _push_tag(mirror, sha, lambda stamp: DeployTag(group, stamp, version).name, current.timestamp)
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    doc = {"service": args.service, "deploy_group": group, "from": current.sha, "to": sha, "tag": tag,
           "repository": mirror.safe_url}
    if args.output == "table":
        print(f"rolled {args.service} deploy group {group} back from {current.sha[:12]} to {sha[:12]}: pushed tag "
              f"{tag} to {mirror.safe_url}")
        print("it takes effect when deployments.json is next generated (the daemon's job, or "
              "reconciler generate-deployments)")
    else:
        emit_document(doc, args.output)
    return EXIT_OK
