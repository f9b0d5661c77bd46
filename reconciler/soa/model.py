"""Typed, immutable views of a validated soa-configs instance and of deployments.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

Number = int | float

DEFAULT_SETPOINT = 0.8
#: arbitrary-promql's default setpoint (PaaSTA's)
PROMQL_SETPOINT = 1.0


@dataclass(frozen=True, slots=True)
class PersistentVolume:
    container_path: str
    size_gib: int
    read_only: bool
    storage_class_name: str | None


@dataclass(frozen=True, slots=True)
class MetricsProvider:
    type: str
    setpoint: Number = DEFAULT_SETPOINT
    #: `bespoke` (on the first provider): something other than an HPA scales the instance
    decision_policy: str | None = None
    #: the window of the adapter's moving average (templated providers: uwsgi, gunicorn, ...)
    moving_average_window_seconds: int | None = None
    #: arbitrary-promql only: Value or AverageValue
    target_type: str = "AverageValue"


@dataclass(frozen=True, slots=True)
class Healthcheck:
    mode: str
    uri: str
    cmd: str | None
    grace_period_seconds: int
    interval_seconds: int
    timeout_seconds: int
    max_consecutive_failures: int


@dataclass(frozen=True, slots=True)
class NodeRequirement:
    key: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """One instance on one cluster, after the three-level merge and validation."""

    service: str
    instance: str
    cluster: str
    source: str
    deploy_group: str
    cpus: Number
    cpu_burst_add: Number
    mem: Number
    disk: Number
    instances: int
    min_instances: int
    max_instances: int | None
    cmd: str | tuple[str, ...] | None
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    bounce_method: str
    bounce_margin_factor: Number
    bounce_margin_factor_explicit: bool
    min_task_uptime: int
    container_port: int
    healthcheck: Healthcheck | None
    termination_grace_period_seconds: int | None
    persistent_volumes: tuple[PersistentVolume, ...]
    pod_management_policy: str
    metrics_providers: tuple[MetricsProvider, ...]
    scaledown_policies: tuple[tuple[str, Any], ...] = ()
    node_selectors: tuple[tuple[str, str], ...] = ()
    node_requirements: tuple[NodeRequirement, ...] = ()
    pool: str = "default"
    namespace: str | None = None
    docker_registry: str | None = None
    #: the keys of soa-configs.md section 3a (and `lifecycle`), validated, as written
    extended: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def autoscaled(self) -> bool:
        return self.max_instances is not None

    @property
    def stateful(self) -> bool:
        return bool(self.persistent_volumes)

    @property
    def has_hpa(self) -> bool:
        """Autoscaled by a HorizontalPodAutoscaler, as PaaSTA 1.64 decides it: not a StatefulSet,
        min and max instances above 0, and the first provider's decision policy not bespoke."""
        return (self.autoscaled and not self.stateful and self.min_instances > 0 and bool(self.max_instances)
                and not (self.metrics_providers and self.metrics_providers[0].decision_policy == "bespoke"))


@dataclass(frozen=True, slots=True)
class DeployedVersion:
    """What deployments.json says a deploy group runs."""

    deploy_group: str
    docker_image: str
    git_sha: str
    image_version: str | None = None


@dataclass(frozen=True, slots=True)
class Control:
    """A start/stop control for one instance; force_bounce restarts every pod when it changes."""

    desired_state: str = "start"
    force_bounce: str | None = None


@dataclass(frozen=True)
class Deployments:
    """A parsed deployments.json (v2). Broken entries are kept aside with the reason."""

    versions: Mapping[str, DeployedVersion] = field(default_factory=dict)
    controls: Mapping[str, Control] = field(default_factory=dict)
    invalid_groups: Mapping[str, str] = field(default_factory=dict)
    invalid_controls: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def control_key(service: str, cluster: str, instance: str) -> str:
        return f"{service}:{cluster}.{instance}"
