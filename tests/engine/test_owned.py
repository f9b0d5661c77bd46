"""The applied rendering recovered from managedFields, and its annotation encoding (engine.owned).

The managedFields below are shaped as a real v1.37.2 API server writes them (see
tests/cluster/sim/golden/real_server.json, which the last tests read directly)."""

from __future__ import annotations

import base64
import copy
import json
import random
import zlib
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.drift import differences
from reconciler.engine.owned import MAX_UNPACKED, owned_fields, pack, strip_annotations, unpack

GOLDEN = json.loads((Path(__file__).parents[1] / "cluster" / "sim" / "golden" / "real_server.json").read_text())


def k(**key: Any) -> str:
    """A `k:` element as the server writes it (compact JSON, keys sorted)."""
    return "k:" + json.dumps(key, separators=(",", ":"), sort_keys=True)


ITEM = {".": {}, "f:name": {}, "f:value": {}}

#: The reconciler's Apply entry for LIVE: what it applied (see `APPLIED`).
RECONCILER_FIELDS: dict[str, Any] = {
    "f:metadata": {"f:labels": {"f:app": {}, "f:config_sha": {}},
                   "f:annotations": {"f:example.com/bounce-started-at": {}}},
    "f:spec": {
        "f:minReadySeconds": {},   # applied as 0: the server does not store it
        "f:selector": {},          # atomic (LabelSelector)
        "f:strategy": {"f:type": {}, "f:rollingUpdate": {"f:maxSurge": {}, "f:maxUnavailable": {}}},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:nodeSelector": {},  # atomic map
                "f:containers": {
                    k(name="main"): {
                        ".": {}, "f:name": {}, "f:image": {}, "f:args": {}, "f:command": {},
                        "f:env": {k(name="A"): ITEM, k(name="B"): ITEM, k(name="GONE"): ITEM},
                        "f:ports": {k(containerPort=8080, protocol="TCP"): {".": {}, "f:containerPort": {}}},
                        "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}, "f:limits": {"f:cpu": {}}},
                    },
                },
            },
        },
    },
}

#: The object as the server stores it: applied fields, server defaults, other managers' fields.
LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {
        "name": "web", "namespace": "ns", "uid": "u-1", "resourceVersion": "42", "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app": "web", "config_sha": "config1", "team": "someone-else"},
        "annotations": {"example.com/bounce-started-at": "2026-01-01T00:00:00Z",
                        "deployment.kubernetes.io/revision": "3"},
        "managedFields": [
            {"manager": "reconciler", "operation": "Apply", "apiVersion": "apps/v1",
             "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": RECONCILER_FIELDS},
            {"manager": "reconciler-initial-replicas", "operation": "Apply", "apiVersion": "apps/v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-label", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                          "f:status": {"f:replicas": {}}}},
        ],
    },
    "spec": {
        "replicas": 4, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "5%"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "nodeSelector": {"pool": "default"},
                "containers": [
                    {"name": "sidecar", "image": "injected:1", "imagePullPolicy": "IfNotPresent"},
                    {"name": "main", "image": "registry.example.com/app:v2", "imagePullPolicy": "IfNotPresent",
                     "args": ["--port", "8080"], "command": ["python3", "-m", "app"],
                     "env": [{"name": "B", "value": "2"}, {"name": "INJECTED", "value": "x"},
                             {"name": "A", "value": "1"}],
                     "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                     "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}},
                     "terminationMessagePath": "/dev/termination-log"},
                ],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
            },
        },
    },
    "status": {"replicas": 4, "observedGeneration": 3},
}

#: What `owned_fields(LIVE)` must be: env in live order, GONE and minReadySeconds (owned, not
#: stored) left out, nothing of the other managers, no server defaults.
APPLIED: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web", "config_sha": "config1"},
                 "annotations": {"example.com/bounce-started-at": "2026-01-01T00:00:00Z"}},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "5%"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "nodeSelector": {"pool": "default"},
                "containers": [
                    {"name": "main", "image": "registry.example.com/app:v2",
                     "args": ["--port", "8080"], "command": ["python3", "-m", "app"],
                     "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                     "ports": [{"containerPort": 8080}],
                     "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}}},
                ],
            },
        },
    },
}


def with_fields(fields: dict[str, Any], live: dict[str, Any] | None = None, **entry: Any) -> dict[str, Any]:
    """`live` (default LIVE) with the reconciler's entry holding `fields` (and `entry` overrides)."""
    obj = copy.deepcopy(live if live is not None else LIVE)
    obj["metadata"]["managedFields"] = [{"manager": "reconciler", "operation": "Apply", "apiVersion": "apps/v1",
                                         "fieldsType": "FieldsV1", "fieldsV1": fields, **entry}]
    return obj


# -- owned_fields ------------------------------------------------------------------------------

def test_recovers_exactly_what_the_manager_applied() -> None:
    before = copy.deepcopy(LIVE)
    assert owned_fields(LIVE) == APPLIED
    assert LIVE == before, "the live object is not modified"


def test_result_is_a_copy() -> None:
    recovered = owned_fields(LIVE)
    assert recovered is not None
    recovered["spec"]["template"]["spec"]["containers"][0]["args"].append("--debug")
    recovered["spec"]["selector"]["matchLabels"]["x"] = "y"
    assert LIVE["spec"]["template"]["spec"]["containers"][1]["args"] == ["--port", "8080"]
    assert LIVE["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_fields_of_other_managers_are_left_out() -> None:
    recovered = owned_fields(LIVE)
    assert recovered is not None
    assert "replicas" not in recovered["spec"]                                # reconciler-initial-replicas
    assert "team" not in recovered["metadata"]["labels"]                      # kubectl-label
    assert "deployment.kubernetes.io/revision" not in recovered["metadata"]["annotations"]  # controller
    assert "status" not in recovered
    assert [c["name"] for c in recovered["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_each_managers_own_part() -> None:
    assert owned_fields(LIVE, "reconciler-initial-replicas") == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"replicas": 4}}


def test_no_apply_entry_is_none() -> None:
    assert owned_fields({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}) is None
    no_entries = copy.deepcopy(LIVE)
    no_entries["metadata"]["managedFields"] = []
    assert owned_fields(no_entries) is None
    assert owned_fields(LIVE, "nobody") is None
    assert owned_fields(LIVE, "kubectl-label") is None, "an Update entry is not an apply"
    assert owned_fields(LIVE, "kube-controller-manager") is None
    assert owned_fields(with_fields(RECONCILER_FIELDS, subresource="status")) is None
    assert owned_fields({}) is None


def test_identity_is_always_there() -> None:
    recovered = owned_fields(with_fields({}))
    assert recovered == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}}
    cluster_scoped = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "team", "labels": {"a": "1"},
        "managedFields": [{"manager": "reconciler", "operation": "Apply", "apiVersion": "v1",
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}}}]}}
    assert owned_fields(cluster_scoped) == {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "team", "labels": {"a": "1"}}}


def test_keyed_list_items_match_on_every_key_field_and_keep_live_order() -> None:
    live = copy.deepcopy(LIVE)
    main = live["spec"]["template"]["spec"]["containers"][1]
    main["ports"] = [{"containerPort": 9090, "protocol": "UDP", "name": "metrics"},
                     {"containerPort": 8080, "protocol": "UDP"},
                     {"containerPort": 8080},                       # no protocol: the server's default TCP
                     {"containerPort": 9090, "protocol": "TCP", "name": "metrics-tcp"}]
    fields = copy.deepcopy(RECONCILER_FIELDS)
    ports = fields["f:spec"]["f:template"]["f:spec"]["f:containers"][k(name="main")]["f:ports"]
    ports[k(containerPort=9090, protocol="TCP")] = {".": {}, "f:containerPort": {}, "f:name": {}}
    ports[k(containerPort=9090, protocol="UDP")] = {".": {}, "f:containerPort": {}, "f:protocol": {}}
    recovered = owned_fields(with_fields(fields, live))
    assert recovered is not None
    assert recovered["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 9090, "protocol": "UDP"}, {"containerPort": 8080},
        {"containerPort": 9090, "name": "metrics-tcp"}]


def test_sets_and_positions() -> None:
    live = copy.deepcopy(LIVE)
    live["metadata"]["finalizers"] = ["example.com/keep", "other.io/protect", "example.com/audit"]
    live["spec"]["template"]["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"},
                                                       {"key": "b", "operator": "Exists"}]
    fields = {"f:metadata": {"f:finalizers": {'v:"example.com/audit"': {}, 'v:"example.com/keep"': {}}},
              "f:spec": {"f:template": {"f:spec": {"f:tolerations": {"i:1": {"f:key": {}}}}}}}
    assert owned_fields(with_fields(fields, live)) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "finalizers": ["example.com/keep", "example.com/audit"]},
        "spec": {"template": {"spec": {"tolerations": [{"key": "b"}]}}}}


def test_elements_naming_the_same_item_add_up() -> None:
    fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
        k(name="main"): {".": {}, "f:name": {}, "f:image": {}}, "i:1": {"f:args": {}, "f:env": {k(name="A"): ITEM}}}}}}}
    recovered = owned_fields(with_fields(fields))
    assert recovered is not None
    assert recovered["spec"]["template"]["spec"]["containers"] == [
        {"name": "main", "image": "registry.example.com/app:v2", "args": ["--port", "8080"],
         "env": [{"name": "A", "value": "1"}]}]


def test_set_items_match_by_exact_json_value() -> None:
    live = copy.deepcopy(LIVE)
    live["spec"]["values"] = [1, "1", True, {"a": [1, 2]}, 1.5]
    fields = {"f:spec": {"f:values": {"v:1": {}, 'v:{"a":[1,2]}': {}}}}
    recovered = owned_fields(with_fields(fields, live))
    assert recovered is not None and recovered["spec"] == {"values": [1, {"a": [1, 2]}]}


def test_a_leaf_takes_the_whole_value() -> None:
    """Atomic lists and maps are leaves: their whole live value, whoever set parts of it."""
    recovered = owned_fields(LIVE)
    assert recovered is not None
    pod = recovered["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "default"}
    assert pod["containers"][0]["command"] == ["python3", "-m", "app"]
    assert recovered["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_owned_values_the_live_object_lacks_are_skipped() -> None:
    fields = {"f:metadata": {"f:annotations": {"f:gone": {}}},
              "f:spec": {"f:minReadySeconds": {}, "f:paused": {},
                         "f:strategy": {"f:rollingUpdate": {"f:maxSurge": {}}},
                         "f:template": {"f:spec": {"f:containers": {k(name="gone"): {".": {}, "f:name": {}}},
                                                   "f:volumes": {k(name="v"): {".": {}, "f:name": {}}}}}}}
    assert owned_fields(with_fields(fields)) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"strategy": {"rollingUpdate": {"maxSurge": "100%"}}}}


def test_a_shape_other_than_the_tree_says_is_skipped() -> None:
    fields = {"f:spec": {"f:selector": {"f:matchLabels": {"f:app": {}}},
                         "f:replicas": {"f:x": {}},                 # a number, not a map
                         "f:strategy": {k(name="x"): {"f:name": {}}}}}  # a map, not a list
    assert owned_fields(with_fields(fields)) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}}}


def test_a_bare_keyed_item_keeps_its_key() -> None:
    """An item owned only as itself (`.`) keeps its key fields, so that it can be applied again."""
    fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": {k(name="sidecar"): {".": {}}}}}}}
    recovered = owned_fields(with_fields(fields))
    assert recovered is not None and recovered["spec"]["template"]["spec"]["containers"] == [{"name": "sidecar"}]


def test_duplicate_keys_are_all_recovered() -> None:
    """The API server accepts duplicate env names; an element matches each of them."""
    live = copy.deepcopy(LIVE)
    live["spec"]["template"]["spec"]["containers"][1]["env"] = [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "3"}]
    recovered = owned_fields(with_fields(RECONCILER_FIELDS, live))
    assert recovered is not None
    assert recovered["spec"]["template"]["spec"]["containers"][0]["env"] == live["spec"]["template"]["spec"][
        "containers"][1]["env"]


def test_fields_the_manager_lost_to_a_forced_apply_are_gone() -> None:
    """Recorded: `other` forced label a away from the reconciler; then the reconciler took it back."""
    results = GOLDEN["scenarios"]["conflict"]["results"]
    taken = owned_fields(results[2]["object"])
    assert taken is not None and taken["metadata"]["labels"] == {"b": "2"}
    assert owned_fields(results[2]["object"], "other") == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "golden-conflict", "labels": {"a": "9"}}}
    back = owned_fields(results[3]["object"])
    assert back is not None and back["metadata"]["labels"] == {"a": "1", "b": "2"}


def test_initial_replicas_recorded_by_a_real_server_are_not_the_reconcilers() -> None:
    for result in GOLDEN["scenarios"]["initial_replicas_partial"]["results"][1:]:
        live = result["object"]
        assert live["spec"]["replicas"] == 3
        recovered = owned_fields(live)
        assert recovered is not None and "replicas" not in recovered["spec"]
        assert owned_fields(live, "reconciler-initial-replicas") == {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "golden-initial-replicas-partial"}, "spec": {"replicas": 3}}


#: Inside values the server treats as a whole, it fills in defaults the reconciler then owns.
FILLED = {"statefulset": ["apiVersion", "kind", "spec.volumeMode", "status"]}
#: Applied zero values the server normalises (a probe's 0s become defaults): recovered as stored.
NORMALISED = {"zero"}


@pytest.mark.parametrize("name", sorted(GOLDEN["objects"]))
def test_recorded_objects_give_back_what_was_applied(name: str) -> None:
    """Each object a real API server stored: the recovered rendering is the applied one, up to
    the server's normalisation (drift's comparison) and what it fills in inside atomic values."""
    recorded = GOLDEN["objects"][name]
    applied, live = copy.deepcopy(recorded["input"]), recorded["output"]
    if "namespace" in live["metadata"]:
        applied["metadata"]["namespace"] = live["metadata"]["namespace"]
    recovered = owned_fields(live)
    assert recovered is not None
    extra = differences(recovered, applied)
    if name in NORMALISED:
        assert {d.path.rsplit(".", 1)[0] for d in differences(applied, recovered)} == {
            "spec.template.spec.containers[a].livenessProbe"}
        return
    assert differences(applied, recovered) == []
    assert sorted({d.path.split("].", 1)[1] for d in extra}) == FILLED.get(name, [])


def test_recorded_statefulset_claim_templates_are_recovered_whole() -> None:
    live = GOLDEN["objects"]["statefulset"]["output"]
    recovered = owned_fields(live)
    assert recovered is not None
    assert recovered["spec"]["volumeClaimTemplates"] == live["spec"]["volumeClaimTemplates"]
    assert recovered["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"


@pytest.mark.parametrize("fields, message", [
    ({"f:spec": {"x:replicas": {}}}, "'x:replicas' at .spec: unknown kind"),
    ({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{name}": {}}}}}}, "'k:{name}' at .spec.template.spec"),
    ({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:[]": {}}}}}}, "not a non-empty JSON object"),
    ({"f:metadata": {"f:finalizers": {"v:nope": {}}}}, "'v:nope'"),
    ({"f:spec": {"f:template": {"f:spec": {"f:containers": {"i:first": {}}}}}}, "not a list position"),
    ({"f:spec": {"f:template": {"f:spec": {"f:containers": {"i:-1": {}}}}}}, "not a list position"),
    ({"f:spec": {"f:replicas": []}}, "'f:replicas' at .spec maps to [], not an object"),
    ({"f:spec": {"f:a": {}, "i:0": {}}}, "mixes fields and list items"),
    ({"f:spec": "x"}, "'f:spec' maps to 'x'"),
])
def test_malformed_fields_v1_is_an_error(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="FieldsV1") as raised:
        owned_fields(with_fields(fields))
    assert message in str(raised.value)


def test_unsupported_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="unsupported fieldsType 'FieldsV2'"):
        owned_fields(with_fields({}, fieldsType="FieldsV2"))
    with pytest.raises(ValueError, match="fieldsV1 is not an object"):
        owned_fields(with_fields({}, fieldsV1="f:spec"))


def test_an_entry_of_another_api_version_is_an_error() -> None:
    """Its field paths are those of the version it was applied in (the server does not convert them)."""
    with pytest.raises(ValueError, match="is for autoscaling/v2, the object is autoscaling/v1"):
        owned_fields({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {
            "name": "x", "managedFields": [{"manager": "reconciler", "operation": "Apply",
                                            "apiVersion": "autoscaling/v2", "fieldsV1": {}}]}})


# -- strip_annotations -------------------------------------------------------------------------

def test_strip_annotations() -> None:
    obj = {"metadata": {"name": "x", "annotations": {"a": "1", "b": "2"}}, "spec": {"k": [1]}}
    out = strip_annotations(obj, ["a", "missing"])
    assert out == {"metadata": {"name": "x", "annotations": {"b": "2"}}, "spec": {"k": [1]}}
    assert strip_annotations(obj, ("a", "b")) == {"metadata": {"name": "x"}, "spec": {"k": [1]}}
    assert obj["metadata"]["annotations"] == {"a": "1", "b": "2"}, "the input is not modified"
    out["spec"]["k"].append(2)
    assert obj["spec"]["k"] == [1], "a deep copy"
    assert strip_annotations({"metadata": {"name": "x"}}, ["a"]) == {"metadata": {"name": "x"}}
    assert strip_annotations({"kind": "X"}, ["a"]) == {"kind": "X"}


def test_strip_bookkeeping_from_a_recovered_rendering() -> None:
    recovered = owned_fields(LIVE)
    assert recovered is not None
    clean = strip_annotations(recovered, ["example.com/bounce-started-at", "example.com/last-healthy"])
    assert "annotations" not in clean["metadata"]
    assert clean["metadata"]["labels"] == APPLIED["metadata"]["labels"]


# -- pack / unpack -----------------------------------------------------------------------------

def test_pack_round_trip_is_compact_ascii_and_deterministic() -> None:
    recovered = owned_fields(LIVE)
    assert recovered is not None
    text = pack(recovered)
    assert unpack(text) == recovered
    assert text.isascii() and len(text) < len(json.dumps(recovered))
    reordered = json.loads(json.dumps(recovered, sort_keys=True))
    assert pack(reordered) == text, "the same object packs to the same text, whatever its key order"
    assert json.loads(zlib.decompress(base64.b64decode(text))) == recovered, "plain zlib inside base64"
    assert unpack(pack({"é": "ünïcode ✓"})) == {"é": "ünïcode ✓"}


def test_a_recorded_rendering_packs_small() -> None:
    recovered = owned_fields(GOLDEN["objects"]["statefulset"]["output"])
    assert recovered is not None
    assert len(pack(recovered)) < 4096  # far under the 256 KiB every annotation of an object shares


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("text, message", [
    ("not base64!", "not base64"),
    ("é", "not base64"),
    (_b64(b"plain text, not zlib"), "not zlib data"),
    (_b64(zlib.compress(b'{"a": 1}')[:-3]), "truncated"),
    (_b64(zlib.compress(b'{"a": 1}') + b"junk"), "data after its zlib stream"),
    (_b64(zlib.compress(b"{not json")), "not JSON"),
    (_b64(zlib.compress(b"\xff\xfe")), "not JSON"),
    (_b64(zlib.compress(b'{"a": NaN}')), "not JSON"),
    (_b64(zlib.compress(b"[1, 2]")), "a JSON list, not an object"),
    (_b64(zlib.compress(b'"text"')), "a JSON str, not an object"),
    ("", "packed value is empty"),
])
def test_unpack_refuses_malformed_values(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="packed value") as raised:
        unpack(text)
    assert message in str(raised.value)


def test_unpack_refuses_a_zip_bomb() -> None:
    bomb = _b64(zlib.compress(b'{"a":"' + b"x" * (64 * MAX_UNPACKED) + b'"}', 9))
    assert len(bomb) < 100_000
    with pytest.raises(ValueError, match="decompresses to more than 1048576 bytes"):
        unpack(bomb)
    exact = _b64(zlib.compress(b'{"a":"' + b"x" * (MAX_UNPACKED - 8) + b'"}'))
    assert len(unpack(exact)["a"]) == MAX_UNPACKED - 8, "exactly the limit is fine"


def test_unpack_refuses_what_is_not_text() -> None:
    with pytest.raises(ValueError, match="a bytes, not a string"):
        unpack(b"eJyrVgIAAGsAVw==")  # type: ignore[arg-type]


def test_pack_refuses_what_an_annotation_cannot_hold() -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        pack({"a": {1, 2}})
    with pytest.raises(ValueError, match="not a JSON object"):
        pack({"a": float("nan")})
    with pytest.raises(ValueError, match="more than 1048576"):
        pack({"a": "x" * MAX_UNPACKED})
    random_text = base64.b64encode(random.Random(0).randbytes(60_000)).decode()  # barely compressible
    with pytest.raises(ValueError, match="characters packed, more than 65536"):
        pack({"a": random_text})
