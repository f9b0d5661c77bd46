"""Real git "remotes" for tests: bare repositories on disk reached through file:// URLs.

`GitRemote` is a bare repository plus one working clone per branch to commit and push from
(branches may have unrelated histories, like soa-configs' `main` and `deployments`).
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path

import git

from tests.conftest import SHA, deployments_json

IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}

#: `rel -> content` to write; None deletes; `Link("target")` makes a symlink
class Link(str):
    """A symlink target, as a file content: `{"b": Link("a")}` makes b -> a."""


Files = Mapping[str, "str | bytes | Link | None"]


def write_files(root: Path, files: Files) -> None:
    """Write (text is dedented), link or delete (None) files under root."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        if isinstance(content, Link):
            os.symlink(str(content), path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))


class GitRemote:
    """A bare repository standing for a remote, and working clones to change it with."""

    def __init__(self, root: Path, name: str = "soa-configs") -> None:
        self.root = root
        self.name = name
        self.bare = root / f"{name}.git"
        git.Repo.init(self.bare, bare=True, initial_branch="main")
        self.url = self.bare.as_uri()
        self._work: dict[str, git.Repo] = {}

    def work(self, branch: str = "main") -> git.Repo:
        """The working clone where `branch` is checked out (an orphan when it is new)."""
        if branch not in self._work:
            path = self.root / f"{self.name}-work-{re.sub(r'[^A-Za-z0-9]+', '_', branch)}"
            repo = git.Repo.clone_from(self.url, path, env=IDENTITY)
            with repo.config_writer() as config:
                config.set_value("user", "name", "Test")
                config.set_value("user", "email", "test@example.com")
            if self.tip(branch) is not None:
                repo.git.checkout("-B", branch, f"origin/{branch}")
            else:
                repo.git.checkout("--orphan", branch)
                repo.git.rm("-rf", "--quiet", "--ignore-unmatch", ".")
                repo.git.clean("-fdxq")
            self._work[branch] = repo
        return self._work[branch]

    def path(self, branch: str = "main") -> Path:
        return Path(self.work(branch).working_dir)

    def commit(self, files: Files | None = None, branch: str = "main", message: str = "change", *,
               push: bool = True, amend: bool = False, force: bool = False) -> str:
        """Apply `files`, commit everything (allowing an empty commit), push; the new sha."""
        repo = self.work(branch)
        if self.tip(branch) is not None and not (force or amend) and repo.head.is_valid():
            repo.git.pull("--quiet", "--ff-only", "origin", branch)
        write_files(self.path(branch), files or {})
        repo.git.add("-A")
        args = ["--quiet", "--allow-empty", "-m", message] + (["--amend"] if amend else [])
        repo.git.commit(*args)
        if push:
            self.push(branch, force=force or amend)
        return str(repo.head.commit.hexsha)

    def push(self, branch: str = "main", force: bool = False) -> None:
        self.work(branch).git.push("--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{branch}")

    def rewrite(self, files: Files | None = None, branch: str = "main", message: str = "rewritten") -> str:
        """Replace the tip of `branch` (amend + force-push): its old tip becomes unreachable."""
        return self.commit(files, branch, message, amend=True)

    def reset(self, commit: str, branch: str = "main") -> None:
        """Force `branch` back to `commit` (a force-push)."""
        repo = self.work(branch)
        repo.git.reset("--hard", "--quiet", commit)
        self.push(branch, force=True)

    def tag(self, name: str, ref: str = "HEAD", *, branch: str = "main", annotated: bool = False,
            push: bool = True) -> None:
        repo = self.work(branch)
        if annotated:
            repo.git.tag("-a", name, ref, "-m", name)
        else:
            repo.git.tag(name, ref)
        if push:
            repo.git.push("--quiet", "origin", f"refs/tags/{name}")

    def delete_branch(self, branch: str) -> None:
        git.Repo(self.bare).git.update_ref("-d", f"refs/heads/{branch}")

    def tip(self, branch: str = "main") -> str | None:
        ref = self.bare / "refs" / "heads" / branch
        if ref.exists():
            return ref.read_text().strip()
        out = git.Repo(self.bare).git.for_each_ref("--format=%(objectname)", f"refs/heads/{branch}")
        return out.strip() or None

    def move_away(self) -> Path:
        """Make the remote unreachable (returns where it went; `come_back` undoes it)."""
        away = self.bare.with_name(self.bare.name + ".away")
        os.rename(self.bare, away)
        return away

    def come_back(self) -> None:
        os.rename(self.bare.with_name(self.bare.name + ".away"), self.bare)


def service_files(service: str, clusters: Mapping[str, list[str]] | None = None, *, mem: int = 512,
                  deployments: bool = True) -> dict[str, str]:
    """A small valid soa-configs service: `clusters` maps a cluster to instance names
    (default: one `main` on `norcal-prod`); every deploy group deployed at SHA."""
    clusters = clusters if clusters is not None else {"norcal-prod": ["main"]}
    out = {f"{service}/service.yaml": f"description: {service}\nmem: {mem}\n"}
    groups: dict[str, str] = {}
    for cluster, instances in clusters.items():
        out[f"{service}/kubernetes-{cluster}.yaml"] = "".join(f"{i}: {{cpus: 0.5}}\n" for i in instances)
        groups.update({f"{cluster}.{i}": SHA for i in instances})
    if deployments:
        out[f"{service}/deployments.json"] = deployments_json(service, groups)
    return out


def split_deployments(files: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(soa-configs files, deployments branch files) of one soa-configs layout."""
    soa = {k: v for k, v in files.items() if not k.endswith("/deployments.json")}
    return soa, {k: v for k, v in files.items() if k.endswith("/deployments.json")}
