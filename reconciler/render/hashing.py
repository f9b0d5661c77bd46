"""config_sha: a stable hash of an object as rendered (soa-configs.md §6)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any


def config_sha(obj: dict[str, Any], force_bounce: str | None) -> str:
    """`config` + 8 hex digits over the object without replicas and namespace, plus force_bounce.

    Canonical JSON (sorted keys, fixed separators, ASCII) makes it identical on every machine
    and Python version; floats are written by repr, which is exact and locale-free.
    """
    subject = copy.copy(obj)
    metadata = dict(subject.get("metadata") or {})
    metadata.pop("namespace", None)
    subject["metadata"] = metadata
    spec = subject.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        subject["spec"] = {k: v for k, v in spec.items() if k != "replicas"}
    payload = json.dumps([subject, force_bounce], sort_keys=True, separators=(",", ":"),
                         ensure_ascii=True, allow_nan=False)
    return "config" + hashlib.sha256(payload.encode("ascii")).hexdigest()[:8]
