"""Where an instance's pods may run: node selector, node affinity, pod anti-affinity and
topology spread, as PaaSTA 1.64 derives them from node_selectors, node_selectors_preferred,
deploy_whitelist/deploy_blacklist, anti_affinity(_preferred) and topology_spread_constraints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.render.settings import RenderSettings
from reconciler.soa.model import InstanceConfig

#: Location labels PaaSTA prefixes with its location domain (`yelp.com/<name>`).
LOCATION_LABELS = frozenset({"datacenter", "ecosystem", "habitat", "hostname", "region", "superregion"})
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"

Requirement = tuple[str, str, list[str]]


def node_label(label: str, settings: RenderSettings) -> str:
    """A soa-configs location name as a node label (PaaSTA's `to_node_label`)."""
    if label in ("instance_type", "instance-type"):
        return "node.kubernetes.io/instance-type"
    if label in LOCATION_LABELS:
        return f"{settings.location_label_prefix}/{label}"
    return label


def node_selector(config: InstanceConfig, settings: RenderSettings) -> dict[str, str]:
    """Plain-string node_selectors (renamed), and the pool label where the cluster names one."""
    out = {node_label(key, settings): value for key, value in config.node_selectors}
    if settings.pool_node_label:
        out[settings.pool_node_label] = config.pool
    return out


def requirements(selectors: Mapping[str, Any], settings: RenderSettings) -> list[Requirement]:
    """The operator forms of a node_selectors mapping: a list of strings is `In`; operator
    entries as given (`Gt`/`Lt` take one value, as a string)."""
    out: list[Requirement] = []
    for label, value in selectors.items():
        if not isinstance(value, list) or not value:
            continue
        key = node_label(label, settings)
        if isinstance(value[0], str):
            out.append((key, "In", list(value)))
            continue
        for entry in value:
            operator = entry["operator"]
            if operator in ("In", "NotIn"):
                values = [str(v) for v in entry.get("values", [])]
            elif operator in ("Gt", "Lt"):
                values = [str(entry["value"])]
            else:
                values = []
            out.append((key, operator, values))
    return out


def _expressions(reqs: list[Requirement]) -> list[dict[str, Any]]:
    out = []
    for key, operator, values in reqs:
        expression: dict[str, Any] = {"key": key, "operator": operator}
        if values:
            expression["values"] = values
        out.append(expression)
    return out


def node_affinity(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any] | None:
    """Required terms from deploy_whitelist (`In`), deploy_blacklist (one `NotIn` each) and the
    operator forms of node_selectors; preferred terms from node_selectors_preferred."""
    extended = config.extended
    required: list[Requirement] = []
    whitelist = extended.get("deploy_whitelist")
    if whitelist:
        required.append((node_label(whitelist[0], settings), "In", list(whitelist[1])))
    for location, value in extended.get("deploy_blacklist") or ():
        required.append((node_label(location, settings), "NotIn", [value]))
    required.extend((node_label(r.key, settings), r.operator, list(r.values)) for r in config.node_requirements)
    preferred = [{"weight": entry["weight"],
                  "preference": {"matchExpressions": _expressions(requirements(entry["preferences"], settings))}}
                 for entry in extended.get("node_selectors_preferred") or ()]
    if not required and not preferred:
        return None
    out: dict[str, Any] = {}
    if required:
        out["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": _expressions(required)}]}
    if preferred:
        out["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    return out


def _conditions(value: Any) -> list[Mapping[str, Any]]:
    return [] if not value else value if isinstance(value, list) else [value]


def _selector(condition: Mapping[str, Any], settings: RenderSettings) -> dict[str, Any] | None:
    labels = {settings.label(k): condition[k] for k in ("service", "instance") if k in condition}
    return {"matchLabels": labels} if labels else None


def pod_anti_affinity(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any] | None:
    """No two pods on one host with pods of the named service (and instance): required terms
    from anti_affinity, weighted ones from anti_affinity_preferred."""
    required = [{"topologyKey": HOSTNAME_TOPOLOGY, "labelSelector": selector}
                for c in _conditions(config.extended.get("anti_affinity"))
                if (selector := _selector(c, settings))]
    preferred = [{"weight": c["weight"], "podAffinityTerm": {"topologyKey": HOSTNAME_TOPOLOGY, "labelSelector": selector}}
                 for c in _conditions(config.extended.get("anti_affinity_preferred"))
                 if (selector := _selector(c, settings))]
    out: dict[str, Any] = {}
    if required:
        out["requiredDuringSchedulingIgnoredDuringExecution"] = required
    if preferred:
        out["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    return out or None


def topology_spread(config: InstanceConfig, settings: RenderSettings) -> list[dict[str, Any]]:
    """topologySpreadConstraints over the instance's own pods."""
    selector = {"matchLabels": {settings.label("service"): config.service,
                                settings.label("instance"): config.instance}}
    out = []
    for constraint in config.extended.get("topology_spread_constraints") or ():
        item: dict[str, Any] = {"labelSelector": selector, "topologyKey": constraint["topology_key"],
                                "maxSkew": constraint.get("max_skew", 1),
                                "whenUnsatisfiable": constraint.get("when_unsatisfiable", "ScheduleAnyway")}
        if constraint.get("match_label_keys"):
            item["matchLabelKeys"] = list(constraint["match_label_keys"])
        out.append(item)
    return out


def affinity(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if (nodes := node_affinity(config, settings)) is not None:
        out["nodeAffinity"] = nodes
    if (pods := pod_anti_affinity(config, settings)) is not None:
        out["podAntiAffinity"] = pods
    return out or None
