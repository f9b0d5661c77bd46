"""The few failures a caller of the cluster protocol can act on."""

from __future__ import annotations


class ClusterError(Exception):
    """A request failed; `status` is the HTTP status when there was one."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.reason = reason


class NotFound(ClusterError):
    status = 404


class Conflict(ClusterError):
    """409: a precondition (resourceVersion, uid) no longer holds, or an apply conflict. Re-read."""

    status = 409


class Forbidden(ClusterError):
    status = 403


class Invalid(ClusterError):
    """422 (or 400): the server refused the object itself; retrying the same write cannot help."""

    status = 422


class Unavailable(ClusterError):
    """429, 5xx, timeouts, connection errors: worth retrying after a backoff."""

    status = 503


class Timeout(Unavailable):
    status = 504


def from_status(status: int, message: str, reason: str | None = None) -> ClusterError:
    """The exception for an HTTP status code."""
    if status == 404:
        return NotFound(message, status=status, reason=reason)
    if status == 409:
        return Conflict(message, status=status, reason=reason)
    if status in (401, 403):
        return Forbidden(message, status=status, reason=reason)
    if status in (400, 422):
        return Invalid(message, status=status, reason=reason)
    if status in (408, 504):
        return Timeout(message, status=status, reason=reason)
    if status == 429 or status >= 500:
        return Unavailable(message, status=status, reason=reason)
    return ClusterError(message, status=status, reason=reason)
