"""The validation the API server does that the reconciler can run into (pure): names, labels,
selectors against template labels, strategies, immutable fields. Messages follow the server's."""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.cluster.errors import Invalid
from reconciler.cluster.sim import quantity
from reconciler.kinds import kind_of

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
             "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
             "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
IMMUTABLE = "field is immutable"


def show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self.items.append(f"{field}: Invalid value: {show(value)}: {detail}")

    def required(self, field: str, detail: str = "") -> None:
        self.items.append(f"{field}: Required value" + (f": {detail}" if detail else ""))

    def forbidden(self, field: str, detail: str) -> None:
        self.items.append(f"{field}: Forbidden: {detail}")

    def unsupported(self, field: str, value: Any, supported: list[str]) -> None:
        allowed = ", ".join(show(s) for s in supported)
        self.items.append(f"{field}: Unsupported value: {show(value)}: supported values: {allowed}")

    def raise_for(self, obj: Obj) -> None:
        if not self.items:
            return
        kind = kind_of(obj["kind"])
        qualified = kind.kind + (f".{kind.group}" if kind.group else "")
        text = self.items[0] if len(self.items) == 1 else "[" + ", ".join(self.items) + "]"
        raise Invalid(f'{qualified} "{obj["metadata"].get("name", "")}" is invalid: {text}', reason="Invalid")


def check_name(name: Any, dns_label: bool, errors: Errors, field: str = "metadata.name") -> None:
    if not name:
        errors.required(field, "name or generateName is required")
        return
    if dns_label:
        if len(name) > 63:
            errors.invalid(field, name, "must be no more than 63 characters")
        if not _LABEL.match(name):
            errors.invalid(field, name, LABEL_MSG)
    else:
        if len(name) > 253:
            errors.invalid(field, name, "must be no more than 253 characters")
        if not _SUBDOMAIN.match(name):
            errors.invalid(field, name, SUBDOMAIN_MSG)


def check_labels(labels: Any, field: str, errors: Errors) -> None:
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix))) or not name or len(name) > 63 \
                or not _QUALIFIED.match(name):
            errors.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', "
                                       "and must start and end with an alphanumeric character")
        if not isinstance(value, str) or len(value) > 63:
            errors.invalid(f"{field}", value, "must be no more than 63 characters")
        elif not _LABEL_VALUE.match(value):
            errors.invalid(f"{field}", value, VALUE_MSG)


def _selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _pod_template(spec: Obj, errors: Errors, restart_always: bool = True) -> None:
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    check_labels(labels, "spec.template.metadata.labels", errors)
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.required("spec.selector")
    elif not _selector_matches(selector, labels):
        errors.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    pod = template.get("spec") or {}
    containers = pod.get("containers") or []
    if not containers:
        errors.required("spec.template.spec.containers")
    seen: set[str] = set()
    for index, container in enumerate(containers):
        field = f"spec.template.spec.containers[{index}]"
        name = container.get("name")
        if not name:
            errors.required(f"{field}.name")
        elif name in seen:
            errors.items.append(f"{field}.name: Duplicate value: {show(name)}")
        else:
            seen.add(name)
            if not _LABEL.match(name) or len(name) > 63:
                errors.invalid(f"{field}.name", name, LABEL_MSG)
        if not container.get("image"):
            errors.required(f"{field}.image")
        _resources(container.get("resources") or {}, f"{field}.resources", errors)
    if restart_always and pod.get("restartPolicy", "Always") != "Always":
        errors.unsupported("spec.template.spec.restartPolicy", pod.get("restartPolicy"), ["Always"])


def _resources(resources: Obj, field: str, errors: Errors) -> None:
    limits = resources.get("limits") or {}
    for name, requested in (resources.get("requests") or {}).items():
        if name in limits:
            try:
                if quantity.value_of(requested) > quantity.value_of(limits[name]):
                    errors.invalid(f"{field}.requests", requested,
                                   f"must be less than or equal to {name} limit of {limits[name]}")
            except ValueError:
                errors.invalid(f"{field}.requests[{name}]", requested, "must be a valid quantity")


def _int_or_percent(value: Any, field: str, errors: Errors, at_most_100: bool) -> int | None:
    if isinstance(value, int):
        if value < 0:
            errors.invalid(field, value, "must be greater than or equal to 0")
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        percent = int(value[:-1])
        if at_most_100 and percent > 100:
            errors.invalid(field, value, "must not be greater than 100%")
        return percent
    errors.invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%' "
                                 "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
    return None


def _deployment(obj: Obj, old: Obj | None, errors: Errors) -> None:
    spec = obj.get("spec") or {}
    _pod_template(spec, errors)
    for name in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        if isinstance(spec.get(name), int) and spec[name] < 0:
            errors.invalid(f"spec.{name}", spec[name], "must be greater than or equal to 0")
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
    elif strategy.get("type") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        surge = _int_or_percent(rolling.get("maxSurge", 0), "spec.strategy.rollingUpdate.maxSurge", errors, False)
        unavailable = _int_or_percent(rolling.get("maxUnavailable", 0),
                                      "spec.strategy.rollingUpdate.maxUnavailable", errors, True)
        if surge == 0 and unavailable == 0:
            errors.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"),
                           "may not be 0 when `maxSurge` is 0")
    elif strategy.get("type") not in (None, "Recreate", "RollingUpdate"):
        errors.unsupported("spec.strategy.type", strategy.get("type"), ["Recreate", "RollingUpdate"])
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= int(spec.get("minReadySeconds") or 0):
        errors.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
    if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
        errors.invalid("spec.selector", spec.get("selector"), IMMUTABLE)


def _statefulset(obj: Obj, old: Obj | None, errors: Errors) -> None:
    spec = obj.get("spec") or {}
    _pod_template(spec, errors)
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        errors.invalid("spec.replicas", spec["replicas"], "must be greater than or equal to 0")
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        errors.unsupported("spec.podManagementPolicy", policy, ["OrderedReady", "Parallel"])
    if old is None:
        return
    before = old.get("spec") or {}
    for name in ("selector", "serviceName", "podManagementPolicy", "volumeClaimTemplates"):
        if before.get(name) != spec.get(name):
            errors.invalid(f"spec.{name}", spec.get(name), IMMUTABLE)


def _pdb(obj: Obj, errors: Errors) -> None:
    spec = obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        errors.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")
    for name in ("minAvailable", "maxUnavailable"):
        if name in spec:
            _int_or_percent(spec[name], f"spec.{name}", errors, True)


def _hpa(obj: Obj, errors: Errors) -> None:
    spec = obj.get("spec") or {}
    minimum, maximum = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(minimum, int) and minimum < 1:
        errors.invalid("spec.minReplicas", minimum, "must be greater than or equal to 1")
    if not isinstance(maximum, int) or maximum < 1:
        errors.invalid("spec.maxReplicas", maximum, "must be greater than 0")
    elif isinstance(minimum, int) and maximum < minimum:
        errors.invalid("spec.maxReplicas", maximum, "must be greater than or equal to `minReplicas`")
    target = spec.get("scaleTargetRef") or {}
    for name in ("kind", "name"):
        if not target.get(name):
            errors.required(f"spec.scaleTargetRef.{name}")


def validate(obj: Obj, old: Obj | None) -> None:
    """Raise Invalid (422) for what the real server refuses."""
    errors = Errors()
    kind = obj["kind"]
    meta = obj.get("metadata") or {}
    check_name(meta.get("name"), kind == "Namespace", errors)
    check_labels(meta.get("labels"), "metadata.labels", errors)
    if kind == "Deployment":
        _deployment(obj, old, errors)
    elif kind == "StatefulSet":
        _statefulset(obj, old, errors)
    elif kind == "PodDisruptionBudget":
        _pdb(obj, errors)
    elif kind == "HorizontalPodAutoscaler":
        _hpa(obj, errors)
    errors.raise_for(obj)
