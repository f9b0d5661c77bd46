"""config_sha (soa-configs.md §6): stable, per object, blind to replicas, moved by force_bounce."""

from __future__ import annotations

import subprocess
import sys

from reconciler.render.hashing import config_sha
from tests.conftest import REPO
from tests.helpers import CLUSTER, objects

LABEL = "paasta.yelp.com/config_sha"


def shas(k8s: str, **kw: object) -> dict[str, str]:
    return {kind: o["metadata"]["labels"][LABEL] for kind, o in objects(k8s, **kw).items()}


def test_golden_value_is_the_same_everywhere() -> None:
    # A fixed input must hash to this value on every machine, Python version and locale.
    obj = {"kind": "Deployment", "metadata": {"name": "x", "namespace": "ns"},
           "spec": {"replicas": 3, "cpu": 0.1, "name": "ünïcode"}}
    assert config_sha(obj, None) == "config7056f678"
    assert config_sha(obj, "20261120T101500") != config_sha(obj, None)


def test_same_in_a_fresh_interpreter_with_other_hash_seed_and_locale() -> None:
    code = ("from reconciler.render.hashing import config_sha;"
            "print(config_sha({'kind': 'Deployment', 'metadata': {'name': 'x'}, 'spec': {'b': 1, 'a': [0.5]}}, None))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                           env={"PYTHONHASHSEED": seed, "LC_ALL": "C", "PATH": "/usr/bin:/bin"},
                           check=True).stdout for seed in ("1", "2")}
    assert len(runs) == 1


def test_identical_input_identical_hash() -> None:
    assert shas("main: {cpus: 2, env: {A: b}}") == shas("main: {env: {A: b}, cpus: 2}")


def test_instances_do_not_change_the_hash() -> None:
    assert shas("main: {instances: 2}") == shas("main: {instances: 20}")


def test_stop_does_not_change_the_workload_hash() -> None:
    stopped = shas("main: {}", controls={f"svc:{CLUSTER}.main": {"desired_state": "stop"}})
    assert stopped["Deployment"] == shas("main: {}")["Deployment"]


def test_namespace_is_not_part_of_the_hash() -> None:
    assert shas("main: {namespace: one}")["Deployment"] == shas("main: {namespace: two}")["Deployment"]


def test_force_bounce_changes_the_workload_hash() -> None:
    bounced = shas("main: {}", controls={f"svc:{CLUSTER}.main": {"force_bounce": "20261120T101500"}})
    plain = shas("main: {}")
    assert bounced["Deployment"] != plain["Deployment"]
    assert bounced["Namespace"] == plain["Namespace"]  # shared by instances


def test_config_change_changes_hash_and_pod_template_label() -> None:
    a, b = objects("main: {cpus: 1}"), objects("main: {cpus: 2}")
    assert a["Deployment"]["metadata"]["labels"][LABEL] != b["Deployment"]["metadata"]["labels"][LABEL]
    for objs in (a, b):
        work = objs["Deployment"]
        assert work["spec"]["template"]["metadata"]["labels"][LABEL] == work["metadata"]["labels"][LABEL]


def test_each_object_has_its_own_hash() -> None:
    a = shas("main: {max_instances: 5}")
    b = shas("main: {max_instances: 6}")
    assert a["HorizontalPodAutoscaler"] != b["HorizontalPodAutoscaler"]
    assert a["Deployment"] == b["Deployment"]
    c = shas("main: {bounce_margin_factor: 0.5, bounce_method: brutal}")
    d = shas("main: {bounce_margin_factor: 0.75, bounce_method: brutal}")
    assert c["PodDisruptionBudget"] != d["PodDisruptionBudget"] and c["Deployment"] == d["Deployment"]
