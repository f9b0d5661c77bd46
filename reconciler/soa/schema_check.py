"""A fast yes/no check of an instance against INSTANCE_SCHEMA (fastjsonschema, compiled once).

jsonschema explains what is wrong but costs ~70 us per instance and ~70 ms to import;
fastjsonschema compiles the schema to Python code that answers "valid?" in ~4 us. The
compiled code object is cached under the user's cache directory, keyed by the schema, the
library and the Python version, so a run does not pay ~40 ms to generate it again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType
from typing import Any, Callable

import fastjsonschema

from reconciler.soa.schema import INSTANCE_SCHEMA


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reconciler"


def _compiled(schema: dict[str, Any], name: str = "instance schema") -> CodeType:
    key = hashlib.sha256(json.dumps([schema, fastjsonschema.VERSION, sys.version],
                                    sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"schema-{key}.marshal"
    try:
        code: CodeType = marshal.loads(path.read_bytes())
        return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(fastjsonschema.compile_to_code(schema), f"<{name}>", "exec")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(marshal.dumps(code))
        os.replace(tmp.name, path)
    except OSError:
        pass  # a read-only home still works, only slower
    return code


def compiled_validator(schema: dict[str, Any], name: str) -> Callable[[Any], Any]:
    """A function raising fastjsonschema.JsonSchemaException for documents `schema` refuses."""
    namespace: dict[str, Any] = {}
    exec(_compiled(schema, name), namespace)  # noqa: S102 - code generated from our own schema
    validate: Callable[[Any], Any] = namespace["validate"]
    return validate


@functools.cache
def _validator() -> Callable[[Any], Any]:
    return compiled_validator(INSTANCE_SCHEMA, "instance schema")


def is_valid(config: Any) -> bool:
    try:
        _validator()(config)
    except fastjsonschema.JsonSchemaException:
        return False
    return True
