"""The bookkeeping the reconciler keeps on its workloads: annotation names and how they read (pure).

All of them are `<label_domain>/<name>` annotations, written only inside an apply that changes the
object anyway (spec section 4), except `resumed-config-sha`, which a person's `reconciler resume`
writes under a field manager of its own:

- `bounce-started-at`: when the last bounce of the workload started (RFC 3339 UTC). Counts
  towards `bounces_per_minute`, and is where a StatefulSet's progress deadline runs from.
- `last-healthy`: the rendering that ran healthily before the current one (packed, see
  `engine.owned.pack`), kept for auto_rollback.
- `failed-config-sha`: written by a rollback: the config_sha whose rollout failed. While git
  still asks for it, the deploy group's train stays halted.
- `resumed-config-sha`: a person lifted the halt caused by that config_sha.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.engine.objects import section

BOUNCE_STARTED = "bounce-started-at"
LAST_HEALTHY = "last-healthy"
FAILED_CONFIG_SHA = "failed-config-sha"
#: Why the rollout of the failed config_sha failed, kept with the rollback (its pods are gone then).
FAILED_REASON = "failed-reason"
RESUMED_CONFIG_SHA = "resumed-config-sha"
#: The marks an apply by the reconciler's own field manager sets (resume's is not among them).
APPLIED_MARKS = (BOUNCE_STARTED, LAST_HEALTHY, FAILED_CONFIG_SHA, FAILED_REASON)
#: Field manager of `reconciler resume`: its annotation survives the reconciler's own applies.
RESUME_MANAGER = "reconciler-resume"


def key(label_domain: str, name: str) -> str:
    """The annotation (or label) key `<label_domain>/<name>`."""
    return f"{label_domain}/{name}"


def annotation(obj: Mapping[str, Any], label_domain: str, name: str) -> str | None:
    """The object's `<label_domain>/<name>` annotation, or None."""
    value = section(obj, "annotations").get(key(label_domain, name))
    return value if isinstance(value, str) and value else None


def label(obj: Mapping[str, Any], label_domain: str, name: str) -> str | None:
    """The object's `<label_domain>/<name>` label, or None."""
    value = section(obj, "labels").get(key(label_domain, name))
    return value if isinstance(value, str) and value else None


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC with a Z, to the millisecond (a resume and the retry it allows
    may fall within one second)."""
    moment = utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
