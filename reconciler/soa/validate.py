"""Validation of one instance's effective config: the JSON Schema plus the semantic rules.

Every finding names the file the offending key came from, the service, the instance and the key.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.soa.issues import Issue, error, warning
from reconciler.soa.schema_check import is_valid
from reconciler.soa.schema import (
    ADAPTER_METRIC_PROVIDERS,
    INSTANCE_SCHEMA,
    NO_EFFECT,
    RESOURCE_METRIC_PROVIDERS,
)

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

#: Which file set each top-level key: the highest-priority layer that has it.
Origins = Mapping[str, str]


class InstanceContext:
    """Who an instance is, so that each finding can say where it was found."""

    def __init__(self, service: str, instance: str, cluster: str, origins: Origins, default_file: str):
        self.service, self.instance, self.cluster = service, instance, cluster
        self.origins, self.default_file = origins, default_file

    def file_of(self, key: str | None) -> str:
        top = (key or "").split(".", 1)[0].split("[", 1)[0]
        return self.origins.get(top, self.default_file)

    def error(self, message: str, key: str | None = None) -> Issue:
        return error(self.file_of(key), message, service=self.service, instance=self.instance,
                     cluster=self.cluster, key=key)

    def warning(self, message: str, key: str | None = None) -> Issue:
        return warning(self.file_of(key), message, service=self.service, instance=self.instance,
                       cluster=self.cluster, key=key)


def validate_instance(config: Mapping[str, Any], ctx: InstanceContext) -> list[Issue]:
    """All findings for one merged instance config (errors and warnings)."""
    issues = list(_plain_data_issues(config, ctx, ""))
    if issues:  # the schema cannot say anything useful about non-data (NaN, non-string keys)
        return issues
    issues.extend(_schema_issues(config, ctx))
    if any(i.is_error for i in issues):
        return issues
    issues.extend(_semantic_issues(config, ctx))
    return issues


def _plain_data_issues(node: Any, ctx: InstanceContext, path: str) -> Iterator[Issue]:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                hint = _yaml_hint(key)
                yield ctx.error(f"key {key!r} is not a string{hint}", path or None)
                continue
            yield from _plain_data_issues(value, ctx, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _plain_data_issues(value, ctx, f"{path}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        yield ctx.error(f"must be a finite number (got {node})", path)


def _yaml_hint(value: Any) -> str:
    if isinstance(value, bool):
        return " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote it)"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return " (YAML reads unquoted dates as dates: quote it)"
    if value is None:
        return " (YAML reads an empty value or ~ as null)"
    if isinstance(value, (int, float)):
        return " (quote it to make it a string)"
    return ""


@functools.cache
def _explainer() -> Any:
    """jsonschema's validator, imported only when an instance is invalid (it says why)."""
    from jsonschema import Draft7Validator

    return Draft7Validator(INSTANCE_SCHEMA)


def path_of(err: ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_issues(config: Mapping[str, Any], ctx: InstanceContext) -> Iterator[Issue]:
    if is_valid(config):
        return
    for err in sorted(_explainer().iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        path = path_of(err)
        if err.validator == "additionalProperties":
            yield from _unknown_key_issues(err, path, ctx)
        else:
            yield ctx.error(describe_error(err), path or None)


def _unknown_key_issues(err: ValidationError, path: str, ctx: InstanceContext) -> Iterator[Issue]:
    known = set(err.schema.get("properties", {}))
    for key in err.instance:
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield ctx.error(f"unknown key{hint}", f"{path}.{key}" if path else key)


_TYPE_NAMES = {"number": "a number", "integer": "a whole number", "string": "a string",
               "array": "a list", "object": "a mapping", "boolean": "true or false"}


def describe_error(err: ValidationError) -> str:
    value = err.instance
    got = f"got {value!r}"
    kind = err.validator
    if kind == "type":
        wanted = err.validator_value
        names = [_TYPE_NAMES.get(t, t) for t in ([wanted] if isinstance(wanted, str) else wanted)]
        return f"must be {' or '.join(names)} ({got}){_yaml_hint(value)}"
    if kind == "minimum":
        return f"must be at least {err.validator_value} ({got})"
    if kind == "exclusiveMinimum":
        return f"must be greater than {err.validator_value} ({got})"
    if kind == "maximum":
        return f"must be at most {err.validator_value} ({got})"
    if kind == "enum":
        options = ", ".join(map(str, err.validator_value))
        close = difflib.get_close_matches(str(value), [str(o) for o in err.validator_value], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"must be one of {options} ({got}{hint})"
    if kind == "required":
        missing = [k for k in err.validator_value if k not in value]
        return f"missing required key {', '.join(map(repr, missing))}"
    if kind in ("minLength", "minItems"):
        return f"must not be empty ({got})"
    if kind == "maxLength":
        return f"is longer than {err.validator_value} characters ({got})"
    if kind == "pattern" and "propertyNames" in err.schema_path:
        return f"name {value!r} is not allowed: must match {err.validator_value}"
    if kind == "pattern":
        return f"is not valid here: must match {err.validator_value} ({got})"
    if kind == "propertyNames":
        return f"name {value!r} is not allowed here: {err.message}"
    if kind == "anyOf" and isinstance(value, (str, list)):
        return f"must be a non-empty string or a non-empty list of strings ({got})"
    if kind == "anyOf":
        return f"has an unsupported shape ({got})"
    return str(err.message)


#: NO_EFFECT by top-level key: (key, sub-key or "", why)
_NO_EFFECT_TOPS: dict[str, list[tuple[str, str, str]]] = {}
for _key, _why in NO_EFFECT.items():
    _top, _, _sub = _key.partition(".")
    _NO_EFFECT_TOPS.setdefault(_top, []).append((_key, _sub, _why))


def _extended_issues(config: Mapping[str, Any], ctx: InstanceContext) -> Iterator[Issue]:
    """What PaaSTA refuses in the keys of soa-configs.md section 3a, beyond their types."""
    if config.get("aws_ebs_volumes"):
        if config.get("bounce_method", "crossover") != "downthenup":
            yield ctx.error("an instance with aws_ebs_volumes must use bounce_method downthenup "
                            "(the volume attaches to one node at a time)", "bounce_method")
        if "max_instances" not in config and config.get("instances", 1) not in (0, 1):
            yield ctx.error(f"instances must be 1 or 0 with aws_ebs_volumes (got {config['instances']})",
                            "instances")
    registrations = config.get("registrations") or []
    if registrations and len(registrations[0].split(".")) not in (2, 4):
        yield ctx.error(f"registration {registrations[0]!r} is not <service>.<namespace>", "registrations[0]")


def _semantic_issues(config: Mapping[str, Any], ctx: InstanceContext) -> Iterator[Issue]:
    if not config:
        yield ctx.warning("empty instance: every key takes its default "
                          "(PaaSTA's own validator requires at least one key)")
    for top in sorted(_NO_EFFECT_TOPS.keys() & config.keys()):
        for key, sub, why in _NO_EFFECT_TOPS[top]:
            if not sub or sub in (config[top] or {}):
                yield ctx.warning(f"has no effect on cluster {ctx.cluster}: {why}", key)
    yield from _extended_issues(config, ctx)
    if "cmd" in config and "args" in config:
        yield ctx.error("cmd and args cannot both be set: put the arguments in cmd, "
                        "or use args alone with the image's entrypoint", "args")
    if config.get("healthcheck_mode") == "cmd" and "healthcheck_cmd" not in config:
        yield ctx.error("healthcheck_mode is cmd but healthcheck_cmd is not set", "healthcheck_cmd")
    max_instances = config.get("max_instances")
    min_instances = config.get("min_instances", 1)
    if max_instances is not None:
        if config.get("persistent_volumes"):
            yield ctx.warning("a StatefulSet is not autoscaled (as in PaaSTA): it runs min_instances "
                              f"({min_instances}) and gets no HorizontalPodAutoscaler", "max_instances")
        if min_instances < 1 or max_instances < 1:
            yield ctx.warning("no HorizontalPodAutoscaler with min_instances or max_instances 0 (as in PaaSTA)",
                              "min_instances" if min_instances < 1 else "max_instances")
        elif min_instances > max_instances:
            yield ctx.error(f"min_instances ({min_instances}) is greater than max_instances "
                            f"({max_instances})", "min_instances")
    else:
        if "autoscaling" in config:
            yield ctx.warning("ignored: autoscaling applies only when max_instances is set", "autoscaling")
        if "min_instances" in config:
            yield ctx.warning("ignored: min_instances applies only when max_instances is set",
                              "min_instances")
    providers = (config.get("autoscaling") or {}).get("metrics_providers") or []
    for i, provider in enumerate(providers):
        kind = provider["type"]
        key = f"autoscaling.metrics_providers[{i}].type"
        if kind in ADAPTER_METRIC_PROVIDERS:
            yield ctx.warning(f"metrics provider {kind!r}: the HPA reads its metric through a Prometheus "
                              "adapter, which the reconciler does not configure (PaaSTA's "
                              "setup_prometheus_adapter_config does); without one the HPA does not scale", key)
        elif kind not in RESOURCE_METRIC_PROVIDERS:
            known = RESOURCE_METRIC_PROVIDERS + ADAPTER_METRIC_PROVIDERS
            close = difflib.get_close_matches(kind, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield ctx.error(f"unknown metrics provider {kind!r}{hint}", key)
    seen_paths: set[str] = set()
    for i, volume in enumerate(config.get("persistent_volumes") or []):
        path = volume["container_path"].rstrip("/")
        if path in seen_paths:
            yield ctx.error(f"container_path {path!r} is used by two volumes",
                            f"persistent_volumes[{i}].container_path")
        seen_paths.add(path)
