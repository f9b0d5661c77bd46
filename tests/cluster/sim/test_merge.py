"""Merging an applied configuration into the live object, list by list as the server does."""

from __future__ import annotations

from reconciler.cluster.sim import schema
from reconciler.cluster.sim.merge import merge

ENV = schema.fields("Container")["env"]


def env(*names: str) -> list[dict[str, str]]:
    return [{"name": n, "value": n.lower()} for n in names]


def test_keyed_list_follows_the_configuration_and_keeps_live_only_items_in_place() -> None:
    # recorded on a real server: live [A, B, C] + config [C, A, D] -> [B, C, A, D] (B then pruned)
    assert merge(env("A", "B", "C"), env("C", "A", "D"), ENV) == env("B", "C", "A", "D")


def test_items_merge_field_by_field() -> None:
    live = [{"name": "A", "value": "old", "valueFrom": None}]
    assert merge(live, [{"name": "A", "value": "new"}], ENV) == [{"name": "A", "value": "new", "valueFrom": None}]


def test_atomic_list_and_atomic_struct_are_replaced() -> None:
    container = schema.root("Deployment")
    live = {"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}}}
    merged = merge(live, {"spec": {"selector": {"matchLabels": {"a": "1"}}}}, container)
    assert merged["spec"]["selector"] == {"matchLabels": {"a": "1"}}
    command = schema.fields("Container")["command"]
    assert merge(["a", "b"], ["c"], command) == ["c"]


def test_granular_maps_merge_keys() -> None:
    node = schema.root("Deployment")
    merged = merge({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"b": "2"}}}, node)
    assert merged["metadata"]["labels"] == {"a": "1", "b": "2"}
