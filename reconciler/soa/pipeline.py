"""deploy.yaml: a service's deploy pipeline, checked against PaaSTA 1.64's deploy schema (pure).

The input contract is PaaSTA's `deploy_schema.json` (../shared/spec/platform.md section 4): a
`pipeline` list of steps, each a deploy group (`step`) with its options, or a `parallel` list of
such steps that move together (the outer `step` then only names the group of them). Steps PaaSTA
runs in Jenkins rather than on a cluster (`itest`, `security-check`, ...) are not deploy groups:
they are kept in the pipeline and skipped by promotion.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.soa.issues import Issue, error, warning

#: Steps of PaaSTA pipelines that are CI jobs, not deploy groups (PaaSTA's own list).
NON_DEPLOY_STEPS = frozenset({"itest", "itest-and-push-to-registry", "security-check", "push-to-registry"})

_STEP_PROPERTIES: dict[str, Any] = {
    "parallel": {},
    "step": {"type": "string", "pattern": r"^[a-zA-Z0-9_.-]+$"},
    **{name: {"type": "boolean"} for name in (
        "trigger_next_step_manually", "display_step_for_confirmation", "confirmation_required", "disabled",
        "wait_for_deployment", "auto_rollback", "slack_notify", "ignore_failure", "notify_after_mark",
        "notify_after_good_deploy", "notify_after_auto_rollback", "notify_after_abort",
        "prompt_after_abandon", "confirm_complete", "enable_automated_deploys")},
    **{name: {"type": "integer"} for name in (
        "auto_certify_delay", "auto_abandon_delay", "auto_rollback_delay", "timeout", "warn")},
    "command": {"type": "string"},
    "abandon_above_breakage_pct": {"type": "number"},
    "complete_below_breakage_pct": {"type": "number"},
    "deployment_steps": {"type": "array", "items": {
        "type": "object", "required": ["deploy_group", "progress"], "additionalProperties": False,
        "properties": {"deploy_group": {"type": "string"}, "progress": {"type": "number"},
                       "confirm_before": {"type": "boolean"}, "deploy_below_breakage_pct": {"type": "number"}}}},
}
_STEP: dict[str, Any] = {"type": "object", "required": ["step"], "additionalProperties": False,
                         "properties": _STEP_PROPERTIES}

#: PaaSTA 1.64's deploy.yaml schema, as a JSON Schema (draft 7).
DEPLOY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["pipeline"],
    "additionalProperties": False,
    "properties": {
        "allowed_push_groups": {"type": "array", "items": {"type": "string"}},
        "pipeline": {"type": "array", "items": {"allOf": [
            _STEP, {"type": "object", "properties": {"parallel": {"type": "array", "items": _STEP}}}]}},
        "production_deploy_group": {"type": "string"},
        "slack_channels": {"type": "array", "items": {"type": "string"}},
        "slack_notify": {"type": "boolean"},
    },
}


@dataclass(frozen=True)
class DeployStep:
    """One step of the pipeline. With `parallel`, the step is a group of steps that move
    together and `step` only names it. `wait_for_deployment` None: not said (promotion waits)."""

    step: str
    auto_rollback: bool = False
    trigger_next_step_manually: bool = False
    wait_for_deployment: bool | None = None
    auto_certify_delay: int | None = None
    disabled: bool = False
    parallel: tuple[DeployStep, ...] = ()

    @property
    def deploy_groups(self) -> tuple[str, ...]:
        """The deploy groups this step moves (its parallel steps', or its own)."""
        if self.parallel:
            return () if self.disabled else tuple(s.step for s in self.parallel
                                                  if not s.disabled and s.step not in NON_DEPLOY_STEPS)
        return () if self.disabled or self.step in NON_DEPLOY_STEPS else (self.step,)


def deploy_steps(pipeline: Sequence[DeployStep] | None) -> Iterator[DeployStep]:
    """Every step naming a deploy group, parallel ones included, in pipeline order."""
    for step in pipeline or ():
        if step.parallel:
            yield from step.parallel
        else:
            yield step


def _step(raw: dict[str, Any]) -> DeployStep:
    delay = raw.get("auto_certify_delay")
    return DeployStep(raw["step"], raw.get("auto_rollback") is True, raw.get("trigger_next_step_manually") is True,
                      raw.get("wait_for_deployment"), delay if isinstance(delay, int) else None,
                      raw.get("disabled") is True, tuple(_step(p) for p in raw.get("parallel") or ()))


@functools.cache
def _checker() -> Any:
    from reconciler.soa.schema_check import compiled_validator

    return compiled_validator(DEPLOY_SCHEMA, "deploy schema")


def _schema_issues(doc: dict[str, Any], path: str, service: str) -> list[Issue]:
    import fastjsonschema

    try:
        _checker()(doc)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    from jsonschema import Draft7Validator

    from reconciler.soa.validate import describe_error, path_of

    out = []
    for err in sorted(Draft7Validator(DEPLOY_SCHEMA).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = path_of(err)
        if err.validator == "additionalProperties":
            known = set(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in known:
                    out.append(error(path, "unknown key (not in PaaSTA's deploy schema)", service=service,
                                     key=f"{where}.{key}" if where else key))
        else:
            out.append(error(path, describe_error(err), service=service, key=where or None))
    return out


def parse_pipeline(doc: dict[str, Any], path: str, service: str) -> tuple[tuple[DeployStep, ...] | None, list[Issue]]:
    """The pipeline of a parsed deploy.yaml (None when it is unusable) and what is wrong with it:
    any schema error makes the file invalid; a deploy group named twice is a warning (promotion
    follows its first step)."""
    issues = _schema_issues(doc, path, service)
    if issues:
        return None, issues
    steps = tuple(_step(raw) for raw in doc["pipeline"])
    seen: set[str] = set()
    for i, step in enumerate(deploy_steps(steps)):
        if step.step in seen and step.step not in NON_DEPLOY_STEPS:
            issues.append(warning(path, f"deploy group {step.step!r} is a step twice; promotion follows the "
                                        "first", service=service, key=f"pipeline[{i}].step"))
        seen.add(step.step)
    for i, step in enumerate(steps):
        if step.parallel and any(p.parallel for p in step.parallel):
            issues.append(error(path, "a parallel step cannot hold parallel steps", service=service,
                                key=f"pipeline[{i}].parallel"))
    return (None if any(i.is_error for i in issues) else steps), issues
