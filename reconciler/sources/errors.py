"""The errors a source raises when it cannot be read."""

from __future__ import annotations


class SourceError(Exception):
    """A source could not be read. The message names the URL, branch or path (never
    credentials) and carries git's own error text."""


class CorruptSourceError(SourceError):
    """Objects a commit needs are missing or unreadable: the local mirror is damaged."""
