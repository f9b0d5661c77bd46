"""A soa-configs commit read like a directory: blobs straight from the object database.

`GitTree` follows `DirectoryTree`'s rules exactly (service discovery, the files read, the
`unreadable` reasons, the size limit, symlinks followed only while they stay inside the
tree), so the two give identical `ServiceFiles` for the same files. Each service's
`deployments.json` comes from the deployments branch commit, never from soa-configs.

Objects are read through the repository's persistent `git cat-file --batch` (GitPython's
`GitCmdObjectDB`): no checkout and no process per blob. Trees are cached by their sha, so
consecutive commits share the work of the services they have in common.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import git

from reconciler.soa.files import (
    AUTOTUNED_DIR,
    INSTANCE_FILE,
    MAX_FILE_BYTES,
    SERVICE_LEVEL_FILES,
    SERVICE_NAME,
    ServiceFiles,
    autotuned_file_name,
    instance_file_names,
)
from reconciler.soa.issues import Issue, warning
from reconciler.sources.errors import CorruptSourceError

TREE, LINK, GITLINK = 0o040000, 0o120000, 0o160000
DEPLOYMENTS_FILE = "deployments.json"
_MAX_LINKS = 40  # like the kernel's limit on symlinks followed in one path
_TREE_CACHE = 20_000  # trees kept (content-addressed: valid across commits)
_CHUNK = 1 << 20
_REFUSED = "refused: symlink that points outside the tree"

#: a tree entry: (binary sha, mode)
Entry = tuple[bytes, int]
Kind = Literal["tree", "blob", "gitlink", "missing", "notdir", "loop", "outside"]
_ERRNO = {"missing": errno.ENOENT, "notdir": errno.ENOTDIR, "loop": errno.ELOOP, "blob": errno.ENOTDIR}


def parse_tree(data: bytes) -> dict[str, Entry]:
    """Raw tree object data -> name -> (binsha, mode); names decoded like os.scandir's."""
    out: dict[str, Entry] = {}
    pos, end = 0, len(data)
    while pos < end:
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        out[name] = (data[nul + 1:nul + 21], int(data[pos:space], 8))
        pos = nul + 21
    return out


class ObjectReader:
    """Trees and blobs of one repository through its persistent cat-file process.

    Thread-safe (one lock per repository); in a forked child it opens the repository
    again rather than share the parent's pipes.
    """

    def __init__(self, repo: git.Repo) -> None:
        self.path = repo.git_dir
        self._repo = repo
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._trees: dict[bytes, dict[str, Entry]] = {}
        self._inherited: list[git.Repo] = []

    def _git(self) -> git.Git:
        if os.getpid() != self._pid:  # forked: the parent's cat-file is not ours to use
            self._inherited.append(self._repo)  # never collected here: its pipes are the parent's
            self._repo = git.Repo(self.path, odbt=git.GitCmdObjectDB)
            self._lock = threading.Lock()
            self._pid = os.getpid()
        return self._repo.git

    def read(self, ref: bytes | str, kind: str, limit: int | None = None) -> bytes | None:
        """The data of object `ref` (binary or hex sha), which must be a `kind`; None when it
        is larger than `limit`. Raises CorruptSourceError when it cannot be read."""
        hexsha = ref.hex() if isinstance(ref, bytes) else ref
        cmd = self._git()
        with self._lock:
            try:
                _, typename, size, stream = cmd.stream_object_data(hexsha)
                if limit is not None and size > limit:
                    while stream.read(_CHUNK):  # drained, never held in memory
                        pass
                    return None
                data: bytes = stream.read(size)
            except ValueError:
                raise CorruptSourceError(f"object {hexsha} is missing from {self.path}") from None
            except (OSError, git.GitCommandError) as exc:
                cmd.clear_cache()  # the next read starts a fresh cat-file
                raise CorruptSourceError(f"cannot read object {hexsha} from {self.path}: {exc}") from None
        if _text(typename) != kind:
            raise CorruptSourceError(f"object {hexsha} in {self.path} is a {_text(typename)}, not a {kind}")
        return data

    def tree(self, binsha: bytes) -> dict[str, Entry]:
        """The entries of a tree (cached by sha: trees never change)."""
        found = self._trees.get(binsha)
        if found is None:
            data = self.read(binsha, "tree")
            assert data is not None
            try:
                found = parse_tree(data)
            except ValueError:
                raise CorruptSourceError(f"tree {binsha.hex()} in {self.path} is malformed") from None
            if len(self._trees) >= _TREE_CACHE:
                self._trees.clear()
            self._trees[binsha] = found
        return found

    def root_tree(self, commit: str) -> bytes:
        """The sha of a commit's root tree (annotated tags are peeled)."""
        for _ in range(10):
            hexsha = commit
            _, raw_type, _, data = self._obj(hexsha)
            typename = _text(raw_type)
            if typename == "tag":
                commit = data.split(b"\n", 1)[0].split(b" ")[1].decode()
                continue
            if typename != "commit" or not data.startswith(b"tree "):
                raise CorruptSourceError(f"{hexsha} in {self.path} is a {typename}, not a commit")
            return bytes.fromhex(data[5:45].decode())
        raise CorruptSourceError(f"{commit} in {self.path}: too many nested tags")

    def _obj(self, hexsha: str) -> tuple[str, str | bytes, int, bytes]:
        cmd = self._git()
        with self._lock:
            try:
                return cmd.get_object_data(hexsha)
            except ValueError:
                raise CorruptSourceError(f"commit {hexsha} is missing from {self.path}") from None
            except (OSError, git.GitCommandError) as exc:
                cmd.clear_cache()
                raise CorruptSourceError(f"cannot read object {hexsha} from {self.path}: {exc}") from None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def reader_for(repo: git.Repo) -> ObjectReader:
    """The one ObjectReader of `repo` (created on first use, kept on the repository object)."""
    with _readers_lock:
        reader: ObjectReader | None = getattr(repo, "_reconciler_reader", None)
        if reader is None:
            reader = ObjectReader(repo)
            setattr(repo, "_reconciler_reader", reader)
        return reader


_readers_lock = threading.Lock()


@dataclass(frozen=True)
class Node:
    """Where a path leads: an object, or why it leads nowhere."""

    kind: Kind
    binsha: bytes = b""
    via_link: bool = False


def resolve(reader: ObjectReader, root: bytes, parts: Iterable[str]) -> Node:
    """Walk `parts` from the tree `root`, following symlinks like `os.path.realpath` (a `..`
    above the root, or an absolute target, leaves the tree)."""
    stack = list(reversed(list(parts)))
    chain: list[bytes] = []  # trees entered below root
    current, links, via = root, 0, False
    while stack:
        part = stack.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not chain:
                return Node("outside", via_link=via)
            chain.pop()
            current = chain[-1] if chain else root
            continue
        entry = reader.tree(current).get(part)
        if entry is None:
            return _lexically(stack, len(chain) + 1, "missing", via)
        binsha, mode = entry
        kind = mode & 0o170000
        if kind == LINK:
            links, via = links + 1, True
            if links > _MAX_LINKS:
                return Node("loop", via_link=True)
            target = (reader.read(binsha, "blob", 4096) or b"").decode("utf-8", "surrogateescape")
            if target.startswith("/"):
                return Node("outside", via_link=True)
            stack.extend(reversed(target.split("/")))
            continue
        if kind == TREE:
            chain.append(binsha)
            current = binsha
            continue
        if not stack:
            return Node("gitlink" if kind == GITLINK else "blob", binsha, via)
        return _lexically(stack, len(chain) + 1, "notdir", via)
    return Node("tree", current, via)


def _lexically(stack: list[str], depth: int, kind: Kind, via: bool) -> Node:
    """The rest of a path below something that is not a directory: only `..` still matters."""
    for part in reversed(stack):
        if part == "..":
            depth -= 1
            if depth < 0:
                return Node("outside", via_link=via)
        elif part not in ("", "."):
            depth += 1
    return Node(kind, via_link=via)


def _strerror(kind: Kind) -> str:
    return os.strerror(_ERRNO.get(kind, errno.EIO))


class GitTree:
    """A soa-configs commit (plus a deployments branch commit) as a `SoaSource`."""

    def __init__(self, repo: git.Repo, soa_commit: str, deployments_commit: str | None) -> None:
        self.soa_commit = soa_commit
        self.deployments_commit = deployments_commit
        #: services whose objects could not be read (a damaged mirror; in this process only)
        self.damaged: set[str] = set()
        self._reader = reader_for(repo)
        self._root = self._reader.root_tree(soa_commit)
        self._root_entries = self._reader.tree(self._root)  # read now: a missing tree fails here
        self._deploy_root = self._reader.root_tree(deployments_commit) if deployments_commit else None
        if self._deploy_root is not None:
            self._reader.tree(self._deploy_root)

    def services(self) -> tuple[list[str], list[Issue]]:
        """Service names in the commit, and a warning for every entry that was skipped."""
        names: list[str] = []
        skipped: list[Issue] = []
        for name in sorted(self._root_entries):
            if name.startswith("."):
                continue
            node = resolve(self._reader, self._root, [name])
            if node.kind not in ("tree", "outside"):
                if SERVICE_NAME.match(name):
                    why = " (a git submodule)" if node.kind == "gitlink" else ""
                    skipped.append(warning(name, f"skipped: not a directory{why}"))
                continue
            if not SERVICE_NAME.match(name):
                skipped.append(warning(name, "skipped: not a valid service name "
                                             "(lower-case letters, digits, '_' and '-')"))
                continue
            names.append(name)  # a link out of the tree is listed: read_service refuses it, visibly
        return names, skipped

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles:
        """The files of `service` that matter for `cluster` (or for every cluster)."""
        out = ServiceFiles(service)
        try:
            self._read_service(service, cluster, out)
        except CorruptSourceError as exc:  # reported on the service, like an unreadable directory
            out.unreadable["."] = f"cannot read: {exc}"
            self.damaged.add(service)
        return out

    def _read_service(self, service: str, cluster: str | None, out: ServiceFiles) -> None:
        base = resolve(self._reader, self._root, [service])
        if base.kind == "outside":
            out.unreadable["."] = _REFUSED
            return
        if base.kind == "gitlink":  # a submodule: an empty directory in a checkout
            return
        if base.kind != "tree":
            out.unreadable["."] = f"cannot list directory: {_strerror(base.kind)}"
            return
        entries = {n: e for n, e in self._reader.tree(base.binsha).items() if not n.startswith(".")}
        entries.pop(DEPLOYMENTS_FILE, None)  # only the deployments branch says what is deployed
        deployments = self._deployments(service)
        present = set(entries) | ({DEPLOYMENTS_FILE} if deployments is not None else set())
        if cluster is not None:
            top = [n for n in (*SERVICE_LEVEL_FILES, *instance_file_names(cluster)) if n in present]
        else:
            top = [n for n in present if n in SERVICE_LEVEL_FILES or INSTANCE_FILE.match(n)]
            out.ignored.extend(sorted(n for n in present if n not in top and n != AUTOTUNED_DIR))
        for name in sorted(top):
            node = deployments if name == DEPLOYMENTS_FILE else resolve(self._reader, self._root, [service, name])
            assert node is not None
            self._read(node, name, out)
        if AUTOTUNED_DIR in entries:
            self._read_autotuned(service, cluster, out)

    def _deployments(self, service: str) -> Node | None:
        """`<service>/deployments.json` in the deployments commit; None when there is none."""
        if self._deploy_root is None:
            return None
        directory = resolve(self._reader, self._deploy_root, [service])
        if directory.kind != "tree" or DEPLOYMENTS_FILE not in self._reader.tree(directory.binsha):
            return None
        return resolve(self._reader, self._deploy_root, [service, DEPLOYMENTS_FILE])

    def _read_autotuned(self, service: str, cluster: str | None, out: ServiceFiles) -> None:
        directory = resolve(self._reader, self._root, [service, AUTOTUNED_DIR])
        if directory.kind == "outside":
            out.unreadable[AUTOTUNED_DIR] = _REFUSED
            return
        listing: Mapping[str, Entry] = {}
        if directory.kind == "tree":
            listing = self._reader.tree(directory.binsha)
        elif directory.kind != "gitlink" and cluster is None:
            out.unreadable[AUTOTUNED_DIR] = f"cannot list directory: {_strerror(directory.kind)}"
            return
        names = [autotuned_file_name(cluster).split("/", 1)[1]] if cluster is not None else \
            [n for n in listing if INSTANCE_FILE.match(n)]
        for name in sorted(names):
            if name in listing:
                node = resolve(self._reader, self._root, [service, AUTOTUNED_DIR, name])
                self._read(node, f"{AUTOTUNED_DIR}/{name}", out)

    def _read(self, node: Node, rel: str, out: ServiceFiles) -> None:
        if node.kind == "outside":
            out.unreadable[rel] = _REFUSED
        elif node.kind in ("tree", "gitlink"):
            out.unreadable[rel] = "not a regular file"
        elif node.kind != "blob":
            out.unreadable[rel] = f"cannot read: {_strerror(node.kind)}"
        else:
            try:
                data = self._reader.read(node.binsha, "blob", MAX_FILE_BYTES)
            except CorruptSourceError as exc:
                out.unreadable[rel] = f"cannot read: {exc}"
                self.damaged.add(out.service)
                return
            if data is None:
                out.unreadable[rel] = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
            else:
                out.files[rel] = data
