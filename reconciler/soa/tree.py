"""Reading a soa-configs tree from disk: the only I/O of the `soa` package.

The tree is read into plain bytes per service (`ServiceFiles`); parsing and validation
work on those bytes, so a git commit can supply the same shape without a checkout.
Nothing outside the tree is ever read: symlinks that leave it are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.soa.issues import Issue, error, warning

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
INSTANCE_FILE = re.compile(r"^(kubernetes|eks)-([A-Za-z0-9][A-Za-z0-9_.-]*)\.yaml$")
SERVICE_LEVEL_FILES = ("service.yaml", "deploy.yaml", "deployments.json")
AUTOTUNED_DIR = "autotuned_defaults"
#: Largest file read; soa-configs files are kilobytes, this only stops accidents.
MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServiceFiles:
    """The raw files of one service: name relative to the service directory -> bytes."""

    service: str
    files: dict[str, bytes] = field(default_factory=dict)
    #: files that exist but could not be read, with the reason (never treated as absent)
    unreadable: dict[str, str] = field(default_factory=dict)

    def clusters(self) -> list[str]:
        """Clusters this service has instance files for."""
        found = {m.group(2) for name in self.files if (m := INSTANCE_FILE.match(name))}
        found |= {m.group(2) for name in self.unreadable if (m := INSTANCE_FILE.match(name))}
        return sorted(found)


def instance_file_names(cluster: str) -> tuple[str, str]:
    return (f"kubernetes-{cluster}.yaml", f"eks-{cluster}.yaml")


def autotuned_file_name(cluster: str) -> str:
    return f"{AUTOTUNED_DIR}/kubernetes-{cluster}.yaml"


class DirectoryTree:
    """A soa-configs directory on disk."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._real_root = os.path.realpath(self.root)

    def services(self) -> tuple[list[str], list[Issue]]:
        """Service names in the tree, and a warning for every entry that was skipped."""
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
            if not entry.is_dir():
                if SERVICE_NAME.match(name):  # named like a service: probably meant to be one
                    skipped.append(warning(name, "skipped: not a directory"))
                continue  # README.md and the like are not services
            if not SERVICE_NAME.match(name):
                skipped.append(warning(name, "skipped: not a valid service name "
                                             "(lower-case letters, digits, '_' and '-')"))
                continue
            if not self._inside(entry.path):
                skipped.append(warning(name, "skipped: symlink that points outside the tree"))
                continue
            names.append(name)
        return names, skipped

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles:
        """The files of `service` that matter for `cluster` (or for every cluster)."""
        base = self.root / service
        out = ServiceFiles(service)
        try:
            names = [e.name for e in os.scandir(base) if not e.name.startswith(".")]
        except OSError as exc:
            out.unreadable["."] = f"cannot list directory: {exc.strerror}"
            return out
        wanted = set(SERVICE_LEVEL_FILES)
        if cluster is not None:
            wanted.update(instance_file_names(cluster))
            wanted.add(autotuned_file_name(cluster))
        else:
            wanted.update(n for n in names if INSTANCE_FILE.match(n))
            if AUTOTUNED_DIR in names:
                try:
                    wanted.update(f"{AUTOTUNED_DIR}/{n}" for n in os.listdir(base / AUTOTUNED_DIR)
                                  if INSTANCE_FILE.match(n))
                except OSError as exc:
                    out.unreadable[AUTOTUNED_DIR] = f"cannot list directory: {exc.strerror}"
        present = set(names)
        for rel in sorted(wanted):
            top = rel.split("/", 1)[0]
            if top not in present:
                continue
            self._read(base / rel, rel, out)
        return out

    def _read(self, path: Path, rel: str, out: ServiceFiles) -> None:
        if not os.path.lexists(path):
            return
        if not self._inside(path):
            out.unreadable[rel] = "refused: symlink that points outside the tree"
            return
        try:
            if not path.is_file():
                out.unreadable[rel] = "not a regular file"
                return
            if path.stat().st_size > MAX_FILE_BYTES:
                out.unreadable[rel] = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
                return
            out.files[rel] = path.read_bytes()
        except OSError as exc:
            out.unreadable[rel] = f"cannot read: {exc.strerror or exc}"

    def _inside(self, path: str | os.PathLike[str]) -> bool:
        real = os.path.realpath(path)
        return real == self._real_root or real.startswith(self._real_root + os.sep)


def unreadable_issues(files: ServiceFiles) -> list[Issue]:
    return [error(f"{files.service}/{rel}", reason, service=files.service)
            for rel, reason in sorted(files.unreadable.items())]
