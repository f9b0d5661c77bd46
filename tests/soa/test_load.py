"""Loading soa-configs (spec §1-4): merge order, templates, deploy groups, validation rules."""

from __future__ import annotations

import pytest

from reconciler.soa.load import interpolate_deploy_group
from tests.conftest import SHA
from tests.helpers import CLUSTER, instance, load, messages, render


def config(k8s: str, name: str = "main", **kw: object):  # type: ignore[no-untyped-def]
    result = instance(k8s, name, **kw)
    assert result.config is not None, messages(result)
    return result.config


# --- merge ------------------------------------------------------------------------------------

def test_three_level_merge_priorities_and_deep_env() -> None:
    cfg = config(
        "main: {cpus: 3, env: {C: instance, B: instance}}",
        service_yaml="cpus: 1\nmem: 1000\ndisk: 500\nenv: {A: service, B: service}\n",
        autotuned="main: {mem: 2000, cpus: 2, env: {C: auto}}\n",
    )
    assert cfg.cpus == 3 and cfg.mem == 2000 and cfg.disk == 500
    assert dict(cfg.env) == {"A": "service", "B": "instance", "C": "instance"}


def test_lists_are_replaced_not_merged() -> None:
    cfg = config("main: {args: [--b]}", service_yaml="args: [--a, --z]\n")
    assert cfg.args == ("--b",)


def test_autotuned_entry_for_another_instance_is_ignored() -> None:
    assert config("main: {}", autotuned="other: {cpus: 7}\n").cpus == 1


def test_templates_are_not_instances_and_merge_keys_are_shallow() -> None:
    loaded = load("""
        _shared: &shared
          cpus: 0.5
          env: {A: template, B: template}
        main:
          <<: *shared
          env: {C: own}
    """)
    assert [r.instance for r in loaded.instances] == ["main"]
    cfg = loaded.instances[0].config
    assert cfg is not None and cfg.cpus == 0.5
    assert dict(cfg.env) == {"C": "own"}  # the anchor's env is replaced entirely


def test_eks_files_are_read_like_kubernetes_files() -> None:
    loaded = load("main: {}", eks="other: {cpus: 2}\n",
                  deployed={f"{CLUSTER}.main": SHA, f"{CLUSTER}.other": SHA})
    assert sorted(r.instance for r in loaded.instances) == ["main", "other"]
    other = [r for r in loaded.instances if r.instance == "other"][0]
    assert other.source == f"svc/eks-{CLUSTER}.yaml"


def test_same_instance_in_kubernetes_and_eks_is_an_error() -> None:
    result = instance("main: {}", eks="main: {cpus: 2}\n")
    assert result.config is None
    assert "defined in both" in messages(result)


def test_empty_instance_renders_with_defaults_and_warns() -> None:
    result = instance("main: {}")
    assert result.config is not None and result.config.instances == 1
    assert [i.severity.value for i in result.issues] == ["warning"]
    empty = instance("main:\n")  # no value at all is not a mapping: PaaSTA refuses it too
    assert empty.config is None and "has no value" in messages(empty)


# --- deploy groups ------------------------------------------------------------------------------

def test_default_deploy_group_is_cluster_dot_instance() -> None:
    assert config("main: {cpus: 1}").deploy_group == f"{CLUSTER}.main"


@pytest.mark.parametrize("template, expected", [
    ("{cluster}.main", "c1.main"), ("prod.{instance}", "prod.web"), ("{service}-{cluster}", "svc-c1"),
    ("plain", "plain"),
])
def test_deploy_group_interpolation(template: str, expected: str) -> None:
    assert interpolate_deploy_group(template, "svc", "web", "c1") == expected


@pytest.mark.parametrize("template", ["{region}.main", "{cluster", "x}"])
def test_bad_deploy_group_interpolation(template: str) -> None:
    with pytest.raises(ValueError):
        interpolate_deploy_group(template, "svc", "web", "c1")
    result = instance(f"main: {{deploy_group: '{template}'}}")
    assert result.config is None and "deploy_group" in messages(result)


def test_deploy_group_missing_from_deploy_yaml_is_a_warning() -> None:
    result = instance("main: {deploy_group: prod.main}", deployed={"prod.main": SHA},
                      deploy_yaml="pipeline:\n- step: dev.main\n")
    assert result.config is not None
    assert any("not a step of deploy.yaml" in str(i) and not i.is_error for i in result.issues)
    ok = instance("main: {deploy_group: prod.main}", deploy_yaml="pipeline:\n- step: prod.main\n")
    assert not ok.issues


def test_auto_rollback_is_read_from_the_pipeline() -> None:
    loaded = load("main: {}", deploy_yaml="pipeline:\n- step: a\n- {step: b, auto_rollback: true}\n")
    assert [(s.step, s.auto_rollback) for s in loaded.pipeline or ()] == [("a", False), ("b", True)]


# --- deployments.json ---------------------------------------------------------------------------

def test_not_deployed_is_not_an_error() -> None:
    result = render("main: {cpus: 1}", deployed={})
    assert result.outcome.value == "not_deployed" and not result.errors and not result.objects


def test_git_sha_comes_from_the_image_tag() -> None:
    other = "f" * 40
    deployments = ('{"v2": {"deployments": {"%s.main": {"docker_image": "services-svc:paasta-%s", '
                   '"git_sha": "%s"}}, "controls": {}}}' % (CLUSTER, other, SHA))
    work = [o for o in render("main: {}", deployments=deployments).objects if o["kind"] == "Deployment"][0]
    assert work["metadata"]["labels"]["paasta.yelp.com/git_sha"] == other


# --- validation rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("k8s, needle", [
    ("main: {cmd: run, args: [x]}", "cmd and args cannot both be set"),
    ("main: {healthcheck_mode: cmd}", "healthcheck_cmd is not set"),
    ("main: {min_instances: 5, max_instances: 2}", "greater than max_instances"),
    ("main: {cpu: 1}", "unknown key (did you mean 'cpus'?)"),
    ("main: {memory: 1}", "unknown key"),
    ("main: {extra_volumes: [{hostPath: /a}]}", "missing required key 'containerPath'"),
    ("main: {registrations: [nodot]}", "is not <service>.<namespace>"),
    ("main: {lifecycle: {pre_stop_command: 3}}", "lifecycle.pre_stop_command"),
    ("main: {secret_volumes: [{container_path: /s, secret_name: k, default_mode: '644'}]}", "default_mode"),
    ("main: {aws_ebs_volumes: [{volume_id: v, container_path: /d}]}", "must use bounce_method downthenup"),
    ("main: {aws_ebs_volumes: [{volume_id: v, container_path: /d}], bounce_method: downthenup, instances: 3}",
     "instances must be 1 or 0"),
    ("main: {topology_spread_constraints: [{max_skew: 1}]}", "missing required key 'topology_key'"),
    ("main: {node_selectors_preferred: [{preferences: {a: [b]}}]}", "missing required key 'weight'"),
    ("main: {iam_role: not-an-arn}", "iam_role"),
    ("main: {fs_group_change_policy: Always}", "fs_group"),
    ("main: {lifecycle: {termination_grace: 3}}", "unknown key"),
    ("main: {cpus: fast}", "must be a number"),
    ("main: {cpus: 0}", "must be greater than 0"),
    ("main: {cpus: .nan}", "finite number"),
    ("main: {mem: 16}", "at least 32"),
    ("main: {instances: -1}", "at least 0"),
    ("main: {instances: 1.5}", "whole number"),
    ("main: {bounce_method: crossfade}", "did you mean 'crossover'"),
    ("main: {bounce_margin_factor: 1.5}", "at most 1"),
    ("main: {container_port: 70000}", "at most 65535"),
    ("main: {env: {1BAD: x}}", "name '1BAD' is not allowed"),
    ("main: {env: {FLAG: on}}", "quote it"),
    ("main: {env: {DAY: 2024-01-01}}", "quote it"),
    ("main: {env: {N: 3}}", "must be a string"),
    ("main: {cmd: []}", "non-empty"),
    ("main: {namespace: Not_A_Label}", "namespace"),
    ("main: {autoscaling: {metrics_providers: [{type: cpuu}]}, max_instances: 3}", "did you mean 'cpu'"),
    ("main: {autoscaling: {metrics_providers: [{type: cpu, forecast_policy: sometimes}]}, max_instances: 3}",
     "forecast_policy"),
    ("main: {persistent_volumes: [{container_path: relative, size: 1}]}", "container_path"),
    ("main: {persistent_volumes: [{container_path: /a, size: 1}, {container_path: /a/, size: 2}]}",
     "used by two volumes"),
    ("main: {persistent_volumes: [{container_path: /a}]}", "missing required key 'size'"),
    ("main: {healthcheck_interval_seconds: 0}", "at least 1"),
    ("main: [1, 2]", "must be a mapping"),
    ("main: {1: x}", "not a string"),
])
def test_invalid_instances_are_rejected_with_key_and_file(k8s: str, needle: str) -> None:
    result = instance(k8s)
    text = messages(result)
    assert result.config is None, f"accepted: {k8s}"
    assert needle in text, text
    assert f"svc/kubernetes-{CLUSTER}.yaml: svc.main:" in text


def test_error_names_the_file_the_key_came_from() -> None:
    result = instance("main: {}", service_yaml="cpus: -1\n")
    assert result.config is None
    issue = result.errors[0]
    assert (issue.file, issue.service, issue.instance, issue.key) == ("svc/service.yaml", "svc", "main", "cpus")


def test_one_bad_instance_never_stops_the_others() -> None:
    loaded = load("good: {cpus: 1}\nbad: {cpus: -1}\nalso_good: {}\n")
    by_name = {r.instance: r for r in loaded.instances}
    assert by_name["bad"].config is None
    assert by_name["good"].config is not None and by_name["also_good"].config is not None


def test_invalid_instance_names() -> None:
    loaded = load("Main: {}\nok-1: {}\n-x: {}\nx_: {}\n", deployed={})
    by_name = {r.instance: r for r in loaded.instances}
    assert by_name["ok-1"].config is not None
    for bad in ("Main", "-x", "x_"):
        assert by_name[bad].config is None and "invalid instance name" in messages(by_name[bad])


def test_name_over_kubernetes_limits_is_an_error() -> None:
    long_instance = "a" * 30 + "___" + "b" * 28  # 61 characters, 64 once `_` becomes `--`
    result = render(f"{long_instance}: {{deploy_group: prod}}", long_instance, deployed={"prod": SHA})
    assert result.outcome.value == "invalid" and "container name" in result.error_text()
    result = render("main: {}", service="s" * 60)
    assert "namespace" in result.error_text() and "63" in result.error_text()


def test_service_yaml_keys() -> None:
    loaded = load("main: {}", service_yaml="description: x\ngit_url: y\nowner_team: z\ncpus: 2\n")
    assert loaded.instances[0].config is not None and loaded.instances[0].config.cpus == 2
    assert any(i.key == "owner_team" and not i.is_error for i in loaded.issues)


def test_every_key_paasta_accepts_is_accepted_and_one_without_effect_is_named() -> None:
    result = instance("main: {host_port: 8080, cfs_period_us: 100000, monitoring: {team: x}}",
                      service_yaml="extra_docker_args: {a: b}\n")
    assert result.config is not None, result.errors
    warned = {i.key: i.message for i in result.issues if not i.is_error}
    assert "has no effect on cluster" in warned["host_port"] and "as in PaaSTA 1.64" in warned["host_port"]
    assert {"cfs_period_us", "monitoring", "extra_docker_args"} <= set(warned)


def test_unknown_service_level_config_does_not_block_autoscaling_warning() -> None:
    result = instance("main: {autoscaling: {metrics_providers: [{type: cpu}]}}")
    assert result.config is not None
    assert any("only when max_instances is set" in str(i) for i in result.issues)


def test_what_paasta_renders_without_an_hpa_is_accepted_with_a_warning() -> None:
    for text, needle in (("main: {min_instances: 0, max_instances: 2}", "no HorizontalPodAutoscaler"),
                         ("main: {autoscaling: {metrics_providers: [{type: uwsgi}]}, max_instances: 3}",
                          "Prometheus adapter")):
        result = instance(text)
        assert result.config is not None, result.errors
        assert any(needle in i.message for i in result.issues if not i.is_error), result.issues
