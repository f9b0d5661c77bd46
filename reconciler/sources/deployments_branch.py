"""The deployments branch: reading `<service>/deployments.json`, adding one commit to it;
and pushing a ref (that commit, a deploy or control tag) from a mirror, never forcing.

Commits are built inside the bare mirror of the soa-configs repository, with no checkout:
blobs go straight into its object database, the tree is the parent's tree with those
entries replaced (an in-memory GitPython index, never written to disk), and the commit is
pushed by sha to the remote. There is no work tree to keep clean, nothing to reset after a
failure, and the daemon and the CLI can share the mirror under its lock. Pushes never
force: a push the remote refuses because the branch moved returns False, and the caller
fetches and recomputes.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import git
from git.index.typ import BaseIndexEntry
from gitdb import IStream  # type: ignore[import-untyped]  # GitPython's own dependency

from reconciler.scrub import scrub
from reconciler.sources.errors import SourceError
from reconciler.sources.mirror import Mirror

FILE_NAME = "deployments.json"
_REGULAR_FILE = 0o100644
_RACE_MARKERS = ("[rejected]", "fetch first", "non-fast-forward", "stale info", "already exists")


@dataclass(frozen=True)
class Identity:
    """Author and committer of the generator's commits."""

    name: str = "reconciler"
    email: str = "reconciler@localhost"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Identity:
        """git's own GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL when set, else reconciler@localhost."""
        env = os.environ if env is None else env
        return cls(env.get("GIT_AUTHOR_NAME") or cls.name, env.get("GIT_AUTHOR_EMAIL") or cls.email)

    def actor(self) -> git.Actor:
        return git.Actor(self.name, self.email)


def path_of(service: str) -> str:
    return f"{service}/{FILE_NAME}"


class DeploymentsBranch:
    """One branch of the soa-configs remote, reached through its local bare mirror."""

    def __init__(self, mirror: Mirror, branch: str, *, identity: Identity | None = None) -> None:
        self.mirror = mirror
        self.branch = branch
        self.identity = identity or Identity()

    def fetch(self) -> str | None:
        """Fetch the mirror; the branch's tip (None: the branch does not exist yet)."""
        with self.mirror.lock():
            self.mirror.fetch()
            return self.mirror.resolve(self.branch)

    def read(self, tip: str | None, services: Iterable[str]) -> dict[str, bytes]:
        """`deployments.json` of each service present at `tip` (absent files are left out)."""
        if tip is None:
            return {}
        try:
            tree = self.mirror.repo.commit(tip).tree
        except (ValueError, git.GitCommandError) as exc:
            raise SourceError(f"{self.mirror.safe_url}: cannot read commit {tip[:12]} of "
                              f"{self.branch}: {exc}") from None
        out: dict[str, bytes] = {}
        for service in services:
            try:
                item = tree / path_of(service)
            except KeyError:
                continue
            if isinstance(item, git.Blob):
                out[service] = item.data_stream.read()
        return out

    def commit(self, parent: str | None, files: Mapping[str, bytes], message: str) -> str:
        """A new commit on `parent` (None: a root commit) with `files` (path -> bytes) replaced.

        Only objects are written; no ref moves until `push` succeeds.
        """
        repo = self.mirror.repo
        with self.mirror.lock():
            index = git.IndexFile.new(repo, repo.commit(parent).tree) if parent else git.IndexFile.new(repo)
            entries = []
            for path, data in sorted(files.items()):
                stored = repo.odb.store(IStream(git.Blob.type, len(data), io.BytesIO(data)))
                entries.append(BaseIndexEntry((_REGULAR_FILE, stored.binsha, 0, path)))
            index.add(entries, write=False)
            tree = index.write_tree()
            actor = self.identity.actor()
            made = git.Commit.create_from_tree(
                repo, tree, message, parent_commits=[repo.commit(parent)] if parent else [],
                head=False, author=actor, committer=actor)
            return str(made.hexsha)

    def push(self, sha: str) -> bool:
        """Push `sha` to the branch, never forcing: False when the remote moved meanwhile."""
        return push_ref(self.mirror, sha, f"refs/heads/{self.branch}")


def push_ref(mirror: Mirror, sha: str, ref: str) -> bool:
    """Push the object `sha` of `mirror` to `ref` on its remote, never forcing.

    False when the remote refused because `ref` moved or already exists (a race to retry);
    SourceError for anything else. On success the mirror's own `ref` is set to `sha` too.
    """
    return push_refs(mirror, {ref: sha})


def push_refs(mirror: Mirror, refs: Mapping[str, str]) -> bool:
    """Push every `ref -> sha` of `refs` in one atomic push (all or none), never forcing; False
    when the remote refused because one of them moved or already exists."""
    with mirror.lock():
        atomic = ["--atomic"] if len(refs) > 1 else []
        try:
            git.Git(mirror.path).execute(
                ["git", "push", "--porcelain", "--quiet", *atomic, mirror.url,
                 *(f"{sha}:{ref}" for ref, sha in refs.items())],
                kill_after_timeout=mirror.timeout, env={"GIT_TERMINAL_PROMPT": "0"})
        except git.GitCommandError as exc:
            text = f"{exc.stdout or ''}\n{exc.stderr or ''}"
            if any(marker in text for marker in _RACE_MARKERS) and "[remote rejected]" not in text:
                return False
            raise SourceError(f"cannot push {', '.join(refs)} to {mirror.safe_url}: {scrub(_detail(exc))}") from None
        except OSError as exc:
            raise SourceError(f"cannot run git push: {exc.strerror or exc}") from None
        # the mirror matches the remote without waiting for its next fetch
        for ref, sha in refs.items():
            mirror.repo.git.update_ref(ref, sha)
        return True


def _detail(exc: git.GitCommandError) -> str:
    """git's message without GitPython's `stderr: '...'` wrapping."""
    for text in (exc.stderr, exc.stdout):
        if isinstance(text, str) and text.strip():
            text = re.sub(r"^\s*std(err|out): '?|'\s*$", "", text.strip())
            lines = [line.strip() for line in text.splitlines()]
            return " ".join(line for line in lines if line and not line.startswith(("To ", "Done")))
    return f"git push exited with {exc.status}"
