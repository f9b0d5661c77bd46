"""The files of a soa-configs tree as plain bytes per service, and where they come from.

A source (`SoaSource`: a directory, `reconciler.sources.directory`, or a git commit,
`reconciler.sources.gittree`) supplies `ServiceFiles`; parsing and validation work on those
bytes, so the `soa` package itself reads nothing from disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.soa.issues import Issue, error, info

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
    #: entries of the service directory the reconciler does not read (listed for every cluster only)
    ignored: list[str] = field(default_factory=list)

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


#: What the files PaaSTA knows and the reconciler does not read are for.
_IGNORED_KINDS = (
    (re.compile(r"^adhoc-.+\.yaml$"), "adhoc instances (`paasta local-run`), never deployed"),
    (re.compile(r"^marathon-.+\.yaml$"), "Marathon instances (PaaSTA's retired scheduler)"),
    (re.compile(r"^tron-.+\.yaml$"), "Tron batches, not run by this version"),
    (re.compile(r"^(smartstack|monitoring)\.yaml$"), "traffic and monitoring, not read by this version"),
    (re.compile(r"^(crd|cassandracluster|flink|flinkeks|kafkacluster|nrtsearchservice|nrtsearchserviceeks|vitesscluster"
                r"|monkrelays|paasta_native|adhoc)-.+\.yaml$"), "a PaaSTA workload kind the reconciler does not run"),
    (re.compile(r"^secrets$"), "PaaSTA's encrypted secrets; the Secrets they become are not made by the reconciler"),
)


def ignored_issues(files: ServiceFiles) -> list[Issue]:
    """One info per entry of the service directory that nothing reads, saying what it is for."""
    out = []
    for name in files.ignored:
        why = next((what for pattern, what in _IGNORED_KINDS if pattern.match(name)), "not a soa-configs file")
        out.append(info(f"{files.service}/{name}", f"not read by the reconciler: {why}", service=files.service))
    return out
