"""Deploy and control tags: parsing, formatting, and the deployments.json they add up to."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from reconciler.sources.tags import (
    ControlTag,
    DeployTag,
    deployments_document,
    docker_image,
    encode_document,
    format_timestamp,
    is_timestamp,
    latest_controls,
    latest_deploys,
    parse_control_tag,
    parse_deploy_tag,
    parse_ls_remote,
)

A = "a" * 40
B = "b" * 40
C = "c" * 40
T1, T2, T3 = "20240101T000000", "20240102T000000", "20240103T000000"


# -- parsing and formatting -------------------------------------------------------------

def test_deploy_tag_forms() -> None:
    assert parse_deploy_tag(f"paasta-prod.main-{T1}-deploy") == DeployTag("prod.main", T1)
    assert parse_deploy_tag(f"refs/tags/paasta-prod-{T1}-deploy") == DeployTag("prod", T1)
    assert parse_deploy_tag(f"paasta-prod+v1.2-rc-{T1}-deploy") == DeployTag("prod", T1, "v1.2-rc")
    assert DeployTag("prod", T1, "v1").name == f"paasta-prod+v1-{T1}-deploy"


def test_not_deploy_tags() -> None:
    for name in (f"paasta-prod-{T1}-stop", f"prod-{T1}-deploy", "paasta-prod-2024-deploy",
                 f"paasta--{T1}-deploy", f"paasta-+v1-{T1}-deploy", f"paasta-prod+-{T1}-deploy",
                 "paasta-prod-20241301T000000-deploy", f"paasta-prod+a/b-{T1}-deploy", "v1.0"):
        assert parse_deploy_tag(name) is None, name


def test_known_groups_decide_where_the_group_ends() -> None:
    name = f"paasta-canary+eu-x+v2-{T1}-deploy"
    assert parse_deploy_tag(name) is None  # group 'canary', version 'eu-x+v2': '+' is not allowed
    assert parse_deploy_tag(name, {"canary+eu-x"}) == DeployTag("canary+eu-x", T1, "v2")
    assert parse_deploy_tag(f"paasta-a+b-{T1}-deploy", {"a", "a+b"}) == DeployTag("a+b", T1)
    assert parse_deploy_tag(f"paasta-a+b-{T1}-deploy", {"a"}) == DeployTag("a", T1, "b")
    assert parse_deploy_tag(f"paasta-prod.main-{T1}-deploy", {"prod"}) is None
    # a dot is a dot: 'prod.main' is not 'prodXmain'
    assert parse_deploy_tag(f"paasta-prodXmain-{T1}-deploy", {"prod.main"}) is None


def test_control_tag_forms() -> None:
    assert parse_control_tag(f"paasta-norcal-prod.main-{T1}-stop") == \
        ControlTag("norcal-prod", "main", T1, "stop")
    assert parse_control_tag(f"refs/tags/paasta-eu.west.1.web-api-{T1}-start") == \
        ControlTag("eu.west.1", "web-api", T1, "start")
    for name in (f"paasta-norcal-{T1}-stop", f"paasta-norcal.Main-{T1}-stop",
                 f"paasta-norcal.main-{T1}-restart", f"paasta-norcal.main-{T1}-deploy",
                 f"paasta-.main-{T1}-stop"):
        assert parse_control_tag(name) is None, name


def test_timestamps() -> None:
    assert format_timestamp(datetime(2024, 5, 6, 7, 8, 9)) == "20240506T070809"
    aware = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(aware) == "20240506T070809"
    assert is_timestamp("20240229T235959") and not is_timestamp("20230229T000000")


_group_chars = st.sampled_from("abcxyz019._-")
groups = st.text(_group_chars, min_size=1, max_size=30)
versions = st.none() | st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
stamps = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)).map(format_timestamp)
clusters = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9])?", fullmatch=True)
instances = st.from_regex(r"([a-z0-9]|[a-z0-9][a-z0-9_-]{0,20}[a-z0-9])", fullmatch=True)


@given(groups, stamps, versions)
def test_deploy_tag_round_trip(group: str, stamp: str, version: str | None) -> None:
    tag = DeployTag(group, stamp, version)
    assert parse_deploy_tag(tag.name) == tag
    assert parse_deploy_tag("refs/tags/" + tag.name, {group}) == tag


@given(st.text(st.sampled_from("ab.-+"), min_size=1, max_size=12), stamps, versions)
def test_deploy_tag_round_trip_with_plus_in_group(group: str, stamp: str, version: str | None) -> None:
    tag = DeployTag(group, stamp, version)
    assert parse_deploy_tag(tag.name, {group}) == tag


@given(clusters, instances, stamps, st.sampled_from(["start", "stop"]))
def test_control_tag_round_trip(cluster: str, instance: str, stamp: str, state: str) -> None:
    tag = ControlTag(cluster, instance, stamp, "start" if state == "start" else "stop")
    assert parse_control_tag(tag.name) == tag
    assert parse_deploy_tag(tag.name) is None


@given(groups, stamps, versions)
def test_a_deploy_tag_is_never_a_control_tag(group: str, stamp: str, version: str | None) -> None:
    assert parse_control_tag(DeployTag(group, stamp, version).name) is None


# -- ls-remote ----------------------------------------------------------------------------

def test_ls_remote_peels_annotated_tags() -> None:
    output = (f"{A}\trefs/tags/light\n"
              f"{B}\trefs/tags/annotated\n"
              f"{C}\trefs/tags/annotated^{{}}\n"
              f"{A}\trefs/heads/main\n")
    assert parse_ls_remote(output) == {"light": A, "annotated": C}


# -- newest wins --------------------------------------------------------------------------

def test_newest_deploy_wins_per_group() -> None:
    tags = {f"paasta-prod-{T2}-deploy": B, f"paasta-prod-{T1}-deploy": A,
            f"paasta-canary+v3-{T3}-deploy": C, f"paasta-other-{T3}-deploy": C}
    found = latest_deploys(tags, {"prod", "canary", "absent"})
    assert {g: (d.git_sha, d.image_version) for g, d in found.items()} == \
        {"prod": (B, None), "canary": (C, "v3")}


def test_controls_count_only_for_the_deployed_sha() -> None:
    tags = {f"paasta-c1.main-{T3}-stop": A,       # newer, but on an older sha
            f"paasta-c1.main-{T2}-start": B,
            f"paasta-c1.main-{T1}-stop": B,
            f"paasta-c1.other-{T1}-stop": B}
    found = latest_controls(tags, {("c1", "main"): B, ("c1", "other"): B, ("c1", "third"): B})
    assert {k: (v.desired_state, v.force_bounce) for k, v in found.items()} == \
        {("c1", "main"): ("start", T2), ("c1", "other"): ("stop", None)}


def test_stop_wins_a_tie() -> None:
    tags = {f"paasta-c1.main-{T1}-start": A, f"paasta-c1.main-{T1}-stop": A}
    assert latest_controls(tags, {("c1", "main"): A})[("c1", "main")].desired_state == "stop"


# -- the document ---------------------------------------------------------------------------

def test_document() -> None:
    tags = {f"paasta-prod-{T1}-deploy": A, f"paasta-canary+v2-{T2}-deploy": B,
            f"paasta-c1.worker-{T2}-stop": A, f"paasta-c1.main-{T3}-start": A,
            f"paasta-undeployed-{T1}-deploy": C}
    doc = deployments_document("svc", tags, {("c1", "main"): "prod", ("c1", "worker"): "prod",
                                             ("c2", "main"): "canary", ("c2", "new"): "never"})
    assert doc == {"v2": {
        "deployments": {
            "prod": {"docker_image": f"services-svc:paasta-{A}", "git_sha": A, "image_version": None},
            "canary": {"docker_image": f"services-svc:paasta-{B}-v2", "git_sha": B,
                       "image_version": "v2"},
        },
        "controls": {
            "svc:c1.main": {"desired_state": "start", "force_bounce": T3},
            "svc:c1.worker": {"desired_state": "stop", "force_bounce": None},
            "svc:c2.main": {"desired_state": "start", "force_bounce": None},
        },
    }}


def test_document_is_read_back_by_the_soa_parser() -> None:
    from reconciler.soa.deployments import parse_deployments

    doc = deployments_document("svc", {f"paasta-prod+v9-{T1}-deploy": A}, {("c1", "main"): "prod"})
    parsed = parse_deployments(encode_document(doc))
    assert parsed.versions["prod"].git_sha == A
    assert parsed.versions["prod"].image_version == "v9"
    assert parsed.versions["prod"].docker_image == docker_image("svc", A, "v9")


def test_encoding_is_deterministic() -> None:
    one = encode_document({"v2": {"deployments": {"b": 1, "a": 2}, "controls": {}}})
    two = encode_document({"v2": {"controls": {}, "deployments": {"a": 2, "b": 1}}})
    assert one == two and one.endswith(b"}\n") and b'\n  "v2": {' in one
    assert json.loads(one)["v2"]["deployments"] == {"a": 2, "b": 1}
