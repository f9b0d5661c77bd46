"""The three-level merge of soa-configs: nested mappings merge key by key, all else is replaced."""

from __future__ import annotations

from typing import Any, Mapping


def deep_merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `overrides` over `defaults`; neither input is modified."""
    out = dict(defaults)
    for key, value in overrides.items():
        base = out.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping):
            out[key] = deep_merge(base, value)
        else:
            out[key] = value
    return out
