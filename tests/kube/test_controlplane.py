"""The real control plane the kube tier runs on: what tests may rely on, and the harness itself."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import REPO, ControlPlane, processes_of, wait_until

pytestmark = pytest.mark.kube


def _ready(obj: dict[str, Any]) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == "Ready":
            return str(cond["status"])
    return None


def test_two_ready_fake_nodes(kube_controlplane: ControlPlane) -> None:
    nodes = kube_controlplane.kubectl_json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["kwok-node-0", "kwok-node-1"]
    assert [_ready(n) for n in nodes] == ["True", "True"]


def test_deployment_becomes_available(kube_controlplane: ControlPlane, kube_namespace: str) -> None:
    cp, ns = kube_controlplane, kube_namespace
    cp.kubectl("-n", ns, "apply", "-f", "-", input=textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - {name: main, image: "registry.example/web:1.0"}
        """))

    def available() -> dict[str, Any] | None:
        d = cp.kubectl_json("-n", ns, "get", "deployment", "web")
        st = d.get("status", {})
        done = (st.get("observedGeneration", 0) >= d["metadata"]["generation"]
                and st.get("replicas") == st.get("updatedReplicas") == st.get("readyReplicas")
                == st.get("availableReplicas") == 2)
        return d if done else None

    d = wait_until(available, timeout=60, what="deployment web 2/2 available")
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    cp.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
    pods = cp.kubectl_json("-n", ns, "get", "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    assert all(_ready(p) == "True" and p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)


def test_crashloop_image_never_becomes_ready(kube_controlplane: ControlPlane, kube_namespace: str) -> None:
    cp, ns = kube_controlplane, kube_namespace
    cp.kubectl("-n", ns, "run", "broken", "--image=registry.example/crashloop:1.0", "--restart=Always")
    seen_ready: list[str] = []

    def crash_looping() -> dict[str, Any] | None:
        pod = cp.kubectl_json("-n", ns, "get", "pod", "broken")
        if _ready(pod) == "True":
            seen_ready.append(pod["metadata"]["resourceVersion"])
        statuses = pod.get("status", {}).get("containerStatuses", [])
        waiting = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
        return pod if waiting.get("reason") == "CrashLoopBackOff" else None

    pod = wait_until(crash_looping, timeout=60, what="CrashLoopBackOff in the container status")
    # and it stays that way
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        pod = cp.kubectl_json("-n", ns, "get", "pod", "broken")
        if _ready(pod) == "True":
            seen_ready.append(pod["metadata"]["resourceVersion"])
        time.sleep(0.3)
    assert seen_ready == []
    assert _ready(pod) == "False"
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is False
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["restartCount"] > 0
    assert status["lastState"]["terminated"]["exitCode"] != 0


def test_rbac_is_enforced_for_service_account_tokens(kube_controlplane: ControlPlane,
                                                      kube_namespace: str) -> None:
    cp, ns = kube_controlplane, kube_namespace
    cp.kubectl("-n", ns, "create", "serviceaccount", "nobody")
    token = cp.kubectl("-n", ns, "create", "token", "nobody", "--duration=10m").stdout.strip()
    path = f"/api/v1/namespaces/{ns}/pods"

    status, body = cp.api_request(path, token=token)
    assert status == 403, body
    assert body["reason"] == "Forbidden"
    # authenticated as the service account (authentication works), refused by RBAC
    assert f"system:serviceaccount:{ns}:nobody" in body["message"]

    assert cp.api_request(path)[0] == 200                      # the admin token may
    assert cp.api_request(path, token="not-a-token")[0] == 401  # and a bad token is not anyone
    can_i = cp.kubectl("auth", "can-i", "list", "pods", "-n", ns,
                       f"--as=system:serviceaccount:{ns}:nobody", check=False)
    assert can_i.stdout.strip() == "no"


def test_everything_listens_on_loopback_only(kube_controlplane: ControlPlane) -> None:
    pids = kube_controlplane.pids()
    assert sorted(pids.values()) == sorted(
        ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"])
    sockets = kube_controlplane.listening_sockets()
    assert {s["name"] for s in sockets} == set(pids.values()), sockets
    not_loopback = [s for s in sockets if not _loopback(s["address"])]
    assert not_loopback == []
    api_port = int(kube_controlplane.api_url.rsplit(":", 1)[1])
    assert {"name": "kube-apiserver", "address": "127.0.0.1", "port": api_port} in [
        {k: s[k] for k in ("name", "address", "port")} for s in sockets]


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


# ----------------------------------------------------------------- the harness itself


def test_second_control_plane_runs_beside_and_stops_even_when_wedged(
        kube_controlplane: ControlPlane, tmp_path: Path) -> None:
    """Random ports: a second cluster starts while the session's runs; `stop` SIGKILLs an
    API server that ignores SIGTERM (here: SIGSTOPped) after stop_timeout."""
    second = ControlPlane(kube_controlplane.bin_dir, stop_timeout=2)
    with second.start(tmp_path / "second", nodes=1):
        assert second.api_url != kube_controlplane.api_url
        assert len(second.kubectl_json("get", "nodes")["items"]) == 1
        apiserver = next(pid for pid, name in second.pids().items() if name == "kube-apiserver")
        os.kill(apiserver, signal.SIGSTOP)
        started = time.monotonic()
    assert processes_of(tmp_path / "second") == {}
    assert time.monotonic() - started < 20
    assert "sending SIGKILL" in (tmp_path / "second" / "controlplane-down.log").read_text()
    # the session's cluster did not notice
    assert kube_controlplane.kubectl("get", "--raw", "/readyz").stdout == "ok"


CHILD = textwrap.dedent("""\
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from tests.support.controlplane import ControlPlane
    cp = ControlPlane(sys.argv[2]).start(sys.argv[3], nodes=1)
    print("UP", flush=True)
    time.sleep(600)
    """)


def test_no_process_survives_its_python_process(kube_controlplane: ControlPlane, tmp_path: Path) -> None:
    """Two Python processes start a control plane each, at the same time (random ports, no
    clash). SIGTERM: the module's signal handler stops the cluster before the process dies;
    SIGKILL: cluster.sh's watchdog notices the dead process and stops the cluster."""
    signals = {"term": signal.SIGTERM, "kill": signal.SIGKILL}
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for key in signals:
            with open(tmp_path / f"{key}.log", "w") as log:
                children[key] = subprocess.Popen(
                    [sys.executable, "-c", CHILD, str(REPO), str(kube_controlplane.bin_dir),
                     str(tmp_path / key)], stdout=subprocess.PIPE, stderr=log, text=True)
        for key, child in children.items():
            assert child.stdout is not None
            assert child.stdout.readline() == "UP\n", (tmp_path / f"{key}.log").read_text()
            assert len(processes_of(tmp_path / key)) == 5
        for key, sig in signals.items():
            children[key].send_signal(sig)
        for key, sig in signals.items():
            assert children[key].wait(timeout=30) == -sig
        assert processes_of(tmp_path / "term") == {}   # stopped before the process died
        wait_until(lambda: processes_of(tmp_path / "kill") == {}, timeout=30,
                   what="the watchdog to stop the SIGKILLed process's cluster")
        assert "watched process" in (tmp_path / "kill" / "logs" / "watchdog.log").read_text()
    finally:
        for key, child in children.items():
            if child.poll() is None:
                child.kill()
            subprocess.run([str(REPO / "tools/controlplane/cluster.sh"), "down", str(tmp_path / key),
                            "--now"], capture_output=True, check=False)
