"""Drills: faults around a running daemon — a mass deletion split over commits, a hand edit with
a secret in it, abuse of the HTTP listener, a corrupted git mirror. Each ends with the common
checks: nothing git still has deleted, no second bounce, no secret in any output."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from tests.drills.conftest import CLUSTER, HOOK_SECRET

ONE = "main: {instances: 1}\n"


def test_a_mass_prune_split_over_commits_is_refused_once_the_window_holds_half(drill: Any) -> None:
    d = drill()
    names = ["p1", "p2", "p3", "p4"]
    d.services({n: ONE for n in names})
    daemon = d.daemon()
    d.settled(daemon, *names)
    before = d.workloads()

    for gone in ("p1", "p2"):  # one commit each, 25% of the workloads: each is within the bound
        d.soa.commit({f"{gone}/kubernetes-{CLUSTER}.yaml": None}, message=f"remove {gone}")
        namespace = f"paastasvc-{gone}"
        daemon.wait_for(lambda ns=namespace: all(k[0] != ns for k in d.workloads()), f"{gone} pruned", 60)
    d.soa.commit({f"p3/kubernetes-{CLUSTER}.yaml": None}, message="remove p3")
    row = d.visible(daemon, "p3", "main", "Orphaned", "not deleted: would delete 1 of 2 managed workloads, after 2 deleted",
                    "prune_refused")
    assert "over max_prune_fraction 0.5" in row["message"]
    time.sleep(2)  # a few more cycles: still refused, still there
    assert ("paastasvc-p3", "p3-main") in d.workloads()
    assert next(e for e in daemon.logs() if e.get("event") == "prune_refused")["cluster"] == CLUSTER
    daemon.wait_for(lambda: any(json.loads(r["body"])["type"] == "prune_refused" for r in d.receiver.requests),
                    "a prune_refused notification", 30)
    code, out = d.cli("plan", "-o", "json")
    assert code == 1 and '"refused": true' in out
    d.unharmed({k: v for k, v in before.items() if k[0] not in ("paastasvc-p1", "paastasvc-p2")})
    d.no_secrets(daemon)


def test_a_hand_edit_is_drift_with_its_value_redacted_and_healed_once(drill: Any) -> None:
    d = drill()
    planted = "hunter2-planted-by-hand-9d1c"
    d.secrets.append(planted)
    d.services({"web": ONE})
    daemon = d.daemon("--resync-interval", "1")
    d.settled(daemon, "web")
    live = d.cluster.get("Deployment", "web-main", "paastasvc-web")
    container = live["spec"]["template"]["spec"]["containers"][0]["name"]
    edit = d.root / "edit.json"
    edit.write_text(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-main", "namespace": "paastasvc-web"},
        "spec": {"template": {"spec": {"containers": [{"name": container,
                                                        "env": [{"name": "DEBUG_TOKEN", "value": planted}]}]}}}}))
    code, out = d.cli("sim", "apply", "-f", str(edit), "--field-manager", "kubectl-set")
    assert code == 0, out
    before = d.workloads()  # the edit itself moved the generation; the heal may move it once

    path = f"spec.template.spec.containers[{container}].env[DEBUG_TOKEN]"

    def reported() -> bool:  # healed in the cycle that found it: the report of that cycle names it
        return any(path in (e.get("message") or "") or path in json.dumps(e) for e in daemon.logs())
    daemon.wait_for(reported, "the hand edit in a log line", 60)
    daemon.wait_for(lambda: all(e["name"] != "DEBUG_TOKEN" for e in d.cluster.get(
        "Deployment", "web-main", "paastasvc-web")["spec"]["template"]["spec"]["containers"][0].get("env", [])),
        "the hand edit healed", 60)
    line = next(e for e in daemon.logs() if path in json.dumps(e))
    assert "<redacted hmac:" in json.dumps(line)
    d.settled(daemon, "web")
    time.sleep(2)  # resyncs after the heal change nothing
    d.unharmed(before, bounced={"web-main"})  # the heal is one rollout, and only one
    code, out = d.cli("sim", "get", "deployment", "web-main", "-n", "paastasvc-web", "-o", "json")
    assert code == 0 and "DEBUG_TOKEN" not in out
    d.no_secrets(daemon)


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push", "Content-Type": "application/json"}


def _request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_abuse_of_the_listener_is_refused_and_the_daemon_keeps_serving(drill: Any) -> None:
    d = drill(top={"client_timeout": "1s", "max_body_bytes": 65536})
    d.services({"web": ONE})
    daemon = d.daemon()
    d.settled(daemon, "web")
    before = d.workloads()

    status, body = _request(daemon.url + "/api/v1/drift")
    assert status == 401 and b"instances" not in body
    status, _ = _request(daemon.url + "/", headers={"Authorization": "Bearer not-the-token"})
    assert status == 401
    status, _ = _request(daemon.url + "/api/v1/hooks/git", b"x" * 200_000, _signed(b"x" * 200_000))
    assert status == 413
    status, _ = _request(daemon.url + "/api/v1/hooks/git", b'{"ref": "refs/heads/main"}', {"X-Hub-Signature-256": "sha256=00"})
    assert status == 401

    delivery = b'{"ref": "refs/heads/main", "after": "%s"}' % ("a" * 40).encode()
    assert _request(daemon.url + "/api/v1/hooks/git", delivery, _signed(delivery))[0] == 202
    status, body = _request(daemon.url + "/api/v1/hooks/git", delivery, _signed(delivery))
    assert status == 200 and json.loads(body) == {"duplicate": True}
    accepted = [e for e in daemon.logs() if e.get("event") == "webhook accepted"]
    assert len(accepted) == 1
    assert [e for e in daemon.logs() if e.get("event") == "webhook duplicate ignored"]
    assert [e for e in daemon.logs() if e.get("event") == "webhook refused"]

    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        started = time.monotonic()
        slow.settimeout(10)
        try:
            leftover = slow.recv(1024)
        except ConnectionResetError:
            leftover = b""
        assert time.monotonic() - started < 8 and b"200 OK" not in leftover  # dropped, not served
    assert daemon.get("/api/v1/drift")["instances"]  # still serving everyone else
    d.unharmed(before)
    d.no_secrets(daemon)


def test_a_corrupted_git_mirror_is_moved_aside_and_cloned_again(drill: Any) -> None:
    d = drill()
    d.services({"web": ONE, "api": ONE})
    daemon = d.daemon()
    d.settled(daemon, "web", "api")
    before = d.workloads()
    mirrors = [p for p in (d.root / "state").rglob("*") if p.is_dir() and (p / "objects").is_dir()
               and (p / "HEAD").is_file()]
    assert mirrors, list((d.root / "state").rglob("*"))[:20]
    for mirror in mirrors:  # the object store lost: every ref points at nothing
        shutil.rmtree(mirror / "objects")
        (mirror / "objects").mkdir()

    d.soa.commit({"web/kubernetes-local.yaml": "main: {instances: 2}\n"}, message="scale web")
    daemon.wait_for(lambda: (d.cluster.get("Deployment", "web-main", "paastasvc-web")["spec"]["replicas"] == 2),
                    "the change after the corruption applied", 90)
    events = [e for e in daemon.logs() if "corrupt" in json.dumps(e)]
    assert events, "the corruption was not logged"
    metrics = daemon.get("/metrics")
    assert 'reconciler_source_errors_total{kind="poll"' in metrics
    assert list((d.root / "state").rglob("*.corrupt-*"))  # kept aside for a post-mortem
    d.settled(daemon, "web", "api")
    d.unharmed(before, bounced={"web-main"})  # the scale moves its generation once
    d.no_secrets(daemon)


def test_two_daemons_on_one_cluster_bounce_once_and_fail_over(drill: Any) -> None:
    d = drill()
    d.services({"web": ONE, "api": ONE})
    timing = ("--lease-duration", "3", "--renew-deadline", "2")
    one, two = d.daemon(*timing, "--identity", "one"), d.daemon(*timing, "--identity", "two")
    d.settled(one, "web", "api")
    d.settled(two, "web", "api")
    leaders = [x for x in (one, two) if x.drift()["clusters"][CLUSTER]["leader"]]
    assert len(leaders) == 1
    writer, standby = (one, two) if leaders[0] is one else (two, one)

    before = d.workloads()
    d.soa.commit({"web/kubernetes-local.yaml": "main: {instances: 1, env: {RELEASE: '2'}}\n"}, message="bounce web")
    d.settled(writer, "web")
    standby.wait_for(lambda: standby.row("web", "main")["status"] == "Synced"
                     and standby.row("web", "main")["desired"] == writer.row("web", "main")["desired"],
                     "the standby to see the same", 60)
    time.sleep(2)  # more cycles of both: nobody bounces it again
    d.unharmed(before, bounced={"web-main"})
    assert not [e for e in standby.logs() if e.get("event") == "applied"]

    assert writer.signal(signal.SIGKILL) == -signal.SIGKILL
    before = d.workloads()
    d.soa.commit({"api/kubernetes-local.yaml": "main: {instances: 1, env: {RELEASE: '2'}}\n"}, message="bounce api")
    standby.wait_for(lambda: standby.drift()["clusters"][CLUSTER]["leader"], "the standby to take the lease", 60)
    d.settled(standby, "api")
    time.sleep(2)
    d.unharmed(before, bounced={"api-main"})
    assert [e for e in standby.logs() if e.get("event") == "lease acquired"]
    d.no_secrets(standby)
