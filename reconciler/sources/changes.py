"""Which services two commits differ in: one comparison of their trees, no checkout.

Only trees are compared (by sha), top level first, so a commit that touches one service
costs a handful of object reads however large the repository is.

What "changed" means for a soa-configs commit: the files `read_service` reads differ
(service.yaml, deploy.yaml, the instance files, autotuned_defaults/; a README, tron or
smartstack file does not count, nor does a deployments.json there, which is read from the
deployments branch). Top-level paths that are not services (README.md, .github/, a shared
directory) change nothing by themselves: everything cluster-wide lives in the reconciler's
own config, not in soa-configs. The one way a path can reach into another is a symlink, so
when anything changed, every service with a symlink among its inputs is re-rendered too.

None ("everything") is returned when the old commit is unknown (first read, or its objects
are gone) or is not an ancestor of the new one (a force-push rewrote history): cheap
insurance for a rare event.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import git

from reconciler.soa.files import AUTOTUNED_DIR, INSTANCE_FILE, SERVICE_LEVEL_FILES, SERVICE_NAME
from reconciler.sources.errors import CorruptSourceError
from reconciler.sources.gittree import DEPLOYMENTS_FILE, LINK, TREE, Entry, ObjectReader, reader_for

Relevant = Callable[[str], bool]


def soa_input(name: str) -> bool:
    """A file of a service directory that rendering reads (from the soa-configs branch)."""
    return not name.startswith(".") and name != DEPLOYMENTS_FILE and (
        name in SERVICE_LEVEL_FILES or name == AUTOTUNED_DIR or INSTANCE_FILE.match(name) is not None)


def deployments_input(name: str) -> bool:
    return name == DEPLOYMENTS_FILE


def changed_services(repo: git.Repo, old_commit: str | None, new_commit: str) -> set[str] | None:
    """Services whose soa-configs files differ between two commits; None means all."""
    if old_commit is None:
        return None
    return _changed(repo, old_commit, new_commit, soa_input)


def changed_deployments(repo: git.Repo, old_commit: str | None, new_commit: str | None) -> set[str] | None:
    """Services whose deployments.json differs between two deployments-branch commits (None
    for a branch that does not exist: every file is then new, or gone); None means all."""
    return _changed(repo, old_commit, new_commit, deployments_input)


def _changed(repo: git.Repo, old: str | None, new: str | None, relevant: Relevant) -> set[str] | None:
    if old == new:
        return set()
    reader = reader_for(repo)
    if old is not None and new is not None and not _is_ancestor(repo, old, new):
        return None
    try:
        before = reader.tree(reader.root_tree(old)) if old is not None else {}
    except CorruptSourceError:
        return None  # the old commit is gone: compare with nothing known
    after = reader.tree(reader.root_tree(new)) if new is not None else {}
    changed: set[str] = set()
    touched = False
    for name in before.keys() | after.keys():
        if before.get(name) == after.get(name):
            continue
        touched = True
        if SERVICE_NAME.match(name) and _view(reader, before.get(name), relevant) != \
                _view(reader, after.get(name), relevant):
            changed.add(name)
    if touched:
        changed |= {name for name, entry in after.items()
                    if SERVICE_NAME.match(name) and _has_links(reader, entry, relevant)}
    return changed


def _is_ancestor(repo: git.Repo, old: str, new: str) -> bool:
    """Whether `new` descends from `old` (False also when `old` is unknown)."""
    try:
        repo.git.merge_base("--is-ancestor", old, new)
    except git.GitCommandError:
        return False
    return True


def _view(reader: ObjectReader, entry: Entry | None, relevant: Relevant) -> Hashable:
    """What of one top-level entry rendering depends on (directly)."""
    if entry is None:
        return None
    binsha, mode = entry
    if mode & 0o170000 != TREE:
        return entry
    return tuple(sorted((n, e) for n, e in reader.tree(binsha).items() if relevant(n)))


_links: dict[tuple[bytes, str], bool] = {}


def _has_links(reader: ObjectReader, entry: Entry, relevant: Relevant) -> bool:
    """Whether a service's inputs go through a symlink (and so may depend on any path)."""
    binsha, mode = entry
    kind = mode & 0o170000
    if kind == LINK:
        return True
    if kind != TREE:
        return False
    key = (binsha, relevant.__name__)
    found = _links.get(key)
    if found is None:
        found = _tree_has_links(reader, reader.tree(binsha), relevant)
        if len(_links) > 100_000:
            _links.clear()
        _links[key] = found
    return found


def _tree_has_links(reader: ObjectReader, entries: Mapping[str, Entry], relevant: Relevant) -> bool:
    for name, (binsha, mode) in entries.items():
        if not relevant(name):
            continue
        if mode & 0o170000 == LINK:
            return True
        if name == AUTOTUNED_DIR and mode & 0o170000 == TREE and any(
                m & 0o170000 == LINK for n, (_, m) in reader.tree(binsha).items() if INSTANCE_FILE.match(n)):
            return True
    return False
