"""Env values in reports: shown as a keyed hash, never as written (reconciler.md section 5; pure).

A difference under a container's `env` (the whole entry, or its `value`) shows
`<redacted hmac:1a2b3c4d>` instead of the value: an HMAC-SHA256 under a per-installation key,
so two reports can tell whether a value changed without telling what it is. Without a key
(the cluster setting `show_env_values: true`) values are shown.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from typing import Any

from reconciler.engine.drift import Difference


def sensitive(path: str) -> bool:
    """A path inside an env list (`...containers[main].env[TOKEN].value`, `...env[TOKEN]`, `...env`)."""
    return ".env[" in path or path.endswith(".env")


def redact(value: Any, key: bytes) -> str:
    digest = hmac.new(key, json.dumps(value, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()
    return f"<redacted hmac:{digest[:8]}>"


def _hide(value: Any, key: bytes, whole: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_hide(v, key, False) for v in value]
    if isinstance(value, dict) and not whole:
        return {k: (redact(v, key) if k == "value" else v) for k, v in value.items()}
    return redact(value, key)


def redacted(diff: Difference, key: bytes | None) -> Difference:
    """`diff` with env values hidden under `key` (None: as it is)."""
    if key is None or not sensitive(diff.path):
        return diff
    whole = diff.path.endswith(".value")
    return dataclasses.replace(diff, desired=_hide(diff.desired, key, whole), live=_hide(diff.live, key, whole))
