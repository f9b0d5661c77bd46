"""The JSON Schema of reconciler.yaml (reconciler.md section 1), and durations such as `15s`."""

from __future__ import annotations

import re
from typing import Any

from reconciler.config.model import FREEZE_ALLOWS

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_duration_schema = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                              {"type": "string", "pattern": _DURATION.pattern}]}
_env_name = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
_fraction = {"type": "number", "minimum": 0, "maximum": 1}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["clusters"],
    "properties": {
        "soa_configs": {
            "type": "object",
            "properties": {
                "repo": {"type": "string", "minLength": 1},
                "path": {"type": "string", "minLength": 1},
                "branch": {"type": "string", "minLength": 1},
                "deployments_branch": {"type": "string", "minLength": 1},
                "poll_interval": _duration_schema,
                "webhook_secret_env": _env_name,
            },
            "oneOf": [{"required": ["repo"]}, {"required": ["path"]}],
            "additionalProperties": False,
        },
        "service_repos": {
            "type": "object",
            "required": ["url_template"],
            "properties": {
                "url_template": {"type": "string", "pattern": r"\{service\}"},
                "generate_interval": _duration_schema,
                "parallelism": {"type": "integer", "minimum": 1, "maximum": 64},
            },
            "additionalProperties": False,
        },
        "clusters": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$", "maxLength": 63},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "kubeconfig": {"type": "string", "minLength": 1},
                    "context": {"type": "string", "minLength": 1},
                    "in_cluster": {"type": "boolean"},
                    "sim": {
                        "type": "object",
                        "required": ["state"],
                        "properties": {
                            "state": {"type": "string", "minLength": 1},
                            "pod_ready_seconds": {"type": "number", "minimum": 0},
                        },
                        "additionalProperties": False,
                    },
                    "docker_registry": {"type": "string", "minLength": 1},
                    "rollout": {
                        "type": "object",
                        "properties": {
                            "max_concurrent_bounces": {"type": "integer", "minimum": 1},
                            "max_unavailable_fraction": _fraction,
                            "bounces_per_minute": {"type": "integer", "minimum": 1},
                            "progress_deadline_seconds": {"type": "integer", "minimum": 1},
                        },
                        "additionalProperties": False,
                    },
                    "prune": {"type": "boolean"},
                    "max_prune_fraction": _fraction,
                    "prune_window": _duration_schema,
                    "heal_drift": {"type": "boolean"},
                    "show_env_values": {"type": "boolean"},
                    "allow_recreate": {"type": "boolean"},
                    "pdb_max_unavailable": {"anyOf": [{"type": "integer", "minimum": 0},
                                                      {"type": "string", "pattern": r"^\d{1,3}%$"}]},
                    "pool_node_label": {"type": "string", "minLength": 1},
                    "allowed_namespaces": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "allowed_service_accounts": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "location_label_prefix": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                    "ignore_differences": {
                        "type": "object",
                        "additionalProperties": {"type": "array",
                                                 "items": {"type": "string", "pattern": "^/"}},
                    },
                },
                "additionalProperties": False,
            },
        },
        "label_domain": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "lease_namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "state_dir": {"type": "string", "minLength": 1},
        "listen": {"type": "string", "pattern": r"^[^\s:]*:\d{1,5}$"},
        "auth": {
            "type": "object",
            "required": ["token_env"],
            "properties": {"token_env": _env_name},
            "additionalProperties": False,
        },
        "allow_unauthenticated": {"type": "boolean"},
        "redact_key_env": _env_name,
        "drift": {
            "type": "object",
            "properties": {"edit_managers": {"type": "array", "items": {"type": "string", "minLength": 1}}},
            "additionalProperties": False,
        },
        "max_body_bytes": {"type": "integer", "minimum": 1024, "maximum": 64 * 1024 * 1024},
        "client_timeout": _duration_schema,
        "notify": {
            "type": "object",
            "properties": {"url_env": _env_name},
            "additionalProperties": False,
        },
        "promotion": {"anyOf": [
            {"type": "boolean"},
            {"type": "object",
             "properties": {"enabled": {"type": "boolean"},
                            "lease_cluster": {"type": "string", "minLength": 1},
                            "interval": _duration_schema},
             "additionalProperties": False},
        ]},
        "time_zone": {"type": "string", "minLength": 1},
        "freezes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "schedule", "duration"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$",
                             "maxLength": 63},
                    "schedule": {"type": "string", "minLength": 9},
                    "duration": _duration_schema,
                    "clusters": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "services": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "allow": {"type": "array", "items": {"enum": list(FREEZE_ALLOWS)}},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def parse_duration(value: float | int | str) -> float:
    """Seconds from `15`, `15s`, `500ms`, `2m` or `1h`."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
