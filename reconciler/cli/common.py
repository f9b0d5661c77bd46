"""What several commands share: finding the soa-configs tree, cluster settings, exit codes."""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from reconciler.config import (
    ClusterConfig,
    Config,
    ConfigError,
    SourceConfig,
    load_config,
)
from reconciler.render.settings import DEFAULT_LABEL_DOMAIN, RenderSettings
from reconciler.scrub import scrub
from reconciler.soa.files import SoaSource
from reconciler.sources.directory import DirectoryTree

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2
#: The bundled template next to the package (present in a source checkout).
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "soa-configs-template"


class UsageError(Exception):
    """The command cannot run as asked; printed without a traceback, exit 2."""


def soa_dir(given: str | None, config: Config | None) -> Path:
    """--soa-dir, else the config's `path:` source, else $RECONCILER_SOA_DIR, else the template."""
    if given:
        candidate = Path(given)
    elif config and config.soa_configs and config.soa_configs.path:
        candidate = Path(config.soa_configs.path)
    elif os.environ.get("RECONCILER_SOA_DIR"):
        candidate = Path(os.environ["RECONCILER_SOA_DIR"])
    elif TEMPLATE_DIR.is_dir():
        candidate = TEMPLATE_DIR
    else:
        raise UsageError("no soa-configs directory: pass --soa-dir DIR")
    if not candidate.is_dir():
        raise UsageError(f"soa-configs directory {candidate} does not exist")
    return candidate


def maybe_config(path: str | None) -> Config | None:
    if not path:
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def settings_factory(config: Config | None, registry: str | None) -> Callable[[str], RenderSettings]:
    """A function cluster -> RenderSettings: the config's cluster settings, else defaults."""

    def settings_for(cluster: str) -> RenderSettings:
        if config and cluster in config.clusters:
            base = config.render_settings(cluster)
        else:
            base = RenderSettings(cluster=cluster, label_domain=config.label_domain if config
                                  else DEFAULT_LABEL_DOMAIN)
        return replace(base, docker_registry=registry) if registry else base

    return settings_for


def unknown(what: str, names: Iterable[str], known: Iterable[str], where: str) -> None:
    """UsageError (exit 2) naming every one of `names` not in `known`, with a "did you mean"."""
    choices = sorted(set(known))
    missing = [n for n in names if n not in choices]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise UsageError(f"no such {what} in {where}: {', '.join(hints)}")


def check_services(tree: SoaSource, services: Iterable[str] | None, where: str) -> None:
    """Every named service is in `tree` (else UsageError with a hint)."""
    if services:
        unknown("service", services, tree.services()[0], where)


class ScrubbedStream:
    """A text stream whose every write goes through `reconciler.scrub` first (the CLI's stdout
    and stderr: no credential reaches a terminal, a pipe or a CI log)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def err(message: str) -> None:
    print(f"reconciler: {scrub(message)}", file=sys.stderr)


def worker_count() -> int:
    """Processes for rendering a whole tree: $RECONCILER_WORKERS, else the usable CPUs (<= 8)."""
    configured = os.environ.get("RECONCILER_WORKERS")
    if configured and configured.isdigit():
        return max(1, int(configured))
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def print_table(header: list[str], rows: list[list[str]], indent: str = "") -> None:
    """Columns padded to their widest cell; the last column is never padded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        print((indent + "  ".join(cells)).rstrip())


@dataclass(frozen=True)
class Sources:
    """What a CLI run reads soa-configs from, and the commits it read."""

    tree: SoaSource
    soa_commit: str | None
    deployments_commit: str | None
    commit_time: str | None = None


def read_sources(given_soa_dir: str | None, config: Config | None) -> Sources:
    """--soa-dir (a directory) if given; else the config's source, read as the daemon reads it
    (a git repository: its branch and deployments branch through the mirror under state_dir; a
    directory: hashed); else the defaults of `soa_dir`. With --soa-dir and a git source, the
    directory's deployments.json files are never read: deployments come from the deployments
    branch (a PR checkout previewed against what is deployed). A source that cannot be read is
    a UsageError."""
    git_source = config is not None and config.soa_configs is not None and bool(config.soa_configs.repo)
    if config is None or config.soa_configs is None or (given_soa_dir and not git_source):
        return Sources(DirectoryTree(soa_dir(given_soa_dir, config)), None, None)
    from reconciler.sources.poll import SourcePoller

    result = SourcePoller(config.soa_configs, config.state_dir).poll()
    if result.snapshot is None or result.error:
        raise UsageError(f"cannot read soa-configs from {config.soa_configs.repo or config.soa_configs.path}: "
                         f"{result.error}")
    snapshot = result.snapshot
    if given_soa_dir:
        from reconciler.sources.overlay import WithDeployments

        return Sources(WithDeployments(DirectoryTree(soa_dir(given_soa_dir, config)), snapshot.tree), None,
                       snapshot.deployments_commit)
    return Sources(snapshot.tree, snapshot.soa_commit, snapshot.deployments_commit, snapshot.committed_at)


#: The machine-readable outputs every command offers beside its table.
DOCUMENT_FORMATS = ("json", "yaml")


def emit_document(doc: Any, output: str) -> None:
    """`doc` on stdout as JSON (indented) or YAML (block style, keys in their order)."""
    if output == "yaml":
        import yaml

        yaml.safe_dump(doc, sys.stdout, sort_keys=False, default_flow_style=False, allow_unicode=True)
        return
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def embedded_default() -> Config:
    """The bundled template on a simulated cluster `local`, state under ~/.local/state/reconciler."""
    if not TEMPLATE_DIR.is_dir():
        raise UsageError(f"the bundled soa-configs-template/ is missing ({TEMPLATE_DIR}); pass --config")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "reconciler"
    return Config(clusters={"local": ClusterConfig("local", sim_state=str(state / "local.sqlite"),
                                                   sim_pod_ready_seconds=2.0)},
                  soa_configs=SourceConfig(path=str(TEMPLATE_DIR), poll_interval=5.0), state_dir=str(state))


#: How the embedded default is named in messages (where a config file's path would be).
EMBEDDED = "the embedded default"


def config_or_default(path: str | None) -> Config:
    """The config at `path`, or the embedded default (what `reconciler run` uses without one)."""
    config = maybe_config(path)
    return config if config is not None else embedded_default()
