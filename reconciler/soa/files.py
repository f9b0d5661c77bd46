"""The files of a soa-configs tree as plain bytes per service, and where they come from.

A source (`SoaSource`: a directory, `reconciler.sources.directory`, or a git commit,
`reconciler.sources.gittree`) supplies `ServiceFiles`; parsing and validation work on those
bytes, so the `soa` package itself reads nothing from disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.soa.issues import Issue, error

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


class SoaSource(Protocol):
    """Where service files come from: a directory (DirectoryTree) or a git commit (GitTree)."""

    def services(self) -> tuple[list[str], list[Issue]]: ...

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles: ...


def unreadable_issues(files: ServiceFiles) -> list[Issue]:
    return [error(f"{files.service}/{rel}", reason, service=files.service)
            for rel, reason in sorted(files.unreadable.items())]
