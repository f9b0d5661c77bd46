"""Rendering every instance of a loaded service: rendered, invalid, or not deployed yet."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from reconciler.render.instance import render_instance
from reconciler.render.names import bounds, name_issues
from reconciler.render.settings import RenderSettings
from reconciler.soa.files import INSTANCE_FILE
from reconciler.soa.issues import Issue, error
from reconciler.soa.load import InstanceResult, ServiceLoad
from reconciler.soa.model import Control, Deployments
from reconciler.soa.monitoring import Monitoring
from reconciler.soa.pipeline import deploy_steps


class Outcome(str, Enum):
    RENDERED = "rendered"
    INVALID = "invalid"
    NOT_DEPLOYED = "not_deployed"


@dataclass(frozen=True)
class RenderResult:
    """One instance on one cluster; `instance` is None for a file whose instances are unknown."""

    service: str
    instance: str | None
    cluster: str
    outcome: Outcome
    objects: tuple[dict[str, Any], ...] = ()
    issues: tuple[Issue, ...] = ()
    deploy_group: str | None = None
    #: The deploy.yaml step of the instance's deploy group says `auto_rollback: true`.
    auto_rollback: bool = False
    #: Who hears about the instance's checks (monitoring.yaml under its `monitoring:` override).
    monitoring: Monitoring | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    def error_text(self) -> str:
        return "; ".join(str(i) for i in self.errors)

    def to_record(self) -> dict[str, Any]:
        """The `render -o jsonl` line (reconciler.md §7)."""
        record: dict[str, Any] = {"service": self.service, "instance": self.instance,
                                  "cluster": self.cluster}
        if self.outcome is Outcome.RENDERED:
            record["objects"] = list(self.objects)
        elif self.outcome is Outcome.INVALID:
            record["error"] = self.error_text()
        else:
            record["status"] = "not_deployed"
            record["deploy_group"] = self.deploy_group
        return record


def render_service(load: ServiceLoad, settings: RenderSettings) -> list[RenderResult]:
    results = [render_one(load, r, settings) for r in load.instances]
    # An instance file (or the service directory) that could not be read hides its instances:
    # say so rather than skip it.
    for issue in load.issues:
        name = issue.file.split("/", 1)[-1]
        if issue.is_error and (INSTANCE_FILE.match(name) or name == "."):
            results.append(RenderResult(load.service, None, load.cluster, Outcome.INVALID,
                                        issues=(issue,)))
    return results


def render_one(load: ServiceLoad, result: InstanceResult, settings: RenderSettings) -> RenderResult:
    def invalid(*issues: Issue) -> RenderResult:
        return RenderResult(result.service, result.instance, result.cluster, Outcome.INVALID,
                            issues=tuple(issues))

    config = result.config
    if config is None:
        return invalid(*result.issues)
    names = name_issues(config) or bounds(config, settings.allowed_namespaces, settings.allowed_service_accounts)
    if names:
        return invalid(*result.issues, *names)
    where = {"service": config.service, "instance": config.instance, "cluster": config.cluster}
    deployments_file = f"{config.service}/deployments.json"
    if load.deployments_error:
        return invalid(error(deployments_file, f"could not be read: {load.deployments_error}", **where))
    deployments: Deployments = load.deployments
    group = config.deploy_group
    if group in deployments.invalid_groups:
        return invalid(error(deployments_file, f"entry for deploy group {group!r} is invalid: "
                                               f"{deployments.invalid_groups[group]}", **where))
    control_key = Deployments.control_key(config.service, config.cluster, config.instance)
    if control_key in deployments.invalid_controls:
        return invalid(error(deployments_file, f"control {control_key!r} is invalid: "
                                               f"{deployments.invalid_controls[control_key]}", **where))
    version = deployments.versions.get(group)
    if version is None:
        return RenderResult(config.service, config.instance, config.cluster, Outcome.NOT_DEPLOYED,
                            issues=result.issues, deploy_group=group)
    control = deployments.controls.get(control_key, Control())
    objects = render_instance(config, version, control, settings)
    auto_rollback = any(step.step == group and step.auto_rollback for step in deploy_steps(load.pipeline))
    return RenderResult(config.service, config.instance, config.cluster, Outcome.RENDERED,
                        tuple(objects), result.issues, group, auto_rollback)
