"""reconciler.yaml as typed, immutable settings, with every key's default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Mapping
from zoneinfo import ZoneInfo

from reconciler.render.settings import DEFAULT_LABEL_DOMAIN, RenderSettings


@dataclass(frozen=True)
class RolloutBudget:
    max_concurrent_bounces: int = 10
    max_unavailable_fraction: float = 0.1
    bounces_per_minute: int = 30
    progress_deadline_seconds: int = 600


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    sim_state: str | None = None
    sim_pod_ready_seconds: float = 1.0
    docker_registry: str | None = None
    rollout: RolloutBudget = field(default_factory=RolloutBudget)
    prune: bool = False
    max_prune_fraction: float = 0.5
    prune_window: float = 3600.0
    heal_drift: bool = True
    show_env_values: bool = False
    allow_recreate: bool = False
    pdb_max_unavailable: int | str = 1
    pool_node_label: str | None = None
    allowed_namespaces: tuple[str, ...] = ("paastasvc-*",)
    location_label_prefix: str = "yelp.com"
    allowed_service_accounts: tuple[str, ...] = ("*",)
    ignore_differences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def render_settings(self, label_domain: str) -> RenderSettings:
        return RenderSettings(
            cluster=self.name,
            docker_registry=self.docker_registry,
            label_domain=label_domain,
            pdb_max_unavailable=self.pdb_max_unavailable,
            pool_node_label=self.pool_node_label,
            allowed_namespaces=self.allowed_namespaces,
            location_label_prefix=self.location_label_prefix,
            allowed_service_accounts=self.allowed_service_accounts,
            progress_deadline_seconds=self.rollout.progress_deadline_seconds,
        )


@dataclass(frozen=True)
class SourceConfig:
    repo: str | None = None
    path: str | None = None
    branch: str = "main"
    deployments_branch: str = "deployments"
    poll_interval: float = 15.0
    webhook_secret_env: str | None = None


@dataclass(frozen=True)
class ServiceReposConfig:
    url_template: str
    generate_interval: float = 60.0
    parallelism: int = 8


#: What a freeze may let through (`allow`).
FREEZE_ALLOWS = ("create", "bounce", "scale", "stop", "delete", "promote")


@dataclass(frozen=True)
class FreezeWindow:
    """A recurring freeze (`freezes` in reconciler.yaml): open from each fire time of the cron
    `schedule` for `duration` seconds. `clusters` / `services` None: all of them."""

    name: str
    schedule: str
    duration: float
    clusters: frozenset[str] | None = None
    services: frozenset[str] | None = None
    allow: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PromotionConfig:
    """`promotion`: the daemon moves releases through deploy.yaml pipelines (platform.md section 4).
    `lease_cluster` None: the first configured cluster holds the promoter's lease."""

    enabled: bool = False
    lease_cluster: str | None = None
    interval: float = 5.0


@dataclass(frozen=True)
class Config:
    clusters: Mapping[str, ClusterConfig]
    soa_configs: SourceConfig | None = None
    service_repos: ServiceReposConfig | None = None
    label_domain: str = DEFAULT_LABEL_DOMAIN
    lease_namespace: str = "reconciler"
    state_dir: str = "~/.local/state/reconciler"
    listen: str = "127.0.0.1:8080"
    #: The environment variable holding the bearer token every endpoint but health, metrics and
    #: the webhook requires; None: no authentication (then only a loopback `listen` is allowed,
    #: unless `allow_unauthenticated`).
    auth_token_env: str | None = None
    allow_unauthenticated: bool = False
    max_body_bytes: int = 1024 * 1024
    #: Seconds a client may stay silent (slow headers or body) before it is disconnected.
    client_timeout: float = 30.0
    notify_url_env: str | None = None
    #: The environment variable holding the key env values in reports are hashed under (else a
    #: key kept in state_dir); and the managers whose live-only fields are hand edits.
    redact_key_env: str | None = None
    edit_managers: tuple[str, ...] = ("kubectl", "kubectl-*", "before-first-apply", "Mozilla")
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    #: Freeze windows (cron schedules evaluated in `time_zone`).
    freezes: tuple[FreezeWindow, ...] = ()
    time_zone: str = "UTC"
    path: str | None = None

    @property
    def zone(self) -> tzinfo:
        """`time_zone` (validated when the file was read)."""
        return ZoneInfo(self.time_zone)

    @property
    def promotion_lease_cluster(self) -> str:
        return self.promotion.lease_cluster or next(iter(self.clusters))

    def render_settings(self, cluster: str) -> RenderSettings:
        return self.clusters[cluster].render_settings(self.label_domain)
