"""The per-cluster settings that rendering depends on."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LABEL_DOMAIN = "paasta.yelp.com"


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """Cluster-wide inputs of rendering; a change here may touch every service."""

    cluster: str
    docker_registry: str | None = None
    label_domain: str = DEFAULT_LABEL_DOMAIN
    pdb_max_unavailable: int | str = 1
    pool_node_label: str | None = None
    #: the domain of the location node labels (`<prefix>/habitat`, ...), PaaSTA's `yelp.com`
    location_label_prefix: str = "yelp.com"
    progress_deadline_seconds: int = 600
    #: glob patterns an instance's namespace must match (None: no bound, `render` without a config)
    allowed_namespaces: tuple[str, ...] | None = None
    #: glob patterns an instance's `service_account_name` must match (None: no bound)
    allowed_service_accounts: tuple[str, ...] | None = None

    def label(self, name: str) -> str:
        return f"{self.label_domain}/{name}"
