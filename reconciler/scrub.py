"""Credentials out of every text the process prints, logs, serves or sends (reconciler.md §6).

One function, `scrub`, for every output path: the log formatter, the CLI's standard streams,
the daemon's HTTP responses and metrics, notifications and source errors all pass through it.

- `scheme://user:secret@host` and `scheme://token@host` become `scheme://host`;
- credential parameters in query strings (`?access_token=...`, `&password=...`, signatures)
  keep their name and lose their value (`***`);
- `http.extraHeader` settings and `Authorization:` headers keep the header name only.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s\"'<>]+@")
_QUERY = re.compile(
    r"(?P<name>[?&;](?:access_token|token|private_token|auth_token|id_token|refresh_token|password|passwd|pwd|"
    r"secret|client_secret|api_key|apikey|key|sig|signature|x-amz-signature|x-amz-security-token|"
    r"x-amz-credential|auth|code)=)[^&#\s\"'<>]+", re.IGNORECASE)
_EXTRA_HEADER = re.compile(r"(?P<name>http\.(?:[^\s=]+\.)?extraheader\s*=\s*[\"']?)[^\"'\n]+", re.IGNORECASE)
_AUTHORIZATION = re.compile(r"(?P<name>\b(?:proxy-)?authorization[\"']?\s*:\s*[\"']?)[^\"'\n,}]+", re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` with every credential the patterns above know removed."""
    if "://" in text:
        text = _USERINFO.sub(r"\g<scheme>", text)
    if "=" in text:
        text = _QUERY.sub(r"\g<name>***", text)
        text = _EXTRA_HEADER.sub(r"\g<name>***", text)
    if ":" in text:
        text = _AUTHORIZATION.sub(r"\g<name>***", text)
    return text


def scrub_bytes(data: bytes) -> bytes:
    """`scrub` over UTF-8 bytes (undecodable bytes pass through unchanged)."""
    return scrub(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
