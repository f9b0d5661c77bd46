"""deploy.yaml against PaaSTA's deploy schema: steps, parallel steps, and what makes the file invalid."""

from __future__ import annotations

from reconciler.soa.pipeline import DeployStep, deploy_steps
from tests.helpers import files
from reconciler.soa.load import load_service

K8S = "main: {deploy_group: prod}\n"


def loaded(deploy: str) -> tuple[tuple[DeployStep, ...] | None, list[str], list[str]]:
    load = load_service(files(k8s=K8S, deploy_yaml=deploy), "norcal-prod")
    errors = [f"{i.key}: {i.message}" for i in load.issues if i.is_error]
    instance_errors = [i.message for r in load.instances for i in r.issues if i.is_error]
    return load.pipeline, errors, instance_errors


def test_every_step_option_of_paasta_is_read() -> None:
    pipeline, errors, _ = loaded("""
pipeline:
- step: itest
- step: canary
  trigger_next_step_manually: true
  auto_certify_delay: 600
  wait_for_deployment: true
  slack_notify: false
- step: prod
  parallel:
  - step: prod
    auto_rollback: true
  - step: prod-east
    disabled: true
slack_channels: ["#team"]
production_deploy_group: prod
""")
    assert errors == []
    assert pipeline is not None
    canary = pipeline[1]
    assert canary.trigger_next_step_manually and canary.auto_certify_delay == 600 and canary.wait_for_deployment
    assert pipeline[0].deploy_groups == () and canary.deploy_groups == ("canary",)
    assert pipeline[2].deploy_groups == ("prod",)  # the disabled parallel step moves nothing
    assert [s.step for s in deploy_steps(pipeline)] == ["itest", "canary", "prod", "prod-east"]


def test_unknown_keys_and_wrong_types_make_the_file_and_its_instances_invalid() -> None:
    pipeline, errors, instance_errors = loaded("""
pipeline:
- step: canary
  auto_certify_delay: soon
  trigger_next_step_manualy: true
""")
    assert pipeline is None
    assert any(e.startswith("pipeline[0].auto_certify_delay: must be a whole number") for e in errors), errors
    assert any(e.startswith("pipeline[0].trigger_next_step_manualy: unknown key") for e in errors), errors
    assert instance_errors  # the instance cannot be rendered: its rollback rules are unknown


def test_a_step_without_a_name_a_deploy_group_twice_and_a_missing_pipeline() -> None:
    assert any("missing required key 'step'" in e for e in loaded("pipeline: [{auto_rollback: true}]\n")[1])
    twice = load_service(files(k8s=K8S, deploy_yaml="pipeline: [{step: prod}, {step: x, parallel: [{step: prod}]}]\n"),
                         "norcal-prod")
    assert twice.pipeline is not None and not [i for i in twice.issues if i.is_error]
    assert any("deploy group 'prod' is a step twice" in i.message for i in twice.issues)
    assert any("missing required key 'pipeline'" in e for e in loaded("slack_notify: true\n")[1])
