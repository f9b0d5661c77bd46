"""The planner: desired (rendered) vs live (as the API lists it) -> ordered actions with reasons."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.engine.actions import Desired, Plan, Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Policy
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
K8S = """
main:
  instances: 3
canary:
  instances: 1
"""


def desired(k8s: str = K8S, *names: str, **kw: Any) -> list[Desired]:
    out: list[Desired] = []
    for name in names or ("main", "canary"):
        result = render(k8s, name, **kw)
        assert result.objects, result.error_text()
        out += [Desired(o, "svc", name) for o in result.objects]
    return out


def as_live(obj: Mapping[str, Any], sha: str | None = None, replicas: int | None = None,
            managed: bool = True) -> dict[str, Any]:
    """`obj` as the API returns it: uid, resourceVersion, some server defaults and status."""
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    meta.update(uid=f"uid-{meta['name']}", resourceVersion="42")
    if sha is not None:
        meta["labels"][f"{DOMAIN}/config_sha"] = sha
    if not managed:
        meta["labels"] = {"app": "theirs"}
    if out["kind"] in ("Deployment", "StatefulSet"):
        out["spec"]["template"]["spec"].setdefault("restartPolicy", "Always")
        for claim in out["spec"].get("volumeClaimTemplates", []):
            claim.update(apiVersion="v1", kind="PersistentVolumeClaim", status={"phase": "Pending"})
            claim["spec"]["volumeMode"] = "Filesystem"
        if replicas is not None:
            out["spec"]["replicas"] = replicas
        out["status"] = {"replicas": out["spec"].get("replicas", 1), "observedGeneration": 1}
    return out


def live_of(items: list[Desired]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for d in items:
        seen.setdefault((d.obj["kind"], d.obj["metadata"]["name"]), as_live(d.obj))
    return list(seen.values())


def run(want: list[Desired], have: list[dict[str, Any]], *, drift: bool = False, sources_ok: bool = True,
        protected_services: frozenset[str] = frozenset(), protected_instances: frozenset[tuple[str, str]] = frozenset(),
        recent: dict[str, int] | None = None, **policy: Any) -> Plan:
    return plan(Wanted(want, protected_services, protected_instances), have, Policy("norcal-prod", DOMAIN, **policy),
                compare=drift, sources_ok=sources_ok, recent=recent)


def steps(p: Plan) -> list[tuple[str, str, str]]:
    return [(a.action, a.kind, a.name) for a in p.actions]


def test_first_plan_creates_everything_in_order() -> None:
    p = run(desired(), [])
    assert steps(p) == [
        ("create", "Namespace", "paastasvc-svc"),
        ("create", "Deployment", "svc-main"), ("create", "Deployment", "svc-canary"),
        ("create", "PodDisruptionBudget", "svc-main"), ("create", "PodDisruptionBudget", "svc-canary"),
    ]
    assert all(a.reason == "not on the cluster" for a in p.actions)
    assert p.actions[0].namespace is None and p.actions[1].namespace == "paastasvc-svc"
    assert p.summary() == {"create": 5, "update": 0, "scale": 0, "delete": 0, "noop": 0, "wait": 0}
    assert p.prune.as_dict() == {"candidates": 0, "refused": False, "reason": None}


def test_identical_live_is_all_noop() -> None:
    want = desired()
    p = run(want, live_of(want), prune=True)
    assert {a.action for a in p.actions} == {"noop"} and len(p.actions) == 5
    assert all(a.reason == "in sync" for a in p.actions)


def test_config_change_is_an_update() -> None:
    want = desired()
    have = live_of(want)
    have[1] = as_live(have[1], sha="configold")
    p = run(want, have)
    changed = [a for a in p.actions if a.action != "noop"]
    assert [(a.action, a.kind, a.name, a.reason) for a in changed] == [
        ("update", "Deployment", "svc-main", "config_sha changed")]
    assert changed[0].live is have[1] and changed[0].desired is not None


def test_an_update_names_the_fields_it_changes_and_whether_pods_restart() -> None:
    before = live_of(desired("main: {instances: 2}\ncanary: {}\n"))
    after = desired("main: {instances: 2, cpus: 3}\ncanary: {}\n")
    (update,) = [a for a in run(after, before).actions if a.action == "update"]
    assert update.reason.startswith("config_sha changed: spec.template.spec.containers[main].")
    assert "resources.requests.cpu (git '3', live '1')" in update.reason
    assert update.reason.endswith("; pods restart") and "config_sha\"]" not in update.reason


def test_instances_change_is_a_scale() -> None:
    want = desired()
    have = [as_live(o, replicas=5) if o["kind"] == "Deployment" and o["metadata"]["name"] == "svc-main"
            else o for o in live_of(want)]
    p = run(want, have)
    scale = [a for a in p.actions if a.action != "noop"]
    assert [(a.action, a.name, a.reason) for a in scale] == [("scale", "svc-main", "replicas 5 -> 3")]


def test_autoscaled_never_scales() -> None:
    k8s = "main:\n  min_instances: 2\n  max_instances: 10\n"
    want = desired(k8s, "main")
    assert "HorizontalPodAutoscaler" in [d.obj["kind"] for d in want]
    have = [as_live(o, replicas=7) if o["kind"] == "Deployment" else o for o in live_of(want)]
    p = run(want, have)
    assert {a.action for a in p.actions} == {"noop"}
    assert steps(p)[-1][1] == "HorizontalPodAutoscaler"


def test_stop_is_a_scale_to_zero() -> None:
    running = desired()
    stopped = desired(controls={"svc:norcal-prod.main": {"desired_state": "stop", "force_bounce": None}})
    main = next(d.obj for d in stopped if d.obj["kind"] == "Deployment" and d.instance == "main")
    assert main["spec"]["replicas"] == 0
    p = run(stopped, live_of(running))
    assert [(a.action, a.name, a.reason) for a in p.actions if a.action != "noop"] == [
        ("scale", "svc-main", "replicas 3 -> 0")]


def test_stopping_an_autoscaled_instance_deletes_its_hpa_whatever_prune_says() -> None:
    k8s = "main:\n  min_instances: 2\n  max_instances: 10\n"
    running = desired(k8s, "main")
    stop = {"svc:norcal-prod.main": {"desired_state": "stop", "force_bounce": None}}
    stopped = desired(k8s, "main", controls=stop)
    assert "HorizontalPodAutoscaler" not in [d.obj["kind"] for d in stopped]
    have = [as_live(o, replicas=4) if o["kind"] == "Deployment" else o for o in live_of(running)]
    p = run(stopped, have)  # prune is off
    assert [(a.action, a.kind, a.reason) for a in p.actions if a.action != "noop"] == [
        ("scale", "Deployment", "replicas 4 -> 0"),
        ("delete", "HorizontalPodAutoscaler",
         "the instance no longer has a HorizontalPodAutoscaler (stopped, or no longer autoscaled)")]
    assert p.prune.candidates == 0
    # started again: replicas from 0 to min_instances, and the HPA back
    have = [as_live(o, replicas=0) if o["kind"] == "Deployment" else o for o in live_of(stopped)]
    p = run(running, have)
    assert [(a.action, a.kind) for a in p.actions if a.action != "noop"] == [
        ("scale", "Deployment"), ("create", "HorizontalPodAutoscaler")]


def test_drift_is_healed_or_reported() -> None:
    want = desired(K8S, "main")
    have = live_of(want)
    work = next(o for o in have if o["kind"] == "Deployment")
    work["spec"]["template"]["spec"]["containers"][0]["image"] = "edited:by-hand"
    assert {a.action for a in run(want, have).actions} == {"noop"}  # config_sha alone sees nothing
    p = run(want, have, drift=True)
    (update,) = [a for a in p.actions if a.action != "noop"]
    assert update.action == "update" and update.kind == "Deployment"
    assert update.reason.startswith("drift: spec.template.spec.containers[main].image (git ")
    assert "live 'edited:by-hand'" in update.reason
    quiet = run(want, have, drift=True, heal_drift=False)
    assert {a.action for a in quiet.actions} == {"noop"}
    assert any(a.reason.startswith("drifted, not healed (heal_drift is off): ") for a in quiet.actions)
    ignored = run(want, have, drift=True,
                  ignore={"Deployment": ["/spec/template/spec/containers/0/image"]})
    assert {a.action for a in ignored.actions} == {"noop"}
    # a metadata-only listing (no spec) is never taken for drift
    bare = [{k: v for k, v in o.items() if k != "spec"} for o in live_of(want)]
    assert {a.action for a in run(want, bare, drift=True).actions} <= {"noop", "scale"}


def removed_canary(**kw: Any) -> Plan:
    return run(desired(K8S, "main"), live_of(desired()), **kw)


def test_removed_instance_is_deleted_only_with_prune_on() -> None:
    off = removed_canary()
    assert off.summary()["delete"] == 0
    assert off.prune.as_dict() == {"candidates": 2, "refused": True, "reason": "prune is off"}
    on = removed_canary(prune=True, max_prune_fraction=0.5)
    assert on.prune.as_dict() == {"candidates": 2, "refused": False, "reason": None}
    deletes = [(a.action, a.kind, a.name, a.service, a.instance, a.reason) for a in on.actions[-2:]]
    assert deletes == [  # PDB before the workload, and after every other action
        ("delete", "PodDisruptionBudget", "svc-canary", "svc", "canary", "no longer in git"),
        ("delete", "Deployment", "svc-canary", "svc", "canary", "no longer in git"),
    ]
    assert on.summary()["delete"] == 2 and on.summary()["noop"] == 3


def test_prune_refused_when_the_sources_could_not_be_read() -> None:
    p = removed_canary(prune=True, sources_ok=False)
    assert p.summary()["delete"] == 0
    assert p.prune.as_dict() == {"candidates": 2, "refused": True, "reason": "the sources could not be read"}


def test_prune_refused_over_the_fraction_unless_allowed() -> None:
    p = removed_canary(prune=True, max_prune_fraction=0.4)
    assert p.summary()["delete"] == 0
    assert p.prune.refused and p.prune.reason == (
        "would delete 1 of 2 managed workloads (50%), over max_prune_fraction 0.4")
    allowed = removed_canary(prune=True, max_prune_fraction=0.4, allow_mass_prune=True)
    assert allowed.summary()["delete"] == 2 and not allowed.prune.refused


def test_prune_fraction_counts_managed_workloads_only() -> None:
    ten = "\n".join(f"i{n}:\n  instances: 1" for n in range(10))
    names = [f"i{n}" for n in range(10)]
    have = live_of(desired(ten, *names)) + [as_live(desired()[1].obj, managed=False)]
    p = run(desired(ten, *names[:4]), have, prune=True)
    assert p.prune.reason == "would delete 6 of 10 managed workloads (60%), over max_prune_fraction 0.5"
    assert run(desired(ten, *names[:5]), have, prune=True).summary()["delete"] == 10


def test_protected_service_and_instance_never_deleted() -> None:
    assert removed_canary(prune=True, protected_services=frozenset({"svc"})).prune.candidates == 0
    p = removed_canary(prune=True, protected_instances=frozenset({("svc", "canary")}))
    assert p.prune.candidates == 0 and p.summary()["delete"] == 0
    other = removed_canary(prune=True, protected_instances=frozenset({("svc", "main")}))
    assert other.summary()["delete"] == 2


def test_namespace_is_never_deleted() -> None:
    p = run([], live_of(desired()), prune=True, allow_mass_prune=True)
    assert p.prune.candidates == 4
    assert [a.kind for a in p.actions] == ["PodDisruptionBudget", "PodDisruptionBudget",
                                           "Deployment", "Deployment"]


def test_unlabelled_managed_object_is_a_candidate() -> None:
    stray = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
             "metadata": {"name": "old", "namespace": "x", "labels": {f"{DOMAIN}/managed": "true"}}}
    p = run([], [stray], prune=True)
    assert [(a.action, a.service, a.instance) for a in p.actions] == [("delete", "", "")]


def test_unmanaged_collision_waits_and_is_never_touched() -> None:
    want = desired(K8S, "main")
    have = live_of(want)
    have[1] = as_live(have[1], sha="other", managed=False)
    p = run(want, have, prune=True, allow_recreate=True)
    wait = [a for a in p.actions if a.kind == "Deployment"]
    assert [(a.action, a.reason) for a in wait] == [
        ("wait", "collision: an unmanaged Deployment of that name exists; not touched")]
    assert p.summary()["update"] == 0 and p.summary()["delete"] == 0


DB = """
main:
  instances: 2
  persistent_volumes:
    - {container_path: /data, size: 10}
"""


def test_kind_change_waits_unless_allow_recreate() -> None:
    want = desired(DB, "main")
    have = live_of(desired(K8S, "main"))
    p = run(want, have, prune=True)
    sts = [a for a in p.actions if a.kind in ("StatefulSet", "Deployment")]
    assert [(a.action, a.kind) for a in sts] == [("wait", "StatefulSet")]
    assert "must be recreated" in sts[0].reason and "allow_recreate is off" in sts[0].reason
    assert p.prune.candidates == 0 and p.summary()["delete"] == 0

    again = run(want, have, allow_recreate=True)
    assert [s for s in steps(again) if s[0] != "noop"] == [
        ("create", "StatefulSet", "svc-main"), ("delete", "Deployment", "svc-main")]
    assert again.actions[-1].action == "delete" and again.prune.candidates == 0


def test_downthenup_kind_change_deletes_first() -> None:
    want = desired(DB, "main")
    have = live_of(desired("main:\n  instances: 3\n  bounce_method: downthenup\n", "main"))
    p = run(want, have, allow_recreate=True)
    assert [s for s in steps(p) if s[0] != "noop"] == [
        ("delete", "Deployment", "svc-main"), ("create", "StatefulSet", "svc-main")]


def test_immutable_field_change_needs_recreate() -> None:
    want = desired(DB, "main")
    have = live_of(want)
    assert {a.action for a in run(want, have).actions} == {"noop"}  # server defaults are no change
    sts = next(o for o in have if o["kind"] == "StatefulSet")
    sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
    sts["metadata"]["labels"][f"{DOMAIN}/config_sha"] = "configold"
    p = run(want, have)
    wait = [a for a in p.actions if a.action != "noop"]
    assert [(a.action, a.kind) for a in wait] == [("wait", "StatefulSet")]
    assert "spec.volumeClaimTemplates" in wait[0].reason and "allow_recreate is off" in wait[0].reason
    recreate = run(want, have, allow_recreate=True)
    assert [s for s in steps(recreate) if s[0] != "noop"] == [
        ("delete", "StatefulSet", "svc-main"), ("create", "StatefulSet", "svc-main")]


def test_selector_change_with_extra_live_label_needs_recreate() -> None:
    want = desired(K8S, "main")
    have = live_of(want)
    have[1]["spec"]["selector"]["matchLabels"]["extra"] = "x"
    assert [a.action for a in run(want, have).actions if a.kind == "Deployment"] == ["wait"]


def test_as_dict_shapes_match_the_spec() -> None:
    p = removed_canary(prune=True)
    doc = p.as_dict()
    assert set(doc) == {"cluster", "actions", "summary", "prune", "halted_trains"}
    assert doc["cluster"] == "norcal-prod"
    assert set(doc["summary"]) == {"create", "update", "scale", "delete", "noop", "wait"}
    assert set(doc["prune"]) == {"candidates", "refused", "reason"}
    assert doc["actions"][1] == {"action": "noop", "kind": "Deployment", "namespace": "paastasvc-svc",
                                 "name": "svc-main", "service": "svc", "instance": "main",
                                 "reason": "in sync"}
    assert all(set(a) == {"action", "kind", "namespace", "name", "service", "instance", "reason"}
               and a["reason"] for a in doc["actions"])


def test_deterministic() -> None:
    want, have = desired(K8S, "main"), live_of(desired())
    assert run(want, have, prune=True) == run(want, have, prune=True)


def test_the_prune_fraction_counts_the_deletions_of_the_window() -> None:
    ten = "\n".join(f"i{n}:\n  instances: 1" for n in range(10))
    names = [f"i{n}" for n in range(10)]
    five_left = live_of(desired(ten, *names[:5]))
    # an earlier commit deleted five of ten: 2 more now would make 7 of 10 in the window
    p = run(desired(ten, *names[:3]), five_left, prune=True, recent={"workloads": 5})
    assert p.prune.refused and p.summary()["delete"] == 0
    assert p.prune.reason == ("would delete 2 of 5 managed workloads, after 5 deleted in the last 3600 s "
                              "(70% of 10), over max_prune_fraction 0.5")
    assert run(desired(ten, *names[:3]), five_left, prune=True).summary()["delete"] == 4  # 2 of 5 alone: fine
    assert not run(desired(ten, *names[:3]), five_left, prune=True, recent={"workloads": 5},
                   allow_mass_prune=True).prune.refused
    # what other groups deleted does not count against workloads
    assert not run(desired(ten, *names[:3]), five_left, prune=True, recent={"services": 50}).prune.refused


def test_prune_deletes_carry_their_group_and_companions_count_in_none() -> None:
    p = removed_canary(prune=True)
    groups = {(a.kind, a.prune_group) for a in p.actions if a.action == "delete"}
    assert groups == {("Deployment", "workloads"), ("PodDisruptionBudget", "")}
    assert [(g.group, g.doomed, g.managed) for g in p.prune.groups] == [("workloads", 1, 2)]
    other = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "x", "namespace": "n", "labels": {f"{DOMAIN}/managed": "true"}}}
    p = run([], [other], prune=True)
    assert p.prune.refused and "1 of 1 other managed objects" in (p.prune.reason or "")
