"""Every object of one instance, each labelled with its own config_sha."""

from __future__ import annotations

from typing import Any

from reconciler.render.companions import horizontal_pod_autoscaler, namespace, pod_disruption_budget
from reconciler.render.identity import service_account
from reconciler.render.hashing import config_sha
from reconciler.render.settings import RenderSettings
from reconciler.render.workload import workload
from reconciler.soa.model import Control, DeployedVersion, InstanceConfig


def render_instance(config: InstanceConfig, version: DeployedVersion, control: Control,
                    settings: RenderSettings) -> list[dict[str, Any]]:
    """Namespace, the ServiceAccount of an IAM role, workload, PodDisruptionBudget and (when
    autoscaled, running and a Deployment) HPA."""
    sha_label = settings.label("config_sha")
    ns = namespace(config, settings)
    ns["metadata"]["labels"][sha_label] = config_sha(ns, None)  # shared by instances: no force_bounce

    work = workload(config, version, control, settings)
    sha = config_sha(work, control.force_bounce)
    work["metadata"]["labels"][sha_label] = sha
    work["spec"]["template"]["metadata"]["labels"][sha_label] = sha
    companions = [pod_disruption_budget(config, settings)]
    if config.has_hpa and control.desired_state != "stop":
        companions.append(horizontal_pod_autoscaler(config, settings, work["kind"]))
    for obj in companions:
        obj["metadata"]["labels"][sha_label] = config_sha(obj, control.force_bounce)
    account = service_account(config, settings)
    if account is not None:  # shared by the instances with this role: no force_bounce
        account["metadata"]["labels"][sha_label] = config_sha(account, None)
    return [ns, *([account] if account else []), work, *companions]
