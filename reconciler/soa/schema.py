"""The closed JSON Schema of an instance's keys, and the keys PaaSTA knows beyond it."""

from __future__ import annotations

from typing import Any

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
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
        "max_instances": {"type": "integer", "minimum": 0},
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

_string = {"type": "string"}
_strings = {"type": "array", "items": {"type": "string"}}
_boolean = {"type": "boolean"}
_path = {"type": "string", "pattern": "^/"}
_file_mode = {"type": "string", "pattern": "^0[0-7]{1,4}$"}  # PaaSTA's mode_to_int: octal, a leading 0
_affinity_condition = {
    "type": "object",
    "properties": {"service": {"type": "string"}, "instance": {"type": "string"}},
    "additionalProperties": False,
}
_weighted_condition = {
    "type": "object",
    "required": ["weight"],
    "properties": {"service": {"type": "string"}, "instance": {"type": "string"},
                   "weight": {"type": "integer", "minimum": 1, "maximum": 100}},
    "additionalProperties": False,
}
_quantities = {
    "type": "object",
    "properties": {"cpu": {"type": "number", "minimum": 0}, "memory": _string, "ephemeral-storage": _string},
    "additionalProperties": False,
}

#: The keys of soa-configs.md section 3a: every further key PaaSTA 1.64 accepts for an instance.
EXTENDED_PROPERTIES: dict[str, Any] = {
    "gpus": {"type": "integer", "minimum": 0},
    "backoff_factor": {"type": "integer"},
    "max_launch_delay_seconds": {"type": "integer"},
    "registrations": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
    "bounce_priority": {"type": "integer"},
    "sfn_autoscaling": {"type": "object"},
    "service_account_name": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253},
    "drain_method": {"enum": ["noop", "hacheck", "http", "test"]},
    "drain_method_params": {"type": "object"},
    "constraints": {"type": "array", "items": {"type": "array"}},
    "extra_constraints": {"type": "array", "items": {"type": "array"}},
    "node_selectors_preferred": {"type": "array", "items": {
        "type": "object",
        "required": ["weight", "preferences"],
        "properties": {"weight": {"type": "integer", "minimum": 1, "maximum": 100},
                       "preferences": INSTANCE_SCHEMA["properties"]["node_selectors"]},
        "additionalProperties": False,
    }},
    "cap_add": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "boto_keys": _strings,
    "crypto_keys": {"type": "object", "properties": {
        "encrypt": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z0-9_.-]+$"}},
        "decrypt": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z0-9_.-]+$"}},
    }, "additionalProperties": False},
    "datastore_credentials": {"type": "object", "properties": {
        "mysql": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"}},
    }, "additionalProperties": False},
    "extra_volumes": {"type": "array", "items": {
        "type": "object",
        "required": ["hostPath", "containerPath"],
        "properties": {"hostPath": _path, "containerPath": _path, "mode": {"enum": ["RO", "RW"]}},
        "additionalProperties": False,
    }},
    "uses_bulkdata": _boolean,
    "monitoring": {"type": "object"},
    "monitoring_blacklist": {"type": "array"},
    "replication_threshold": {"type": "integer", "minimum": 0},
    "aws_ebs_volumes": {"type": "array", "items": {
        "type": "object",
        "required": ["volume_id", "container_path"],
        "properties": {"volume_id": {"type": "string", "minLength": 1}, "container_path": _path,
                       "mode": {"enum": ["RO", "RW"]}, "fs_type": _string,
                       "partition": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    }},
    "secret_volumes": {"type": "array", "items": {
        "type": "object",
        "required": ["container_path", "secret_name"],
        "properties": {
            "container_path": _path,
            "secret_name": {"type": "string", "minLength": 1},
            "default_mode": _file_mode,
            "items": {"type": "array", "maxItems": 1, "items": {
                "type": "object",
                "required": ["key", "path"],
                "properties": {"key": _string, "path": _string, "mode": _file_mode},
                "additionalProperties": False,
            }},
        },
        "additionalProperties": False,
    }},
    "projected_sa_volumes": {"type": "array", "items": {
        "type": "object",
        "required": ["container_path", "audience"],
        "properties": {"container_path": _path, "audience": {"type": "string", "minLength": 1},
                       "expiration_seconds": {"type": "integer", "minimum": 600}},
        "additionalProperties": False,
    }},
    "cfs_period_us": {"type": "integer", "minimum": 1000, "maximum": 1000000},
    "deploy_blacklist": {"type": "array", "items": {
        "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string"}}},
    "deploy_whitelist": {"type": "array", "minItems": 2, "maxItems": 2, "items": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "iam_role": {"type": "string", "pattern": r"^arn:aws:iam::[0-9]+:role/[a-zA-Z0-9+=,.@_-]+$"},
    "iam_role_provider": {"enum": ["aws"]},
    "fs_group": {"type": "integer", "minimum": 0},
    "fs_group_change_policy": {"enum": ["Always", "OnRootMismatch"]},
    "host_port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "dependencies_reference": _string,
    "extra_docker_args": {"type": "object", "additionalProperties": {"type": "string"}},
    "sidecar_resource_requirements": {"type": "object", "properties": {
        "hacheck": {"type": "object", "properties": {"requests": _quantities, "limits": _quantities},
                    "additionalProperties": False},
    }, "additionalProperties": False},
    "anti_affinity": {"anyOf": [_affinity_condition, {"type": "array", "items": _affinity_condition}]},
    "anti_affinity_preferred": {"anyOf": [_weighted_condition, {"type": "array", "items": _weighted_condition}]},
    "prometheus_shard": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
    "prometheus_path": _string,
    "prometheus_port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "routable_ip": _boolean,
    "enable_aws_lb_readiness_gate": _boolean,
    "is_istio_sidecar_injection_enabled": _boolean,
    "weight": {"type": "integer", "minimum": 1},
    "autotune_limits": {"type": "object"},
    "topology_spread_constraints": {"type": "array", "items": {
        "type": "object",
        "required": ["topology_key"],
        "properties": {"topology_key": {"type": "string", "pattern": LABEL_KEY},
                       "when_unsatisfiable": {"enum": ["ScheduleAnyway", "DoNotSchedule"]},
                       "max_skew": {"type": "integer", "minimum": 1},
                       "match_label_keys": {"type": "array", "items": {"type": "string", "pattern": LABEL_KEY}}},
        "additionalProperties": False,
    }},
}
INSTANCE_SCHEMA["properties"].update(EXTENDED_PROPERTIES)
INSTANCE_SCHEMA["properties"]["bounce_health_params"]["properties"].update(
    {"check_haproxy": _boolean, "haproxy_min_fraction_up": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}})
INSTANCE_SCHEMA["properties"]["lifecycle"]["properties"].update({
    "pre_stop_command": {"anyOf": [{"type": "string", "minLength": 1}, _strings]},
    "pre_stop_drain_seconds": {"type": "integer", "minimum": 0},
    "pre_stop_wait_for_connections_to_complete": _boolean,
})
INSTANCE_SCHEMA["properties"]["autoscaling"]["properties"]["metrics_providers"]["items"]["properties"].update({
    "decision_policy": _string,
    "desired_active_requests_per_replica": {"type": "number", "exclusiveMinimum": 0},
    "max_instances_alert_threshold": {"type": "number"},
    "forecast_policy": {"enum": ["moving_average", "current"]},
    "moving_average_window_seconds": {"type": "integer", "minimum": 60},
    "metrics_query": _string,
    "series_query": _string,
    "target_type": {"enum": ["Value", "AverageValue"]},
    "resources": {"type": "object", "properties": {"overrides": {"type": "object"}, "template": _string},
                  "additionalProperties": False},
})
INSTANCE_SCHEMA["dependencies"] = {"fs_group_change_policy": ["fs_group"]}

SUPPORTED_KEYS = frozenset(INSTANCE_SCHEMA["properties"])

_ON_MESOS = "a Mesos/Marathon setting; Kubernetes has no such thing"
_NOT_RENDERED = "renders nothing on Kubernetes (as in PaaSTA 1.64)"
#: Keys accepted with no effect on a cluster, and why; `validate` says so for each instance.
NO_EFFECT: dict[str, str] = {
    "host_port": _NOT_RENDERED,
    "cfs_period_us": _NOT_RENDERED,
    "extra_docker_args": _NOT_RENDERED,
    "backoff_factor": _ON_MESOS,
    "max_launch_delay_seconds": _ON_MESOS,
    "constraints": _ON_MESOS,
    "extra_constraints": _ON_MESOS,
    "monitoring_blacklist": _ON_MESOS,
    "dependencies_reference": "documentation for `paasta`'s dependency tooling, not rendered",
    "autotune_limits": "bounds for PaaSTA's autotuning, which the reconciler does not run",
    "sfn_autoscaling": "Yelp's signalfx autoscaling, not rendered",
    "drain_method": "needs the hacheck sidecar (hacheck_sidecar_image)",
    "drain_method_params": "needs the hacheck sidecar (hacheck_sidecar_image)",
    "sidecar_resource_requirements": "needs the hacheck sidecar (hacheck_sidecar_image)",
    "bounce_health_params.check_haproxy": "needs the hacheck sidecar (hacheck_sidecar_image)",
    "bounce_health_params.haproxy_min_fraction_up": "needs the hacheck sidecar (hacheck_sidecar_image)",
    "boto_keys": "needs the cluster's boto key Secrets (boto_keys_secret)",
    "crypto_keys": "needs the cluster's crypto key Secrets (crypto_keys_secret)",
    "datastore_credentials": "needs the cluster's datastore credential Secrets (datastore_credentials_secret)",
    "registrations": "registration labels need the cluster's mesh setting (mesh: services)",
    "weight": "used only in the mesh (a registration smartstack.yaml defines)",
    "monitoring": "monitoring checks are not run by this version",
    "replication_threshold": "monitoring checks are not run by this version",
    "bounce_priority": "bounces are ordered by their budget class only in this version",
}

#: Keys service.yaml may carry that describe the service, not an instance (ignored by rendering),
#: plus `docker_registry`, PaaSTA's per-service registry override.
SERVICE_LEVEL_KEYS = frozenset({"description", "external_link", "git_url", "cost_owner",
                                "needs_puppet_help", "docker_registry"})
