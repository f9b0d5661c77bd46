"""The error a source raises when it cannot be read, and scrubbing credentials from text."""

from __future__ import annotations

import re

#: `scheme://user:password@host` and `scheme://token@host`: everything before the `@` goes.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


class SourceError(Exception):
    """A source could not be read. The message names the URL, branch or path (never
    credentials) and carries git's own error text."""


def scrub(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class CorruptSourceError(SourceError):
    """Objects a commit needs are missing or unreadable: the local mirror is damaged."""
