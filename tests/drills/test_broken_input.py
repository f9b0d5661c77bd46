"""Drills: hostile and broken soa-configs reach a running daemon. What ran keeps running, nothing
is deleted, and every broken file is an Invalid row in the drift JSON, on the page, in the
metrics, in one log line, in `reconciler status` and `drift` (exit 1)."""

from __future__ import annotations

from typing import Any

from tests.conftest import SHA
from tests.support.gitremote import Link

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
BROKEN_FILES: dict[str, tuple[Any, str]] = {
    "linked": (Link("../../../../outside.yaml"), "refused: symlink that points outside the tree"),
    "huge": (b"main: {}\n" + b"#" * (9 * 1024 * 1024), "larger than 8 MiB"),
    "latin": (b"main: {env: {A: \"caf\xe9\"}}\n", "not valid UTF-8"),
    "bomb": (BOMB, "alias bomb"),
    "twice": ("main: {instances: 1}\nmain: {instances: 5}\n", "duplicate key 'main'"),
}


def test_unreadable_and_malformed_files_are_invalid_rows_and_nothing_is_lost(drill: Any) -> None:
    d = drill()
    names = [*BROKEN_FILES, "shape", "dupjson", "good"]
    d.services({name: "main: {instances: 1}\n" for name in names})
    daemon = d.daemon()
    d.settled(daemon, *names)
    before = d.workloads()
    assert len(before) == len(names)

    d.soa.commit({f"{name}/kubernetes-local.yaml": content for name, (content, _) in BROKEN_FILES.items()},
                 message="broken instance files")
    image = f"services-dupjson:paasta-{SHA}"
    d.soa.commit({"shape/deployments.json": '{"v2": []}\n',
                  "dupjson/deployments.json": '{"v2": {"deployments": {\n"local.main": {"docker_image": "%s"},\n'
                                              '"local.main": {"docker_image": "%s"}}}}\n' % (image, image)},
                 branch="deployments", message="broken deployments.json")

    for name, (_, needle) in BROKEN_FILES.items():
        d.visible(daemon, name, "*", "Invalid", needle, "invalid soa-configs",
                  'reconciler_source_errors_total{kind="invalid_file",source="soa_configs"}')
    d.visible(daemon, "shape", "main", "Invalid", "'v2' must be an object", "invalid soa-configs")
    d.visible(daemon, "dupjson", "main", "Invalid", "duplicate key 'local.main' at line 3", "invalid soa-configs")
    assert d.row(daemon, "good", "main")["status"] == "Synced"
    logged = [e for e in daemon.logs() if e.get("event") == "invalid soa-configs"]
    files = [e["file"] for e in logged]
    assert len(files) == len(set(files))  # once per file and revision
    first = daemon.drift()["instances"][0]
    assert first["status"] == "Invalid"  # first in the report, and so on the page

    code, out = d.cli("status", "huge", "-o", "json")
    assert code == 1 and '"instance": "*"' in out and "larger than 8 MiB" in out
    code, out = d.cli("drift", "-o", "json")
    assert code == 1 and out.count('"status": "Invalid"') >= len(BROKEN_FILES) + 2
    readyz = daemon.get("/readyz")
    assert isinstance(readyz, str) and "Invalid" in readyz

    d.unharmed(before)  # prune is on: nothing that ran was deleted, nothing bounced
    d.no_secrets(daemon)


def test_markup_in_a_config_never_reaches_the_page_as_markup(drill: Any) -> None:
    d = drill()
    d.services({"web": "main:\n  instances: 1\n  '<script>alert(1)</script>': 1\n  env: {'<b>': '<img src=x>'}\n"})
    daemon = d.daemon()
    row = d.visible(daemon, "web", "main", "Invalid", "unknown key", "invalid soa-configs")
    assert "<script>" in row["message"]  # the JSON carries the text as it is
    page = daemon.get("/")
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    d.no_secrets(daemon)
