"""A local bare mirror of one remote repository, fetched incrementally under a file lock.

The mirror lives at `<state_dir>/mirrors/<slug-of-url>.git`. The first fetch clones it
(`clone --mirror`, into a temporary directory renamed into place, so a half-finished clone
is never taken for a mirror); later fetches are incremental (`git fetch --prune` of every
ref, force-updates included). A CLI and the daemon may share `state_dir`: fetches (and the
pushes of whoever holds `lock()`) are serialised by an `fcntl` lock on `<path>.lock`.

A corrupt mirror (not a git repository, refs pointing at missing objects) is found when it
is opened or when a fetch fails; it is moved aside (`<path>.corrupt-<time>`) with an error
saying so, and the next fetch clones it again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import git

from reconciler.scrub import scrub
from reconciler.sources.errors import SourceError

#: git's own rules for ref names, enough to keep a branch name inside refs/heads/
_BAD_BRANCH = re.compile(r"(^[/.-])|(\.\.)|(//)|([\x00-\x20\x7f~^:?*\[\\])|(@\{)|(/\.)|(\.lock(/|$))|([/.]$)")
_HEX_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_LOCK_POLL_SECONDS = 0.05


def slug(url: str) -> str:
    """A file name for `url`: readable, unique (a hash of the URL) and free of credentials."""
    safe = scrub(url)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", safe))
    readable = readable.strip("._-")
    readable = re.sub(r"\.git$", "", readable)[-60:].lstrip("._-") or "repo"
    return f"{readable}-{hashlib.sha256(safe.encode()).hexdigest()[:12]}"


def check_branch(branch: str) -> None:
    """Refuse names git would refuse (and anything that could leave refs/heads/)."""
    if not branch or _BAD_BRANCH.search(branch):
        raise SourceError(f"not a valid branch name: {branch!r}")


class Mirror:
    """A bare mirror of one remote repository under <state_dir>/mirrors/<slug-of-url>.git."""

    def __init__(self, url: str, state_dir: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.url = url
        self.safe_url = scrub(url)
        try:
            git.Git.check_unsafe_protocols(url)
        except git.UnsafeProtocolError:
            raise SourceError(f"refused unsafe git URL {self.safe_url}") from None
        self.timeout = timeout
        self.path = Path(state_dir).expanduser() / "mirrors" / f"{slug(url)}.git"
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._guard = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._repo: git.Repo | None = None
        self._repo_id: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"Mirror({self.safe_url!r}, path={str(self.path)!r})"

    # ------------------------------------------------------------------ reading
    @property
    def repo(self) -> git.Repo:
        """The bare repository (reads objects through one persistent `git cat-file --batch`).

        Raises SourceError when the mirror was never fetched. Reopened when another process
        replaced the directory (a re-clone after corruption).
        """
        try:
            info = os.stat(self.path)
        except OSError:
            raise SourceError(f"no mirror of {self.safe_url} at {self.path}: not fetched yet") from None
        ident = (info.st_dev, info.st_ino)
        if self._repo is None or self._repo_id != ident:
            self._close_repo()
            try:
                self._repo = git.Repo(self.path, odbt=git.GitCmdObjectDB)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError):
                raise SourceError(f"mirror of {self.safe_url} at {self.path} is not a git repository") from None
            self._repo_id = ident
        return self._repo

    def resolve(self, branch: str) -> str | None:
        """The sha of refs/heads/<branch> in the mirror; None when the branch does not exist.

        Reads the ref files directly (no git process): this is on every poll's path.
        """
        check_branch(branch)
        ref = f"refs/heads/{branch}"
        for _ in range(10):  # symbolic refs, followed a few levels deep
            value = self._read_ref(ref)
            if value is None:
                return None
            if value.startswith("ref: "):
                ref = value[5:].strip()
                continue
            if not _HEX_SHA.match(value):
                raise SourceError(f"mirror of {self.safe_url}: {ref} is corrupt ({value[:60]!r})")
            return value
        raise SourceError(f"mirror of {self.safe_url}: {branch} is a loop of symbolic refs")

    def _read_ref(self, ref: str) -> str | None:
        try:
            return (self.path / ref).read_text(errors="replace").strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        except OSError as exc:
            raise SourceError(f"mirror of {self.safe_url}: cannot read {ref}: {exc.strerror}") from None
        try:
            with open(self.path / "packed-refs", encoding="utf-8", errors="replace") as packed:
                for line in packed:
                    if line[:1] in ("#", "^"):
                        continue
                    sha, _, name = line.rstrip("\n").partition(" ")
                    if name == ref:
                        return sha
        except FileNotFoundError:
            if not self.path.is_dir():
                raise SourceError(f"no mirror of {self.safe_url} at {self.path}: not fetched yet") from None
        except OSError as exc:
            raise SourceError(f"mirror of {self.safe_url}: cannot read packed-refs: {exc.strerror}") from None
        return None

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the mirror's exclusive lock (re-entrant within this object).

        Waits up to `timeout` (default: the git timeout) for another holder, then raises
        SourceError naming the lock file.
        """
        wait = self.timeout if timeout is None else timeout
        if not self._guard.acquire(timeout=wait):
            raise SourceError(f"mirror of {self.safe_url} is busy in this process ({self.lock_path})")
        try:
            if self._depth == 0:
                self._fd = self._acquire(wait)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._guard.release()

    def _acquire(self, wait: float) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise SourceError(f"cannot lock mirror of {self.safe_url} ({self.lock_path}): "
                                      f"{exc.strerror}") from None
            if time.monotonic() >= deadline:
                os.close(fd)
                raise SourceError(f"mirror of {self.safe_url} is locked by another process "
                                  f"({self.lock_path}) for more than {wait:g}s")
            time.sleep(_LOCK_POLL_SECONDS)

    # ------------------------------------------------------------------ fetching
    def fetch(self) -> None:
        """Clone on first use, else fetch incrementally; raises SourceError on any failure."""
        with self.lock():
            if not self.path.exists():
                self._clone()
                return
            problem = self._open_problem()
            if problem is not None:
                self._corrupt(problem)
            try:
                self._git("fetch", "--prune", "--quiet", "--no-write-fetch-head", self.url, "+refs/*:refs/*",
                          cwd=self.path)
            except SourceError as exc:
                problem = self._health_problem()
                if problem is not None:
                    self._corrupt(problem)
                raise SourceError(f"cannot fetch {self.safe_url}: {exc}") from None

    def quarantine(self, reason: str) -> Path | None:
        """Move a mirror found corrupt aside (keeping only the latest such copy) so that the
        next fetch clones it again; returns where it went (None if there was no mirror)."""
        with self.lock():
            if not self.path.exists():
                return None
            return self._move_aside(reason)

    def _clone(self) -> None:
        for stale in self.path.parent.glob(f"{self.path.name}.tmp-*"):  # an interrupted clone
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        try:
            self._git("clone", "--mirror", "--quiet", "--", self.url, str(tmp), cwd=self.path.parent)
            if self.safe_url != self.url and self.url.startswith(("http://", "https://")):
                # fetches name the URL themselves: no credentials are kept on disk
                self._git("config", "remote.origin.url", self.safe_url, cwd=tmp)
            os.rename(tmp, self.path)
        except SourceError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceError(f"cannot clone {self.safe_url}: {exc}") from None
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceError(f"cannot clone {self.safe_url} into {self.path}: {exc.strerror}") from None
        self._close_repo()

    def _git(self, *args: str, cwd: Path) -> str:
        """Run git; SourceError with git's message (credentials scrubbed) on failure or timeout."""
        try:
            out: str = git.Git(cwd).execute(["git", *args], kill_after_timeout=self.timeout,
                                            env={"GIT_TERMINAL_PROMPT": "0"})
            return out
        except git.GitCommandError as exc:
            detail = exc.stderr.strip() if isinstance(exc.stderr, str) and exc.stderr.strip() else str(exc)
            detail = re.sub(r"^stderr: '?|'$", "", detail.strip()).strip()
            detail = " ".join(line.strip() for line in detail.splitlines() if line.strip())
            raise SourceError(scrub(detail) or f"git {args[0]} exited with {exc.status}") from None
        except OSError as exc:
            raise SourceError(f"cannot run git {args[0]}: {exc.strerror or exc}") from None

    # ------------------------------------------------------------------ corruption
    def _open_problem(self) -> str | None:
        try:
            repo = git.Repo(self.path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return "not a git repository"
        try:
            return None if repo.bare else "not a bare repository"
        finally:
            repo.close()

    def _health_problem(self) -> str | None:
        """Why the mirror is unusable (None when it looks sound): cheap checks only, the tip
        commit and root tree of every ref must be present."""
        problem = self._open_problem()
        if problem is not None:
            return problem
        try:
            status, out, err = git.Git(self.path).execute(
                ["git", "for-each-ref", "--format=%(objectname)"], with_extended_output=True,
                with_exceptions=False, kill_after_timeout=self.timeout)
        except OSError as exc:
            return f"refs unreadable: {exc.strerror or exc}"
        if status != 0 or err.strip():  # "ignoring broken ref ..." is only a warning to git
            return f"refs unreadable: {' '.join(err.split()) or f'git for-each-ref exited with {status}'}"
        tips = out.split()
        repo = git.Repo(self.path)
        try:
            for sha in dict.fromkeys(tips):
                try:
                    repo.git.get_object_header(f"{sha}^{{tree}}")
                except (ValueError, OSError, git.GitCommandError):
                    return f"objects missing (commit {sha[:12]} or its tree)"
        finally:
            repo.close()
        return None

    def _corrupt(self, problem: str) -> NoReturn:
        target = self._move_aside(problem)
        raise SourceError(f"mirror of {self.safe_url} at {self.path} was corrupt ({problem}); moved aside "
                          f"to {target.name}, it will be cloned again on the next fetch")

    def _move_aside(self, reason: str) -> Path:
        for older in self.path.parent.glob(f"{self.path.name}.corrupt-*"):
            shutil.rmtree(older, ignore_errors=True)
        target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        self._close_repo()
        os.rename(self.path, target)
        with contextlib.suppress(OSError):  # for whoever looks at it later
            (target / "RECONCILER-CORRUPT").write_text(reason + "\n")
        return target

    def _close_repo(self) -> None:
        # dropped, not closed: a snapshot being read may still hold it (it keeps reading the
        # directory it was opened on, even once moved aside)
        self._repo = None
        self._repo_id = None
