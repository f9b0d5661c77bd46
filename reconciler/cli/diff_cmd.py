"""`reconciler diff --base REV --head REV`: the preview of a config pull request, with no cluster.

Both revisions of a soa-configs checkout are rendered for every cluster (deployments.json from
the deployments branch, the same for both, so only the config change shows; a repository
without one reads each revision's own deployments.json files), or two plain trees with
`--base-dir/--head-dir`. Exit 0 no change, 1 changes, 3 the head has new validation errors,
2 usage or source error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import git

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EMBEDDED,
    EXIT_DIFFERENCES,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    config_or_default,
    emit_document,
    err,
    maybe_config,
    print_table,
    read_sources,
    settings_factory,
    unknown,
    worker_count,
)
from reconciler.config import ClusterConfig, Config
from reconciler.reconcile.cycle import Mode
from reconciler.reconcile.each import ClusterRun, reconcile_each
from reconciler.reconcile.revision import Revision
from reconciler.render.tree import render_tree
from reconciler.report.preview import InstanceChange, Preview, preview, preview_live
from reconciler.soa.files import SoaSource
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.gittree import GitTree

EXIT_NEW_ERRORS = 3
#: A PR comment is cut above this size (GitHub allows 65,536 characters).
MARKDOWN_LIMIT = 60_000


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("diff", help="preview a config change: what two revisions render differently",
                       description="Render every cluster at two revisions of soa-configs and show, per instance, "
                                   "whether the change bounces, scales, creates or deletes it, with the changed "
                                   "fields. Exit 0 no change, 1 changes, 3 new validation errors, 2 error.")
    p.add_argument("--base", help="the base revision (a commit, branch or tag of --repo)")
    p.add_argument("--head", default="HEAD", help="the head revision (default HEAD)")
    p.add_argument("--repo", help="the soa-configs checkout (default: the current directory; with --live: "
                                  "the config's source unless given)")
    p.add_argument("--base-dir", help="a plain tree as the base (with --head-dir, instead of git)")
    p.add_argument("--head-dir", help="a plain tree as the head")
    p.add_argument("--deployments-branch", help="the branch with deployments.json (default: the config's, "
                                                "else `deployments`; local or origin/)")
    p.add_argument("--live", action="store_true",
                   help="diff the head against what the clusters run now (what a merge would do now; needs "
                        "the clusters, read only)")
    p.add_argument("--config", help="reconciler.yaml: clusters, budgets and prune settings (--live without it: "
                                    "the embedded default)")
    p.add_argument("--cluster", action="append", help="only this cluster (repeatable)")
    p.add_argument("-o", "--output", choices=("table", "markdown", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.live:
        return run_live(args)
    config = maybe_config(args.config)
    if args.config and args.cluster:
        assert config is not None
        unknown("cluster", args.cluster, config.clusters, args.config)
    base, head, base_name, head_name = _sources(args, config)
    clusters = args.cluster or (list(config.clusters) if config else None)
    settings_for = settings_factory(config, None)
    before = render_tree(base, clusters, settings_for, workers=worker_count())
    after = render_tree(head, clusters, settings_for, workers=worker_count())
    result = preview(before.results, after.results, base_issues=before.issues, head_issues=after.issues,
                     settings_for=lambda c: _cluster(config, c), base_name=base_name, head_name=head_name)
    _print(result, args.output)
    if result.new_errors:
        return EXIT_NEW_ERRORS
    return EXIT_DIFFERENCES if result.instances else EXIT_OK


def run_live(args: argparse.Namespace) -> int:
    """The head against the clusters: a read-only cycle per cluster, its plan as the preview."""
    config = config_or_default(args.config)
    unknown("cluster", args.cluster or (), config.clusters, args.config or EMBEDDED)
    clusters = args.cluster or list(config.clusters)
    head, head_name = _head(args, config)
    revision = Revision.of(head, clusters, settings_factory(config, None), None, workers=worker_count())
    mode = Mode(check_drift=True, freeze_windows=config.freezes, time_zone=config.time_zone)
    runs: list[ClusterRun[None]] = reconcile_each(config, clusters, revision, mode)
    for run in runs:
        if run.error is not None:
            err(f"cluster {run.name}: {run.error}")
    if any(run.result is None for run in runs):
        return EXIT_ERROR
    view = revision.view()
    result = preview_live(view.results, {run.name: run.result.plan for run in runs if run.result},
                          settings_for=lambda c: _cluster(config, c), head_issues=view.issues, head_name=head_name)
    _print(result, args.output)
    if result.new_errors:
        return EXIT_NEW_ERRORS
    return EXIT_DIFFERENCES if result.instances else EXIT_OK


def _head(args: argparse.Namespace, config: Config) -> tuple[SoaSource, str]:
    if args.head_dir:
        if not Path(args.head_dir).is_dir():
            raise UsageError(f"{args.head_dir} is not a directory")
        return DirectoryTree(args.head_dir), args.head_dir
    if args.repo:
        repo = _repo(args.repo)
        head = _commit(repo, args.head)
        branch = args.deployments_branch or (config.soa_configs.deployments_branch if config.soa_configs
                                             else "deployments")
        return GitTree(repo, head, _branch(repo, branch) or head), head[:12]
    sources = read_sources(None, config)
    return sources.tree, (sources.soa_commit or "the config's source")[:12]


def _cluster(config: Config | None, name: str) -> ClusterConfig:
    return config.clusters[name] if config and name in config.clusters else ClusterConfig(name)


def _sources(args: argparse.Namespace, config: Config | None) -> tuple[SoaSource, SoaSource, str, str]:
    if args.base_dir or args.head_dir:
        if not (args.base_dir and args.head_dir):
            raise UsageError("--base-dir and --head-dir go together")
        for given in (args.base_dir, args.head_dir):
            if not Path(given).is_dir():
                raise UsageError(f"{given} is not a directory")
        return DirectoryTree(args.base_dir), DirectoryTree(args.head_dir), args.base_dir, args.head_dir
    if not args.base:
        raise UsageError("diff needs --base REV (or --base-dir and --head-dir)")
    repo = _repo(args.repo or ".")
    base, head = _commit(repo, args.base), _commit(repo, args.head)
    branch = args.deployments_branch or (config.soa_configs.deployments_branch if config and config.soa_configs
                                         else "deployments")
    deployments = _branch(repo, branch)
    if args.deployments_branch and deployments is None:
        raise UsageError(f"no branch {branch!r} (nor origin/{branch}) in {repo.working_dir}")
    # without a deployments branch each revision reads its own deployments.json files
    return (GitTree(repo, base, deployments or base), GitTree(repo, head, deployments or head),
            base[:12], head[:12])


def _repo(path: str) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{path} is not a git checkout (use --base-dir/--head-dir for plain trees)") from None


def _commit(repo: git.Repo, rev: str) -> str:
    try:
        return str(repo.commit(rev).hexsha)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"no revision {rev!r} in {repo.working_dir}") from None


def _branch(repo: git.Repo, name: str) -> str | None:
    for ref in (f"refs/heads/{name}", f"refs/remotes/origin/{name}"):
        try:
            return str(repo.commit(ref).hexsha)
        except (git.BadName, ValueError, git.GitCommandError):
            continue
    return None


# ---------------------------------------------------------------------------- output

def _print(result: Preview, output: str) -> None:
    if output in DOCUMENT_FORMATS:
        emit_document(result.as_dict(), output)
        return
    if output == "markdown":
        sys.stdout.write(markdown(result))
        return
    rows = [[c.cluster, f"{c.service}.{c.instance}", c.change, _pods(c), _detail(c)] for c in result.instances]
    if rows:
        print_table(["CLUSTER", "INSTANCE", "CHANGE", "PODS", "DETAIL"], rows)
    for change in result.instances:
        for obj in change.objects:
            if obj.diff:
                print(f"\n{change.cluster} {obj.kind} {obj.namespace or ''}/{obj.name}".replace(" /", " "))
                print(obj.diff)
    for title, issues in (("newly broken", result.new_issues), ("fixed", result.fixed_issues)):
        for issue in issues:
            print(f"{title}: {issue.severity.value}: {issue}")
    print(result.summary_line())


def _pods(change: InstanceChange) -> str:
    return str(change.pods) if change.change in ("bounce", "scale", "create", "delete") else ""


def _detail(change: InstanceChange) -> str:
    if change.change == "bounce":
        return f"restarts {change.pods} pods, budget wave {change.waves}"
    if change.change == "delete":
        return "prune allowed" if change.prune_allowed else "prune would refuse it (prune off or over the fraction)"
    return change.note


def markdown(result: Preview) -> str:
    """A PR comment: the summary, a table of instances, the diffs per service (collapsed)."""
    head = [f"### reconciler diff `{result.base}`..`{result.head}`", "", f"**{result.summary_line()}**", ""]
    if result.instances:
        head += ["| cluster | instance | change | pods | detail |", "|---|---|---|---|---|"]
        head += [f"| {c.cluster} | `{c.service}.{c.instance}` | **{c.change}** | {_pods(c)} | {_detail(c)} |"
                 for c in result.instances]
        head.append("")
    for title, issues in (("Newly broken", result.new_issues), ("Fixed", result.fixed_issues)):
        if issues:
            head += [f"**{title}**", ""] + [f"- {i.severity.value}: `{i.file}` {i.where()} {i.key or ''}: {i.message}"
                                           for i in issues] + [""]
    out = "\n".join(head)
    by_service: dict[str, list[InstanceChange]] = {}
    for change in result.instances:
        by_service.setdefault(change.service, []).append(change)
    for service, changes in by_service.items():
        body = [f"<details><summary>{service}: {len(changes)} instance(s)</summary>", "", "```diff"]
        for change in changes:
            for obj in change.objects:
                if obj.diff:
                    body += [f"# {change.cluster} {obj.kind} {obj.namespace or ''}/{obj.name}", obj.diff]
        body += ["```", "", "</details>", ""]
        section = "\n".join(body)
        if len(out) + len(section) > MARKDOWN_LIMIT:
            out += f"\n_The comment was cut at {MARKDOWN_LIMIT // 1000} KB; run `reconciler diff` for the rest._\n"
            break
        out += "\n" + section
    return out + "\n"

