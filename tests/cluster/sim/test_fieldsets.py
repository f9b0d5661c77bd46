"""Field ownership sets: what an apply owns must be what a real API server records."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.cluster.sim import fieldsets, schema
from reconciler.cluster.sim.ssa import UNRECORDED


def _owned(config: dict[str, Any]) -> set[fieldsets.Path]:
    return fieldsets.config_set(config, schema.root(config["kind"])) - UNRECORDED


def test_owned_fields_match_the_real_servers_managed_fields(golden: dict[str, Any]) -> None:
    for name, case in golden["objects"].items():
        real = next(m for m in case["output"]["metadata"]["managedFields"] if m["manager"] == "reconciler")
        owned = _owned(case["input"])
        assert fieldsets.to_fields_v1(owned) == real["fieldsV1"], name
        assert fieldsets.from_fields_v1(real["fieldsV1"]) == owned, name


def test_keyed_lists_use_their_merge_keys_with_defaults() -> None:
    container = {"name": "c", "image": "x", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    owned = fieldsets.config_set({"spec": {"template": {"spec": {"containers": [container]}}}},
                                 schema.root("Deployment"))
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}')
    assert item in owned
    assert item + ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}') in owned
    assert item + ("f:env", 'k:{"name":"A"}', "f:value") in owned
    assert item + ("f:volumeMounts", 'k:{"mountPath":"/v"}', "f:name") in owned


def test_atomic_fields_are_owned_whole() -> None:
    owned = fieldsets.config_set({"spec": {"selector": {"matchLabels": {"a": "b"}},
                                           "template": {"spec": {"nodeSelector": {"pool": "x"},
                                                                 "containers": [{"name": "c", "command": ["a"]}]}}}},
                                 schema.root("Deployment"))
    assert ("f:spec", "f:selector") in owned
    assert ("f:spec", "f:template", "f:spec", "f:nodeSelector") in owned
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:command") in owned
    assert not any(len(p) > 2 and p[1] == "f:selector" for p in owned)


def test_fields_v1_marks_members_with_children() -> None:
    paths = {("f:a",), ("f:a", "f:b"), ("f:c", 'k:{"name":"x"}'), ("f:c", 'k:{"name":"x"}', "f:name")}
    tree = fieldsets.to_fields_v1(paths)
    assert tree == {"f:a": {".": {}, "f:b": {}}, "f:c": {'k:{"name":"x"}': {".": {}, "f:name": {}}}}
    assert fieldsets.from_fields_v1(tree) == paths


def test_ensure_named_adds_struct_fields_not_map_keys() -> None:
    node = schema.root("Deployment")
    out = fieldsets.ensure_named({("f:metadata", "f:labels", "f:a"), ("f:spec", "f:strategy", "f:type")}, node)
    assert ("f:metadata",) in out and ("f:metadata", "f:labels") in out
    assert ("f:spec",) in out and ("f:spec", "f:strategy") in out


@pytest.mark.parametrize(("path", "text"), [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"), '.spec.containers[name="a"].image'),
    (("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'), '.ports[containerPort=80,protocol="TCP"]'),
])
def test_paths_print_like_the_server(path: fieldsets.Path, text: str) -> None:
    assert fieldsets.describe(path) == text


def test_lookup_and_remove_by_path() -> None:
    node = schema.root("Deployment")
    obj: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}}}}
    env = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"a"}', "f:env")
    assert fieldsets.lookup(obj, env + ('k:{"name":"Y"}', "f:value"), node) == "2"
    assert fieldsets.lookup(obj, env + ('k:{"name":"Z"}',), node) is fieldsets.MISSING
    fieldsets.remove(obj, env + ('k:{"name":"X"}',), node)
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "Y", "value": "2"}]
