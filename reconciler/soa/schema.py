"""The closed JSON Schema of an instance's keys, and the keys PaaSTA knows beyond it."""

from __future__ import annotations

from typing import Any

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
ENV_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"

BOUNCE_METHODS = ("crossover", "brutal", "downthenup")
HEALTHCHECK_MODES = ("http", "https", "tcp", "cmd")
#: autoscaling providers rendered as Resource metrics on the HPA
RESOURCE_METRIC_PROVIDERS = ("cpu", "memory")
#: providers PaaSTA serves through a metrics adapter: reported, never silently dropped
ADAPTER_METRIC_PROVIDERS = ("uwsgi", "uwsgi-v2", "piscina", "gunicorn", "active-requests",
                            "arbitrary-promql", "worker-load")

_seconds = {"type": "integer", "minimum": 0, "maximum": 2_147_483_647}
_positive_seconds = {"type": "integer", "minimum": 1, "maximum": 2_147_483_647}

_node_requirement = {
    "type": "object",
    "required": ["operator"],
    "properties": {
        "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
        "value": {"type": ["string", "integer"]},
        "values": {"type": "array", "items": {"type": ["string", "integer"]}},
    },
    "additionalProperties": False,
}

_scaledown_policies = {
    "type": "object",
    "properties": {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value", "periodSeconds"],
                "properties": {
                    "type": {"enum": ["Pods", "Percent"]},
                    "value": {"type": "integer", "minimum": 1},
                    "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

INSTANCE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "cpus": {"type": "number", "exclusiveMinimum": 0},
        "cpu_burst_add": {"type": "number", "minimum": 0},
        "mem": {"type": "number", "minimum": 32},
        "disk": {"type": "number", "exclusiveMinimum": 0},
        "instances": {"type": "integer", "minimum": 0},
        "min_instances": {"type": "integer", "minimum": 0},
        "max_instances": {"type": "integer", "minimum": 1},
        "cmd": {"anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ]},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME},
            "additionalProperties": {"type": "string"},
        },
        "deploy_group": {"type": "string", "minLength": 1},
        "bounce_method": {"enum": list(BOUNCE_METHODS)},
        "bounce_margin_factor": {"type": "number", "minimum": 0, "maximum": 1},
        "bounce_health_params": {
            "type": "object",
            "properties": {"min_task_uptime": _seconds},
            "additionalProperties": False,
        },
        "container_port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "healthcheck_mode": {"enum": list(HEALTHCHECK_MODES)},
        "healthcheck_uri": {"type": "string", "minLength": 1},
        "healthcheck_cmd": {"type": "string", "minLength": 1},
        "healthcheck_grace_period_seconds": _seconds,
        "healthcheck_interval_seconds": _positive_seconds,
        "healthcheck_timeout_seconds": _positive_seconds,
        "healthcheck_max_consecutive_failures": {"type": "integer", "minimum": 1},
        "lifecycle": {
            "type": "object",
            "properties": {"termination_grace_period_seconds": _seconds},
            "additionalProperties": False,
        },
        "persistent_volumes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["container_path", "size"],
                "properties": {
                    "container_path": {"type": "string", "pattern": "^/."},
                    "size": {"type": "integer", "minimum": 1},
                    "mode": {"enum": ["RW", "RO"]},
                    "storage_class_name": {"type": "string", "pattern": DNS_LABEL},
                },
                "additionalProperties": False,
            },
        },
        "pod_management_policy": {"enum": ["OrderedReady", "Parallel"]},
        "autoscaling": {
            "type": "object",
            "properties": {
                "metrics_providers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"type": "string"},
                            "setpoint": {"type": "number", "exclusiveMinimum": 0},
                        },
                        "additionalProperties": False,
                    },
                },
                "scaledown_policies": _scaledown_policies,
            },
            "additionalProperties": False,
        },
        "node_selectors": {
            "type": "object",
            "propertyNames": {"pattern": LABEL_KEY, "maxLength": 317},
            "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
                {"type": "array", "minItems": 1, "items": {"type": "string"}},
                {"type": "array", "minItems": 1, "items": _node_requirement},
            ]},
        },
        "pool": {"type": "string", "pattern": LABEL_VALUE, "minLength": 1, "maxLength": 63},
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
    },
    "additionalProperties": False,
}

SUPPORTED_KEYS = frozenset(INSTANCE_SCHEMA["properties"])

#: Keys service.yaml may carry that describe the service, not an instance (ignored by rendering),
#: plus `docker_registry`, PaaSTA's per-service registry override.
SERVICE_LEVEL_KEYS = frozenset({"description", "external_link", "git_url", "cost_owner",
                                "needs_puppet_help", "docker_registry"})

#: Instance keys PaaSTA 1.64 accepts that the reconciler does not implement yet, per mapping.
PAASTA_ONLY_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({
        "anti_affinity", "anti_affinity_preferred", "autotune_limits", "aws_ebs_volumes",
        "backoff_factor", "boto_keys", "bounce_priority", "cap_add", "cfs_period_us",
        "constraints", "crypto_keys", "datastore_credentials", "dependencies_reference",
        "deploy_blacklist", "deploy_whitelist", "drain_method", "drain_method_params",
        "enable_aws_lb_readiness_gate", "extra_constraints", "extra_docker_args",
        "extra_volumes", "fs_group", "fs_group_change_policy", "gpus", "host_port", "iam_role",
        "iam_role_provider", "is_istio_sidecar_injection_enabled", "max_launch_delay_seconds",
        "monitoring", "monitoring_blacklist", "node_selectors_preferred", "projected_sa_volumes",
        "prometheus_path", "prometheus_port", "prometheus_shard", "registrations",
        "replication_threshold", "routable_ip", "secret_volumes", "service_account_name",
        "sfn_autoscaling", "sidecar_resource_requirements", "topology_spread_constraints",
        "uses_bulkdata", "weight",
    }),
    "bounce_health_params": frozenset({"check_haproxy", "haproxy_min_fraction_up"}),
    "lifecycle": frozenset({"pre_stop_command", "pre_stop_drain_seconds",
                            "pre_stop_wait_for_connections_to_complete"}),
    "autoscaling.metrics_providers[]": frozenset({
        "decision_policy", "desired_active_requests_per_replica", "max_instances_alert_threshold",
        "forecast_policy", "moving_average_window_seconds", "metrics_query", "series_query",
        "target_type", "resources",
    }),
}
