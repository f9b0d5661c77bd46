"""Record what a real API server answers, for the simulated cluster's golden tests.

Not a test: run it by hand against the dev control plane and commit the JSON it writes.

    ENV=$(tools/controlplane/cluster.sh up /tmp/cp 2 | tail -n1)
    python tests/cluster/sim/golden/capture.py "$ENV"
    tools/controlplane/cluster.sh down /tmp/cp

Each scenario is a list of steps (server-side applies as a field manager, with or without
force) run in a fresh namespace; the answer of each step is recorded, reduced to what is
deterministic (no uid, timestamps, controller-written status).
"""

from __future__ import annotations

import copy
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import OBJECTS, SCENARIOS, plural_path, reduce  # noqa: E402


def load_env(path: str) -> dict[str, str]:
    out = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


class Client:
    def __init__(self, env: dict[str, str]) -> None:
        self.base = env["KUBE_APISERVER_URL"]
        self.token = env["KUBE_ADMIN_TOKEN"]
        self.ctx = ssl.create_default_context(cafile=env["KUBE_CA_FILE"])

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def apply(self, obj: dict[str, Any], manager: str, force: bool, dry_run: bool = False) -> tuple[int, Any]:
        meta = obj["metadata"]
        path = plural_path(obj["kind"], meta.get("namespace"), meta["name"])
        query = f"?fieldManager={manager}" + ("&force=true" if force else "") + ("&dryRun=All" if dry_run else "")
        return self.request("PATCH", path + query, obj, "application/apply-patch+yaml")


def run_scenario(client: Client, name: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ns = "golden-" + name.replace("_", "-")
    client.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}})
    results = []
    for step in steps:
        obj = copy.deepcopy(step["object"])
        if obj["kind"] != "Namespace":
            obj["metadata"]["namespace"] = step.get("namespace", ns)
        meta = obj["metadata"]
        time.sleep(1.0)  # let the controllers settle, so only the apply can change resourceVersion
        before = client.request("GET", plural_path(obj["kind"], meta.get("namespace"), meta["name"]))[1]
        code, answer = client.apply(obj, step["manager"], step.get("force", True), step.get("dry_run", False))
        if code >= 300:
            results.append({"code": code, "reason": answer.get("reason"), "message": answer.get("message")})
            continue
        rv = answer["metadata"].get("resourceVersion")
        rv_before = (before.get("metadata") or {}).get("resourceVersion")
        results.append({"code": code, "rv_changed": rv != rv_before, "meta_keys": sorted(answer["metadata"]),
                        "object": reduce(answer)})
    client.request("DELETE", f"/api/v1/namespaces/{ns}")
    for step in steps:
        if step["object"]["kind"] == "Namespace":
            client.request("DELETE", f"/api/v1/namespaces/{step['object']['metadata']['name']}")
    return results


def main() -> None:
    client = Client(load_env(sys.argv[1]))
    ns = "golden-objects"
    client.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}})
    objects = {}
    for name, obj in OBJECTS.items():
        obj = copy.deepcopy(obj)
        if obj["kind"] != "Namespace":
            obj["metadata"]["namespace"] = ns
        code, answer = client.apply(obj, "reconciler", True)
        assert code < 300, answer
        objects[name] = {"input": obj, "output": reduce(answer)}
    client.request("DELETE", f"/api/v1/namespaces/{ns}")
    client.request("DELETE", "/api/v1/namespaces/golden-ns-object")
    scenarios = {name: {"steps": steps, "results": run_scenario(client, name, steps)}
                 for name, steps in SCENARIOS.items()}
    version = client.request("GET", "/version")[1]
    out = {"server": version.get("gitVersion"), "objects": objects, "scenarios": scenarios}
    (HERE / "real_server.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {HERE / 'real_server.json'} ({len(objects)} objects, {len(scenarios)} scenarios)")


if __name__ == "__main__":
    main()
