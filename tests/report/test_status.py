"""Instance status rows from a plan and health (pure): one status per instance, by precedence."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.engine.health import COMPLETE, FAILED, PROGRESSING, UNAVAILABLE, Health
from reconciler.engine.actions import Desired, Plan, Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Budget, Policy
from reconciler.engine.rollout import gate
from reconciler.render.service import RenderResult
from reconciler.report.status import SETTLED, STATUSES, counts, instance_rows
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
CLUSTER = "norcal-prod"
K8S = "".join(f"{n}: {{instances: 2}}\n" for n in ("a", "b", "c")) + "bad: {instances: -1}\nnew: {instances: 1}\n"


def results() -> list[RenderResult]:
    deployed = {f"{CLUSTER}.{n}": "1" * 40 for n in ("a", "b", "c", "bad")}
    return [render(K8S, n, deployed=deployed) for n in ("a", "b", "c", "bad", "new")]


def desired(rs: list[RenderResult]) -> list[Desired]:
    return [Desired(o, r.service, r.instance or "") for r in rs for o in r.objects]


def live(want: list[Desired], **edits: Any) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in want:
        obj = copy.deepcopy(dict(d.obj))
        obj["metadata"]["uid"] = "u"
        if obj["kind"] == "Deployment" and d.instance in edits:
            edits[d.instance](obj)
        out.setdefault((obj["kind"], obj["metadata"]["name"]), obj)
    return list(out.values())


def planned(want: list[Desired], have: list[dict[str, Any]], *, drift: bool = False, **policy: Any) -> Plan:
    return plan(Wanted(want), have, Policy(CLUSTER, DOMAIN, **policy), compare=drift)


def key(instance: str) -> tuple[str, str, str]:
    return ("Deployment", "paastasvc-svc", f"svc-{instance}")


def statuses(rows: list[Any]) -> dict[str, str]:
    return {r.instance: r.status for r in rows}


def test_invalid_not_deployed_synced_and_missing() -> None:
    rs = results()
    want = desired(rs)
    have = [o for o in live(want) if o["metadata"]["name"] != "svc-c"]
    p = planned(want, have)
    health = {key(n): Health(COMPLETE) for n in ("a", "b")}
    rows = instance_rows(CLUSTER, rs, p, health, label_domain=DOMAIN)
    assert statuses(rows) == {"a": "Synced", "b": "Synced", "c": "Missing", "bad": "Invalid", "new": "NotDeployed"}
    a = next(r for r in rows if r.instance == "a").as_dict()
    assert a["desired"] == {"git_sha": "1" * 40, "config_sha": a["desired"]["config_sha"], "replicas": 2}
    assert a["live"]["config_sha"] == a["desired"]["config_sha"] and a["live"]["ready_replicas"] == 0
    assert a["train"] == {"halted": False, "failed_config_sha": None, "reason": None}
    assert set(a) >= {"cluster", "service", "instance", "status", "desired", "live", "differences", "since", "message"}
    assert counts(rows)["Synced"] == 2 and set(counts(rows)) == set(STATUSES)


def test_degraded_progressing_waiting_out_of_sync_drifted_stopped() -> None:
    rs = results()[:3]
    want = desired(rs)

    def old(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"][f"{DOMAIN}/config_sha"] = "configold"

    have = live(want, a=old, b=old)
    p = planned(want, have)
    assert statuses(instance_rows(CLUSTER, rs, p, {}, label_domain=DOMAIN)) == {
        "a": "OutOfSync", "b": "OutOfSync", "c": "Synced"}
    gated = gate(p, have, Policy(CLUSTER, DOMAIN, budget=Budget(max_concurrent_bounces=1)),
                 now=__import__("datetime").datetime.now())
    assert statuses(instance_rows(CLUSTER, rs, gated, {}, label_domain=DOMAIN))["b"] == "Waiting"
    health = {key("a"): Health(FAILED, "pods crash"), key("b"): Health(PROGRESSING, "1 of 2"),
              key("c"): Health(UNAVAILABLE, "1 of 2 pods unavailable outside a rollout")}
    rows = instance_rows(CLUSTER, rs, gated, health, label_domain=DOMAIN)
    assert statuses(rows) == {"a": "Degraded", "b": "Progressing", "c": "Degraded"}
    assert next(r for r in rows if r.instance == "a").message == "pods crash"

    def edited(obj: dict[str, Any]) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "by-hand"

    drifted = planned(want, live(want, a=edited), drift=True)
    assert statuses(instance_rows(CLUSTER, rs, drifted, {}, label_domain=DOMAIN))["a"] == "Drifted"
    stopped = [render(K8S, "a", deployed={f"{CLUSTER}.a": "1" * 40},
                      controls={f"svc:{CLUSTER}.a": {"desired_state": "stop", "force_bounce": None}})]
    sw = desired(stopped)
    rows = instance_rows(CLUSTER, stopped, planned(sw, live(sw)), {},
                         label_domain=DOMAIN)
    assert statuses(rows) == {"a": "Stopped"} and "Stopped" in SETTLED


def test_orphans() -> None:
    rs = results()
    want = desired(rs)
    kept = [r for r in rs if r.instance != "b"]
    for prune, fate in ((False, "not deleted: prune is off"), (True, "deleted this cycle")):
        p = planned(desired(kept), live(want), prune=prune, max_prune_fraction=1.0)
        (orphan,) = [r for r in instance_rows(CLUSTER, kept, p, {}, label_domain=DOMAIN) if r.status == "Orphaned"]
        assert orphan.instance == "b" and orphan.message.endswith(fate)
        assert "Deployment paastasvc-svc/svc-b" in orphan.message


def test_differences_and_since_come_from_the_objects() -> None:
    rs = results()[:2]
    want = desired(rs)

    def edited(obj: dict[str, Any]) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "by-hand"
        obj["metadata"]["managedFields"] = [
            {"manager": "reconciler", "operation": "Apply", "time": "2024-05-01T10:00:00Z"},
            {"manager": "kubectl-edit", "operation": "Update", "time": "2024-05-01T11:30:00Z"},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "time": "2024-05-01T11:45:00Z"}]

    def rolling(obj: dict[str, Any]) -> None:
        obj["metadata"]["annotations"] = {f"{DOMAIN}/bounce-started-at": "2024-05-01T12:00:00.000Z"}

    p = planned(want, live(want, a=edited, b=rolling), drift=True)
    rows = {r.instance: r for r in instance_rows(CLUSTER, rs, p, {key("b"): Health(PROGRESSING, "1 of 2")},
                                                 label_domain=DOMAIN, changed_at="2024-05-01T09:00:00Z")}
    a = rows["a"].as_dict()
    assert a["status"] == "Drifted" and a["since"] == "2024-05-01T11:30:00Z"  # kubectl edit's time
    assert a["differences"] == [{"kind": "Deployment", "path": "spec.template.spec.containers[a].image",
                                 "desired": "services-svc:paasta-" + "1" * 40, "live": "by-hand"}]
    assert rows["b"].status == "Progressing" and rows["b"].since == "2024-05-01T12:00:00.000Z"
    missing = instance_rows(CLUSTER, rs, planned(want, []), {}, label_domain=DOMAIN,
                            changed_at="2024-05-01T09:00:00Z")
    assert {r.status: r.since for r in missing} == {"Missing": "2024-05-01T09:00:00Z"}
