"""Pure helpers: load and render services from in-memory files (no disk, no mocks)."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from reconciler.render.service import RenderResult, render_service
from reconciler.render.settings import RenderSettings
from reconciler.soa.files import ServiceFiles
from reconciler.soa.load import InstanceResult, ServiceLoad, load_service
from tests.conftest import SHA, deployments_json

CLUSTER = "norcal-prod"


def files(service: str = "svc", **named: str) -> ServiceFiles:
    """ServiceFiles from keyword file names: service_yaml=..., k8s=... (for kubernetes-<CLUSTER>)."""
    mapping = {
        "service_yaml": "service.yaml",
        "deploy_yaml": "deploy.yaml",
        "deployments": "deployments.json",
        "k8s": f"kubernetes-{CLUSTER}.yaml",
        "eks": f"eks-{CLUSTER}.yaml",
        "autotuned": f"autotuned_defaults/kubernetes-{CLUSTER}.yaml",
    }
    return ServiceFiles(service, {mapping[k]: textwrap.dedent(v).encode() for k, v in named.items()})


def load(k8s: str, service: str = "svc", deployed: dict[str, str] | None = None,
         controls: dict[str, dict[str, Any]] | None = None, **other: str) -> ServiceLoad:
    """Load `k8s` (instances of CLUSTER); every deploy group `<CLUSTER>.<instance>` is deployed
    at SHA unless `deployed` says otherwise."""
    if "deployments" not in other:
        doc = yaml.safe_load(textwrap.dedent(k8s)) or {}
        groups = deployed if deployed is not None else {
            f"{CLUSTER}.{name}": SHA for name in doc if isinstance(name, str)}
        other["deployments"] = deployments_json(service, groups, controls)
    return load_service(files(service, k8s=k8s, **other), CLUSTER)


def instance(k8s: str, name: str = "main", **kw: Any) -> InstanceResult:
    result = {r.instance: r for r in load(k8s, **kw).instances}
    return result[name]


def render(k8s: str, name: str = "main", settings: RenderSettings | None = None, **kw: Any) -> RenderResult:
    loaded = load(k8s, **kw)
    results = {r.instance: r for r in render_service(loaded, settings or RenderSettings(cluster=CLUSTER))}
    return results[name]


def objects(k8s: str, name: str = "main", **kw: Any) -> dict[str, dict[str, Any]]:
    """Rendered objects of one instance by kind; fails the test if it did not render."""
    result = render(k8s, name, **kw)
    assert result.objects, f"did not render: {result.error_text()}"
    return {o["kind"]: o for o in result.objects}


def workload(k8s: str, name: str = "main", **kw: Any) -> dict[str, Any]:
    objs = objects(k8s, name, **kw)
    return objs.get("Deployment") or objs["StatefulSet"]


def main_container(k8s: str, name: str = "main", **kw: Any) -> dict[str, Any]:
    return workload(k8s, name, **kw)["spec"]["template"]["spec"]["containers"][0]


def messages(result: InstanceResult | RenderResult) -> str:
    return "\n".join(str(i) for i in result.issues)
