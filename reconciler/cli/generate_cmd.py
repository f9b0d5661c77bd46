"""`reconciler generate-deployments`: turn service repositories' tags into deployments.json commits.

Also what the deploy commands share with it: the soa-configs source of a config (a directory
with `path:`, the mirror's commit with `repo:`) and the service repository URL.
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
    maybe_config,
    print_table,
)
from reconciler.config import Config
from reconciler.soa.files import SoaSource
from reconciler.sources.deployments_branch import DeploymentsBranch, Identity
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import GenerateResult, generate
from reconciler.sources.gittree import GitTree
from reconciler.sources.mirror import Mirror


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "generate-deployments", help="commit deployments.json changes from service repositories' tags",
        description="Read the deploy and control tags of every service repository (service_repos."
                    "url_template) and commit the deployments.json files that changed to the deployments "
                    "branch of soa_configs.repo (one commit, pushed without force; none when nothing "
                    "changed). A repository that cannot be read keeps its file unchanged. Exit 0 when "
                    "done (committed or nothing to do), 1 when some repositories failed, 2 on error.")
    p.add_argument("--config", required=True, help="reconciler.yaml (soa_configs.repo and service_repos)")
    p.add_argument("--service", action="append", help="only this service (repeatable)")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def load(path: str) -> Config:
    config = maybe_config(path)
    assert config is not None
    return config


def service_repo_template(config: Config, path: str) -> str:
    if config.service_repos is None:
        raise UsageError(f"{path}: service_repos.url_template is not set: it says where service "
                         "repositories (and their deploy tags) are")
    return config.service_repos.url_template


def soa_mirror(config: Config) -> Mirror:
    """The fetched mirror of soa_configs.repo."""
    assert config.soa_configs is not None and config.soa_configs.repo is not None
    mirror = Mirror(config.soa_configs.repo, config.state_dir)
    mirror.fetch()
    return mirror


def soa_source(config: Config, path: str) -> SoaSource:
    """soa-configs as the config names them: a directory, or the tip of the repository's branch."""
    source = config.soa_configs
    if source is None:
        raise UsageError(f"{path}: soa_configs is not set: it says where soa-configs are")
    if source.path is not None:
        return DirectoryTree(source.path)
    mirror = soa_mirror(config)
    commit = mirror.resolve(source.branch)
    if commit is None:
        raise SourceError(f"{mirror.safe_url} has no branch {source.branch!r}")
    return GitTree(mirror.repo, commit, None)


def run(args: argparse.Namespace) -> int:
    config = load(args.config)
    template = service_repo_template(config, args.config)
    source_config = config.soa_configs
    if source_config is None or source_config.repo is None:
        raise UsageError(f"{args.config}: generate-deployments needs soa_configs.repo (its deployments "
                         "branch is where the files are committed); with soa_configs.path each service's "
                         "deployments.json is read from its own directory")
    assert config.service_repos is not None
    try:
        mirror = soa_mirror(config)
        soa_commit = mirror.resolve(source_config.branch)
        if soa_commit is None:
            raise SourceError(f"{mirror.safe_url} has no branch {source_config.branch!r}")
        tree = GitTree(mirror.repo, soa_commit, None)
        if args.service:
            names, _ = tree.services()
            unknown = [s for s in args.service if s not in names]
            if unknown:
                raise UsageError(f"no such service in soa-configs ({source_config.branch} at "
                                 f"{soa_commit[:12]}): {', '.join(unknown)}")
        branch = DeploymentsBranch(mirror, source_config.deployments_branch, identity=Identity.from_env())
        result = generate(tree, branch, template, services=args.service,
                          parallelism=config.service_repos.parallelism)
    except SourceError as exc:
        err(str(exc))
        return EXIT_ERROR
    _print(result, soa_commit, args.output)
    return EXIT_DIFFERENCES if result.errors else EXIT_OK


def _print(result: GenerateResult, soa_commit: str, output: str) -> None:
    if output in DOCUMENT_FORMATS:
        emit_document({**result.as_dict(), "soa_configs_commit": soa_commit}, output)
    else:
        rows = [[change.service, line] for change in result.changed for line in change.changes or ("",)]
        if rows:
            print_table(["SERVICE", "CHANGE"], rows)
        if result.commit:
            print(f"committed {result.commit[:12]} on {result.branch} "
                  f"({len(result.changed)} service{'s' if len(result.changed) != 1 else ''})")
        else:
            where = f" at {result.base[:12]}" if result.base else " (does not exist yet)"
            print(f"nothing to commit: {result.branch}{where} is up to date")
    for warning in result.warnings:
        err(f"warning: {warning}")
    for service, message in sorted(result.errors.items()):
        err(f"{service}: {message} (its deployments.json was left unchanged)")
