"""Problems found in soa-configs, each naming where it was found."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: the file, service, instance and key it concerns, and what is wrong.

    An error makes the instance it names invalid (or, without an instance, every
    instance that depends on the file); a warning never stops rendering; an info only says
    what was left unread.
    """

    severity: Severity
    file: str
    message: str
    service: str | None = None
    instance: str | None = None
    cluster: str | None = None
    key: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def where(self) -> str:
        """`service.instance` (or the service alone) this issue is about."""
        if self.service and self.instance:
            return f"{self.service}.{self.instance}"
        return self.service or ""

    def __str__(self) -> str:
        parts = [f"{self.file}:"]
        if self.where():
            parts.append(f"{self.where()}:")
        if self.key:
            parts.append(f"{self.key}:")
        parts.append(self.message)
        return " ".join(parts)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "severity": self.severity.value,
            "file": self.file,
            "service": self.service,
            "instance": self.instance,
            "cluster": self.cluster,
            "key": self.key,
            "message": self.message,
        }


def error(file: str, message: str, **where: str | None) -> Issue:
    return Issue(Severity.ERROR, file, message, **where)


def warning(file: str, message: str, **where: str | None) -> Issue:
    return Issue(Severity.WARNING, file, message, **where)


def info(file: str, message: str, **where: str | None) -> Issue:
    return Issue(Severity.INFO, file, message, **where)
