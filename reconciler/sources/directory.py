"""A soa-configs directory on disk, read as a `SoaSource` (path mode, and `--soa-dir`).

Nothing outside the tree is ever read: symlinks that leave it are refused; FIFOs, devices and
files over MAX_FILE_BYTES are reported unreadable, never opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

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


class DirectoryTree:
    """A soa-configs directory on disk."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._real_root = os.path.realpath(self.root)

    def services(self) -> tuple[list[str], list[Issue]]:
        """Service names in the tree, and a warning for every entry that was skipped. A service
        directory that links out of the tree is listed: reading it is refused, an error for the
        service (what runs for it is protected), never a silent skip."""
        skipped: list[Issue] = []
        names: list[str] = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            raise FileNotFoundError(f"cannot read soa-configs directory {self.root}: {exc.strerror}") from None
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # .git and friends: silently not services
            try:
                is_dir = entry.is_dir()
            except OSError:  # a symlink loop, say: not a directory we can read
                is_dir = False
            if not is_dir:
                if SERVICE_NAME.match(name):  # named like a service: probably meant to be one
                    skipped.append(warning(name, "skipped: not a directory"))
                continue  # README.md and the like are not services
            if not SERVICE_NAME.match(name):
                skipped.append(warning(name, "skipped: not a valid service name "
                                             "(lower-case letters, digits, '_' and '-')"))
                continue
            names.append(name)  # a link out of the tree is listed: read_service refuses it, visibly
        return names, skipped

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles:
        """The files of `service` that matter for `cluster` (or for every cluster)."""
        base = self.root / service
        out = ServiceFiles(service)
        if base.is_symlink() and not self._inside(base):
            out.unreadable["."] = "refused: symlink that points outside the tree"
            return out
        try:
            entries = {e.name: e for e in os.scandir(base) if not e.name.startswith(".")}
        except OSError as exc:
            out.unreadable["."] = f"cannot list directory: {exc.strerror}"
            return out
        if cluster is not None:
            top = [n for n in (*SERVICE_LEVEL_FILES, *instance_file_names(cluster)) if n in entries]
        else:
            top = [n for n in entries if n in SERVICE_LEVEL_FILES or INSTANCE_FILE.match(n)]
            out.ignored.extend(sorted(n for n in entries if n not in top and n != AUTOTUNED_DIR))
        for name in sorted(top):
            entry = entries[name]
            self._read(entry.path, name, out, entry.is_symlink())
        auto = entries.get(AUTOTUNED_DIR)
        if auto is not None:
            self._read_autotuned(Path(auto.path), auto.is_symlink(), cluster, out)
        return out

    def _read_autotuned(self, directory: Path, via_link: bool, cluster: str | None,
                        out: ServiceFiles) -> None:
        if via_link and not self._inside(directory):
            out.unreadable[AUTOTUNED_DIR] = "refused: symlink that points outside the tree"
            return
        try:
            names = [autotuned_file_name(cluster).split("/", 1)[1]] if cluster is not None else \
                [n for n in os.listdir(directory) if INSTANCE_FILE.match(n)]
        except OSError as exc:
            out.unreadable[AUTOTUNED_DIR] = f"cannot list directory: {exc.strerror}"
            return
        for name in sorted(names):
            path = directory / name
            if os.path.lexists(path):
                self._read(path, f"{AUTOTUNED_DIR}/{name}", out, via_link or path.is_symlink())

    def _read(self, path: str | Path, rel: str, out: ServiceFiles, via_link: bool) -> None:
        """Read one file; `via_link` when a symlink is on the way (only then is it resolved)."""
        if via_link and not self._inside(path):
            out.unreadable[rel] = "refused: symlink that points outside the tree"
            return
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):  # never open a FIFO or a device
                out.unreadable[rel] = "not a regular file"
                return
            if info.st_size > MAX_FILE_BYTES:
                out.unreadable[rel] = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
                return
            with open(path, "rb") as handle:
                out.files[rel] = handle.read()
        except OSError as exc:
            out.unreadable[rel] = f"cannot read: {exc.strerror or exc}"

    def _inside(self, path: str | os.PathLike[str]) -> bool:
        real = os.path.realpath(path)
        return real == self._real_root or real.startswith(self._real_root + os.sep)
