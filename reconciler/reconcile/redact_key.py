"""The per-installation key env values in reports are hashed under (reconciler.md section 5).

From the environment variable `redact_key_env` names, else a random key kept in
`<state_dir>/redact.key` (created once, mode 0600): the daemon and every CLI run that shares the
state_dir hash a value alike, so reports can be compared without showing the value.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from reconciler.config import Config

FILE = "redact.key"


def installation_key(config: Config) -> bytes:
    """The key (see the module docstring); an unwritable state_dir gives a key for this process
    only (values stay hidden, hashes are not comparable across processes)."""
    if config.redact_key_env and os.environ.get(config.redact_key_env):
        return os.environ[config.redact_key_env].encode()
    path = Path(config.state_dir) / FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    except OSError:
        return secrets.token_bytes(32)
    key = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes()
    except OSError:
        return key
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key
