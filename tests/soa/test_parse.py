"""Parsing YAML and JSON: duplicate keys are errors naming the line and the key, never last-wins."""

from __future__ import annotations

import pytest

from reconciler.soa.yamlparse import ParseError, parse_json, parse_yaml
from tests.helpers import load


def test_a_duplicate_yaml_key_names_its_line_and_the_first_one() -> None:
    with pytest.raises(ParseError, match=r"duplicate key 'instances' at line 3, column 3 \(first at line 2\)"):
        parse_yaml(b"main:\n  instances: 3\n  instances: 30\n")


def test_duplicate_top_level_yaml_keys() -> None:
    with pytest.raises(ParseError, match=r"duplicate key 'main' at line 3"):
        parse_yaml(b"main: {instances: 1}\nother: {}\nmain: {instances: 2}\n")


def test_merge_keys_are_not_duplicates_and_explicit_keys_win() -> None:
    doc = parse_yaml(b"_t: &t {cpus: 1, mem: 512}\nmain:\n  <<: *t\n  cpus: 2\n")
    assert doc["main"] == {"cpus": 2, "mem": 512}
    with pytest.raises(ParseError, match="duplicate key 'cpus'"):
        parse_yaml(b"_t: &t {cpus: 1}\nmain:\n  <<: *t\n  cpus: 2\n  cpus: 3\n")


def test_keys_equal_as_values_are_duplicates() -> None:
    with pytest.raises(ParseError, match="duplicate key 1"):
        parse_yaml(b"1: a\n0x1: b\n")


def test_a_duplicate_json_key_names_its_line() -> None:
    text = b'{"v2": {"deployments": {\n  "prod": {"docker_image": "a"},\n  "prod": {"docker_image": "b"}}}}\n'
    with pytest.raises(ParseError, match=r"duplicate key 'prod' at line 3"):
        parse_json(text)
    assert parse_json(b'{"a": {"x": 1}, "b": {"x": 2}}') == {"a": {"x": 1}, "b": {"x": 2}}


@pytest.mark.parametrize("name", ["k8s", "service_yaml", "deploy_yaml"])
def test_a_duplicate_key_in_any_file_makes_the_instance_invalid(name: str) -> None:
    texts = {"k8s": "main:\n  instances: 3\n  instances: 30\n",
             "service_yaml": "description: x\ndescription: y\n",
             "deploy_yaml": "pipeline: []\npipeline:\n- step: norcal-prod.main\n"}
    files = {"k8s": "main: {instances: 3}\n", name: texts[name]}
    loaded = load(**files)
    issues = [*loaded.issues, *(i for r in loaded.instances for i in r.issues)]
    assert any("duplicate key" in i.message and i.is_error for i in issues), issues
    assert all(r.config is None for r in loaded.instances)


def test_a_duplicate_key_in_deployments_json_makes_its_instances_invalid() -> None:
    from tests.helpers import render

    broken = ('{"v2": {"deployments": {"norcal-prod.main": {"docker_image": "services-svc:paasta-' + "a" * 40
              + '"},\n"norcal-prod.main": {"docker_image": "services-svc:paasta-' + "b" * 40
              + '"}}, "controls": {}}}')
    result = render("main: {instances: 1}\n", deployments=broken)
    assert result.outcome.value == "invalid" and "duplicate key 'norcal-prod.main' at line 2" in result.error_text()
