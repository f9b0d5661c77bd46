"""Who is told when an instance is unwell, and when: monitoring.yaml merged under an instance's
`monitoring:` override, with `replication_threshold` (platform.md section 2). Pure data."""

from __future__ import annotations

from dataclasses import dataclass

#: monitoring.yaml's `alert_after` default (PaaSTA's): 10 minutes.
DEFAULT_ALERT_AFTER = 600.0
#: `replication_threshold`'s default, in percent of the desired replicas.
DEFAULT_REPLICATION_THRESHOLD = 50


@dataclass(frozen=True, slots=True)
class Monitoring:
    """The monitoring settings of one instance on one cluster, merged and typed.

    `alert_after` / `realert_every` in seconds (`realert_every` None: never re-alert, PaaSTA's
    -1). `page`: the alert pages (PaaSTA's default for a service with a team: false here unless
    set). `team` None: no monitoring.yaml and no override naming a team (the check still runs,
    its notifications take the default route).
    """

    team: str | None = None
    page: bool = False
    runbook: str | None = None
    tip: str | None = None
    ticket: bool = False
    project: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    notification_email: str | None = None
    slack_channels: tuple[str, ...] = ()
    alert_after: float = DEFAULT_ALERT_AFTER
    realert_every: float | None = None
    replication_threshold: int = DEFAULT_REPLICATION_THRESHOLD
