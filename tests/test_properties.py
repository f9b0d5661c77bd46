"""Property tests: any valid config renders; any invalid config or garbage errors cleanly."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.render.service import Outcome, render_service
from reconciler.render.settings import RenderSettings
from reconciler.soa.files import ServiceFiles
from reconciler.soa.load import load_service
from tests.conftest import SHA, deployments_json

CLUSTER = "c1"
SETTINGS = RenderSettings(cluster=CLUSTER, docker_registry="registry.example.com")

names = st.from_regex(r"\A[a-z0-9]([a-z0-9_-]{0,20}[a-z0-9])?\Z", fullmatch=True)
env_names = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,15}\Z", fullmatch=True)
positive = st.one_of(st.integers(1, 64), st.floats(0.01, 64, allow_nan=False).map(lambda f: round(f, 3)))
seconds = st.integers(0, 600)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict:
    c: dict = {}
    optional = {
        "cpus": positive,
        "cpu_burst_add": st.one_of(st.integers(0, 4), st.floats(0, 4).map(lambda f: round(f, 2))),
        "mem": st.integers(32, 65536),
        "disk": st.integers(1, 100000),
        "instances": st.integers(0, 100),
        "env": st.dictionaries(env_names, st.text(max_size=20), max_size=4),
        "bounce_method": st.sampled_from(["crossover", "brutal", "downthenup"]),
        "bounce_margin_factor": st.floats(0, 1).map(lambda f: round(f, 2)),
        "bounce_health_params": st.fixed_dictionaries({"min_task_uptime": seconds}),
        "container_port": st.integers(1, 65535),
        "healthcheck_mode": st.sampled_from(["http", "https", "tcp"]),
        "healthcheck_uri": st.sampled_from(["/status", "/health", "/"]),
        "healthcheck_grace_period_seconds": seconds,
        "healthcheck_interval_seconds": st.integers(1, 60),
        "healthcheck_timeout_seconds": st.integers(1, 60),
        "healthcheck_max_consecutive_failures": st.integers(1, 50),
        "lifecycle": st.fixed_dictionaries({"termination_grace_period_seconds": seconds}),
        "pool": st.sampled_from(["default", "batch", "gpu-a"]),
        "deploy_group": st.sampled_from(["{cluster}.{instance}", "prod.everything", "{service}.x"]),
        "namespace": st.sampled_from(["apps", "team-a"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            c[key] = draw(strategy)
    command = draw(st.sampled_from(["none", "cmd_str", "cmd_list", "args"]))
    if command == "cmd_str":
        c["cmd"] = draw(st.text(min_size=1, max_size=30))
    elif command == "cmd_list":
        c["cmd"] = draw(st.lists(st.text(max_size=10), min_size=1, max_size=4))
    elif command == "args":
        c["args"] = draw(st.lists(st.text(max_size=10), max_size=4))
    if draw(st.booleans()):
        low = draw(st.integers(1, 10))
        c["min_instances"], c["max_instances"] = low, draw(st.integers(low, 50))
        if draw(st.booleans()):
            c["autoscaling"] = {"metrics_providers": [
                {"type": draw(st.sampled_from(["cpu", "memory"])), "setpoint": draw(st.floats(0.1, 1))}]}
    if draw(st.booleans()):
        segment = r"[a-z]([a-z0-9_.]{0,5}[a-z0-9])?"
        path = st.from_regex(rf"\A/{segment}(/{segment}){{0,2}}/?\Z", fullmatch=True)
        paths = draw(st.lists(path, min_size=1,
                              max_size=3, unique_by=lambda p: p.rstrip("/")))
        c["persistent_volumes"] = [{"container_path": p, "size": draw(st.integers(1, 100)),
                                    "mode": draw(st.sampled_from(["RW", "RO"]))} for p in paths]
    return c


def service_files(service: str, instances: dict[str, dict], raw: bytes | None = None) -> ServiceFiles:
    groups = {}
    for name, cfg in instances.items():
        group = cfg.get("deploy_group", "{cluster}.{instance}")
        groups[group.format(cluster=CLUSTER, instance=name, service=service)] = SHA
    content = raw if raw is not None else yaml.safe_dump(instances).encode()
    return ServiceFiles(service, {f"kubernetes-{CLUSTER}.yaml": content,
                                  "deployments.json": deployments_json(service, groups).encode()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(service=names, instance=names, config=valid_configs())
def test_any_valid_config_renders(service: str, instance: str, config: dict) -> None:
    load = load_service(service_files(service, {instance: config}), CLUSTER)
    [result] = render_service(load, SETTINGS)
    too_long = len(f"paastasvc-{service.replace('_', '--')}") > 63
    if too_long and "namespace" not in config:
        assert result.outcome is Outcome.INVALID
        return
    assert result.outcome is Outcome.RENDERED, result.error_text()
    assert not result.errors
    json.dumps(result.objects)  # plain data only
    kinds = [o["kind"] for o in result.objects]
    assert kinds[0] == "Namespace" and kinds[1] in ("Deployment", "StatefulSet")
    stateful = bool(config.get("persistent_volumes"))
    assert ("HorizontalPodAutoscaler" in kinds) == ("max_instances" in config and not stateful)
    work = result.objects[1]
    assert ("replicas" in work["spec"]) == ("max_instances" not in config or stateful)
    for obj in result.objects:
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    again = render_service(load_service(service_files(service, {instance: config}), CLUSTER), SETTINGS)
    assert again[0].objects == result.objects  # deterministic


mutations = st.sampled_from([
    ("unknown_key", "cpuz", 1),
    ("pattern", "iam_role", "arn:aws:iam::1:user/x"),
    ("missing", "extra_volumes", [{"hostPath": "/a"}]),
    ("type", "cpus", "lots"),
    ("type", "instances", "three"),
    ("type", "env", ["A"]),
    ("range", "mem", 1),
    ("range", "container_port", 0),
    ("range", "bounce_margin_factor", 2),
    ("enum", "bounce_method", "sideways"),
    ("both", "cmd", "run"),
])


@settings(max_examples=200, deadline=None)
@given(config=valid_configs(), mutation=mutations)
def test_any_invalid_config_errors_cleanly_and_names_the_key(config: dict, mutation: tuple) -> None:
    _kind, key, value = mutation
    config = dict(config)
    config[key] = value
    if _kind == "both":
        config["args"] = ["x"]
    load = load_service(service_files("svc", {"main": config, "other": {"cpus": 1}}), CLUSTER)
    results = {r.instance: r for r in render_service(load, SETTINGS)}
    bad = results["main"]
    assert bad.outcome is Outcome.INVALID
    assert any(i.key and i.key.split(".")[0].split("[")[0] in (key, "args") for i in bad.errors), bad.error_text()
    assert all(i.file == f"svc/kubernetes-{CLUSTER}.yaml" and i.instance == "main" for i in bad.errors)
    assert results["other"].outcome is Outcome.RENDERED


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_garbage_files_never_raise(raw: bytes) -> None:
    load = load_service(service_files("svc", {}, raw=raw), CLUSTER)
    for result in render_service(load, SETTINGS):
        assert result.outcome in (Outcome.INVALID, Outcome.NOT_DEPLOYED, Outcome.RENDERED)
        if result.outcome is Outcome.INVALID:
            assert result.error_text()
