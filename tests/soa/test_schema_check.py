"""The fast validity check must agree with jsonschema (which explains the errors) on every case."""

from __future__ import annotations

import pytest
from jsonschema import Draft7Validator

from reconciler.soa.schema import INSTANCE_SCHEMA
from reconciler.soa.schema_check import is_valid

CASES = [
    {}, {"cpus": 1}, {"cpus": True}, {"instances": True}, {"instances": 1.0}, {"instances": 1.5},
    {"instances": 10**20}, {"mem": 31.9}, {"cpus": 0}, {"cpus": -0.0}, {"env": {"A": "b"}},
    {"env": {"a-b": "x"}}, {"env": {"A": None}}, {"cmd": ""}, {"cmd": []}, {"cmd": ["a", 1]},
    {"args": []}, {"bounce_method": "crossover"}, {"bounce_method": "Crossover"},
    {"persistent_volumes": [{"container_path": "/a", "size": 1}]},
    {"persistent_volumes": [{"container_path": "/a", "size": 1, "mode": "rw"}]},
    {"autoscaling": {"metrics_providers": [{"type": "cpu", "setpoint": 0.5}]}},
    {"autoscaling": {"scaledown_policies": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}},
    {"node_selectors": {"kubernetes.io/arch": "amd64"}}, {"node_selectors": {"bad key!": "x"}},
    {"node_selectors": {"zone": [{"operator": "In", "values": ["a"]}]}},
    {"namespace": "a" * 64}, {"pool": "-bad"}, {"container_port": 65536}, {"unknown": 1},
    {"lifecycle": {"termination_grace_period_seconds": 0}}, {"healthcheck_interval_seconds": 0},
]


@pytest.mark.parametrize("config", CASES, ids=[str(c)[:60] for c in CASES])
def test_fast_check_agrees_with_jsonschema(config: dict) -> None:
    assert is_valid(config) == Draft7Validator(INSTANCE_SCHEMA).is_valid(config)
