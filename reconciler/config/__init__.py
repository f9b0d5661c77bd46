"""reconciler.yaml (reconciler.md section 1): its schema, loading with clear errors, typed settings."""

from reconciler.config.load import ConfigError, load_config, parse_config
from reconciler.config.model import ClusterConfig, Config, RolloutBudget, ServiceReposConfig, SourceConfig
from reconciler.config.schema import parse_duration

__all__ = ["ClusterConfig", "Config", "ConfigError", "RolloutBudget", "ServiceReposConfig", "SourceConfig",
           "load_config", "parse_config", "parse_duration"]
