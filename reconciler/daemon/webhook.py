"""The git webhook's signature: HMAC-SHA256 of the body, in GitHub's `X-Hub-Signature-256` form."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"


def signature(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for `body`: `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes | None, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant-time compare).
    Without a secret configured every request is refused."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())
