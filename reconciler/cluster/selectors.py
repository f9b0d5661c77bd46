"""Kubernetes label selectors in their string form (`a=b,c!=d,e,!f,g in (x,y)`), parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SET = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "exists", "!exists", "in", "notin"
    values: tuple[str, ...] = ()


def _split(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(selector: str | None) -> tuple[Requirement, ...]:
    """Parse a selector string; raises ValueError on syntax it does not know."""
    out = []
    for part in _split(selector or ""):
        match = _SET.match(part)
        if match:
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            out.append(Requirement(match.group(1), match.group(2), values))
        elif "!=" in part:
            key, _, value = part.partition("!=")
            out.append(Requirement(key.strip(), "!=", (value.strip(),)))
        elif "=" in part:
            key, _, value = part.partition("==" if "==" in part else "=")
            out.append(Requirement(key.strip(), "=", (value.strip(),)))
        elif part.startswith("!"):
            out.append(Requirement(part[1:].strip(), "!exists"))
        elif re.match(r"^[^\s()=!,]+$", part):
            out.append(Requirement(part, "exists"))
        else:
            raise ValueError(f"cannot parse label selector {selector!r} at {part!r}")
    return tuple(out)
