"""Freezes on both backends: an ad-hoc freeze stored on the cluster holds a bounce until it is lifted,
and overriding it lets the bounce through for one cycle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reconciler.config.model import FreezeWindow
from reconciler.engine.freeze import Freeze
from reconciler.reconcile.freezes import UnreadableFreezes, entry, read_freezes, update_freezes, without
from reconciler.report.status import instance_rows
from tests.support.fleet import BAD, FIXED, GOOD

ONE = "a: {instances: 1, deploy_group: prod}\n"


def test_an_ad_hoc_freeze_holds_bounces_until_unfrozen_and_an_override_lets_one_run_through(fleet: Any) -> None:
    f = fleet()
    f.write(ONE, {"prod": GOOD})
    f.settled()
    now = datetime.now(timezone.utc)
    freeze = Freeze("incident-42", now + timedelta(hours=1), reason="incident", source="ad-hoc")
    update_freezes(f.cluster, f.policy, lambda entries: [*entries, entry(freeze, by="test", at=now)])
    assert [x.name for x in read_freezes(f.cluster, f.policy)] == ["incident-42"]

    f.write(ONE, {"prod": FIXED})
    held = f.cycle()
    [wait] = [a for a in held.plan.actions if a.kind == "Deployment"]
    assert wait.action == "wait" and wait.reason.startswith("Frozen (incident-42 until ")
    rows = instance_rows("local", f.revision().view().results, held.plan, held.health, label_domain=f.domain)
    assert [r.status for r in rows] == ["Frozen"]
    assert GOOD in f.image("a")
    assert [x["name"] for x in held.as_dict()["freezes"]] == ["incident-42"]

    overridden = f.cycle(override_freeze=True)
    assert overridden.freeze_overridden
    assert [a.action for a in overridden.plan.actions if a.kind == "Deployment"] == ["update"]
    assert FIXED in f.image("a")

    f.write(ONE, {"prod": BAD})
    assert [a.action for a in f.cycle().plan.actions if a.kind == "Deployment"] == ["wait"]
    update_freezes(f.cluster, f.policy, lambda entries: without(entries, "incident-42"))
    assert read_freezes(f.cluster, f.policy) == ()
    assert [a.action for a in f.cycle().plan.actions if a.kind == "Deployment"] == ["update"]


def test_a_configured_window_holds_and_an_unreadable_annotation_freezes_everything(fleet: Any) -> None:
    f = fleet()
    f.write(ONE, {"prod": GOOD})
    f.settled()
    always = FreezeWindow("always", "* * * * *", 3600, services=frozenset({f.service}))
    f.write(ONE, {"prod": FIXED})
    held = f.cycle(freeze_windows=(always,))
    assert [a.reason.split(" until")[0] for a in held.plan.actions if a.kind == "Deployment"] == ["Frozen (always"]
    f.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": f.ledger_namespace, "annotations": {f.policy.key("freezes"): "{not json"}}}, field_manager="kubectl")
    [stored] = read_freezes(f.cluster, f.policy)
    assert stored.name == "unreadable-freeze" and stored.until is None
    assert [a.action for a in f.cycle().plan.actions if a.kind == "Deployment"] == ["wait"]
    # nothing writes over it by accident: only clearing every ad-hoc freeze may
    with pytest.raises(UnreadableFreezes):
        update_freezes(f.cluster, f.policy, lambda entries: [*entries, {"name": "x", "until": None}])
    assert update_freezes(f.cluster, f.policy, lambda entries: without(entries, None), clear_unreadable=True) == []
    assert read_freezes(f.cluster, f.policy) == ()
