"""Structured logs: one line per decision, JSON when stderr is not a terminal, never a secret
(every line goes through `reconciler.scrub`).

`log(event, **fields)` writes `{"ts", "level", "event", ...fields}`; on a terminal the same
as `ts level event key=value ...`. Values are rendered with `repr`-free JSON, so a log line can
always be parsed back.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from reconciler.scrub import scrub

LOGGER = logging.getLogger("reconciler")


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}) or {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        if record.exc_info and record.exc_info[1] is not None:
            fields["exception"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if self.as_json:
            return scrub(json.dumps({"ts": stamp, "level": record.levelname.lower(), "event": record.getMessage(),
                                     **fields}, default=str, sort_keys=False))
        text = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        return scrub(f"{stamp} {record.levelname.lower():5} {record.getMessage()} {text}".rstrip())


def setup(stream: TextIO | None = None, *, level: int = logging.INFO, as_json: bool | None = None) -> None:
    """Send the reconciler's logs to `stream` (stderr), as JSON unless it is a terminal."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(as_json if as_json is not None else not stream.isatty()))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    # the scheduler's own messages (a job skipped because its previous run is still going, ...)
    # are routine here: only its errors are shown, in the same format
    scheduler = logging.getLogger("apscheduler")
    scheduler.handlers[:] = [handler]
    scheduler.setLevel(logging.ERROR)
    scheduler.propagate = False


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: `event` and its fields."""
    LOGGER.log(level, event, extra={"fields": fields})


def warn(event: str, **fields: Any) -> None:
    log(event, logging.WARNING, **fields)


def error(event: str, **fields: Any) -> None:
    log(event, logging.ERROR, **fields)
