"""The source poller of the daemon and the CLI: what the desired state is read from, now.

Each `poll()` fetches the soa-configs mirror and resolves `branch` and `deployments_branch`
(a `path:` source re-reads its directory instead). The same commits as last time cost a
fetch and two ref reads, nothing else; new commits give a new `Snapshot` and the services
to re-render. A failure never replaces the snapshot in force: the last good one stays, the
error is reported, and attempts back off exponentially (`next_attempt_in`).
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import git

from reconciler.config import SourceConfig
from reconciler.soa.files import (
    AUTOTUNED_DIR,
    SERVICE_LEVEL_FILES,
    ServiceFiles,
    SoaSource,
    autotuned_file_name,
    instance_file_names,
)
from reconciler.soa.issues import Issue
from reconciler.sources.changes import changed_deployments, changed_services
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.errors import CorruptSourceError, SourceError
from reconciler.sources.gittree import GitTree
from reconciler.sources.mirror import Mirror


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading of the sources."""

    #: the soa-configs commit; for a `path:` source a hash of the files' contents
    soa_commit: str
    #: the deployments branch commit; None when the branch does not exist (or `path:`)
    deployments_commit: str | None
    tree: SoaSource
    #: when the newer of the two commits was committed (RFC 3339 UTC); None for `path:`
    committed_at: str | None = None


@dataclass(frozen=True)
class PollResult:
    #: the snapshot in force (the last good one after a failure; None only if never read)
    snapshot: Snapshot | None
    #: services to re-render; None = all; empty = nothing changed
    changed: frozenset[str] | None
    #: this poll's failure (or, while backing off, the failure being waited out)
    error: str | None
    #: a new snapshot was read in this poll
    fresh: bool


class SourcePoller:
    """Polls one soa-configs source (git remote or directory); keeps the last good snapshot."""

    def __init__(self, source: SourceConfig, state_dir: str | os.PathLike[str], *,
                 clock: Callable[[], float] = time.monotonic, timeout: float = 60.0,
                 backoff_base: float = 1.0, backoff_max: float = 300.0) -> None:
        if source.repo is None and source.path is None:
            raise ValueError("the source has neither repo nor path")
        self.source = source
        self.mirror = Mirror(source.repo, state_dir, timeout=timeout) if source.repo is not None else None
        self._clock = clock
        self._backoff = (backoff_base, backoff_max)
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._hashes: dict[str, str] = {}  # path sources: per-service content hash of the snapshot
        self._repo: git.Repo | None = None  # git sources: the repository the snapshot reads
        self._redo: set[str] = set()  # services to render again once the mirror is cloned again
        self.failures = 0
        self._error: str | None = None
        self._next_attempt = -math.inf

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @property
    def next_attempt_in(self) -> float:
        """Seconds before the next poll really tries again (0 when not backing off)."""
        return max(0.0, self._next_attempt - self._clock())

    def poll(self, *, force: bool = False) -> PollResult:
        """Read the sources (unless backing off from a failure; `force` skips the wait)."""
        with self._lock:
            if self._error is not None and not force and self._clock() < self._next_attempt:
                return PollResult(self._snapshot, frozenset(), self._error, False)
            try:
                result = self._poll_git(self.mirror) if self.mirror is not None else self._poll_path()
            except SourceError as exc:
                return self._failed(str(exc))
            self.failures, self._error, self._next_attempt = 0, None, -math.inf
            return result

    def _failed(self, error: str) -> PollResult:
        self.failures += 1
        base, cap = self._backoff
        self._error = error
        self._next_attempt = self._clock() + min(cap, base * 2 ** (self.failures - 1))
        return PollResult(self._snapshot, frozenset(), error, False)

    def _fresh(self, snapshot: Snapshot, changed: frozenset[str] | None) -> PollResult:
        self._snapshot = snapshot
        return PollResult(snapshot, changed, None, True)

    # ------------------------------------------------------------------ git
    def _poll_git(self, mirror: Mirror) -> PollResult:
        mirror.fetch()
        branch, deployments_branch = self.source.branch, self.source.deployments_branch
        soa = mirror.resolve(branch)
        if soa is None:
            raise SourceError(f"branch {branch!r} not found in {mirror.safe_url}")
        deployments = mirror.resolve(deployments_branch)  # None: nothing deployed yet
        last = self._snapshot
        try:
            repo = mirror.repo
            if last is not None and (soa, deployments) == (last.soa_commit, last.deployments_commit):
                return self._same(mirror, repo, last)
            tree = GitTree(repo, soa, deployments)
            changed: frozenset[str] | None = None
            if last is not None:
                in_soa = changed_services(repo, last.soa_commit, soa)
                in_deployments = changed_deployments(repo, last.deployments_commit, deployments)
                if in_soa is not None and in_deployments is not None:
                    damaged = last.tree.damaged if isinstance(last.tree, GitTree) else set()
                    changed = frozenset(in_soa | in_deployments | self._redo | damaged)
        except CorruptSourceError as exc:
            self._corrupt(mirror, str(exc))
        self._repo, self._redo = repo, set()
        return self._fresh(Snapshot(soa, deployments, tree, _committed_at(repo, soa, deployments)), changed)

    def _same(self, mirror: Mirror, repo: git.Repo, last: Snapshot) -> PollResult:
        """Nothing new in git; unless the snapshot's objects turned out unreadable (moved aside
        here) or the mirror was cloned again since (the snapshot is read from the new clone,
        and what could not be read before is rendered again)."""
        damaged = set(last.tree.damaged) if isinstance(last.tree, GitTree) else set()
        if repo is self._repo:
            if not damaged:
                return PollResult(last, frozenset(), None, False)
            self._redo |= damaged
            self._corrupt(mirror, f"objects of {', '.join(sorted(damaged)[:5])} could not be read")
        snapshot = Snapshot(last.soa_commit, last.deployments_commit,
                            GitTree(repo, last.soa_commit, last.deployments_commit), last.committed_at)
        self._repo, redo, self._redo = repo, frozenset(self._redo | damaged), set()
        if redo:
            return self._fresh(snapshot, redo)
        self._snapshot = snapshot
        return PollResult(snapshot, frozenset(), None, False)

    def _corrupt(self, mirror: Mirror, problem: str) -> NoReturn:
        moved = mirror.quarantine(problem)
        raise SourceError(f"mirror of {mirror.safe_url} is corrupt ({problem}); moved aside to "
                          f"{moved.name if moved else '-'}, it will be cloned again on the next fetch")

    # ------------------------------------------------------------------ path
    def _poll_path(self) -> PollResult:
        assert self.source.path is not None
        directory = DirectoryTree(self.source.path)
        try:
            names, skipped = directory.services()
        except FileNotFoundError as exc:
            raise SourceError(str(exc)) from None
        files = {name: directory.read_service(name) for name in names}
        hashes = {name: _service_hash(f) for name, f in files.items()}
        revision = hashlib.sha256()
        for name in names:
            revision.update(f"{name}\0{hashes[name]}\0".encode())
        for issue in skipped:
            revision.update(f"{issue.file}\0{issue.message}\0".encode())
        digest = revision.hexdigest()
        last = self._snapshot
        if last is not None and digest == last.soa_commit:
            return PollResult(last, frozenset(), None, False)
        changed = None if last is None else frozenset(
            n for n in hashes.keys() | self._hashes.keys() if hashes.get(n) != self._hashes.get(n))
        self._hashes = hashes
        return self._fresh(Snapshot(digest, None, FilesTree(files, skipped)), changed)


def _service_hash(files: ServiceFiles) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(files.files.items()):
        digest.update(f"f\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    for name, reason in sorted(files.unreadable.items()):
        digest.update(f"u\0{name}\0{reason}\0".encode())
    return digest.hexdigest()


class FilesTree:
    """A soa-configs tree already read into memory (a `path:` source's snapshot): what was
    hashed is exactly what is rendered, however the directory changes afterwards."""

    def __init__(self, files: Mapping[str, ServiceFiles], skipped: list[Issue]) -> None:
        self._files = dict(files)
        self._skipped = list(skipped)

    def services(self) -> tuple[list[str], list[Issue]]:
        return list(self._files), list(self._skipped)

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles:
        """The files of `service` for `cluster` (or all), as `DirectoryTree` gives them."""
        found = self._files.get(service)
        if found is None:
            return ServiceFiles(service, unreadable={".": f"cannot list directory: {os.strerror(errno.ENOENT)}"})
        if cluster is None:
            return ServiceFiles(service, dict(found.files), dict(found.unreadable))
        wanted = {*SERVICE_LEVEL_FILES, *instance_file_names(cluster), autotuned_file_name(cluster), "."}
        unreadable = {n: r for n, r in found.unreadable.items() if n in wanted}
        if found.unreadable.get(AUTOTUNED_DIR, "").startswith("refused"):  # not listed for one cluster
            unreadable[AUTOTUNED_DIR] = found.unreadable[AUTOTUNED_DIR]
        return ServiceFiles(service, {n: d for n, d in found.files.items() if n in wanted}, unreadable)


def _committed_at(repo: git.Repo, *commits: str | None) -> str | None:
    """The newest commit time of `commits`, RFC 3339 UTC (None when none can be read)."""
    times = []
    for sha in commits:
        if sha is None:
            continue
        try:
            times.append(int(repo.commit(sha).committed_date))
        except (ValueError, git.GitError):
            continue
    if not times:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(times)))
