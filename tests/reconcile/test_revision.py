"""A revision of the desired state: rendered once, then moved along service by service."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from reconciler.reconcile.revision import Revision
from reconciler.render.service import RenderResult
from reconciler.render.settings import RenderSettings
from reconciler.sources.directory import DirectoryTree
from tests.conftest import write_tree
from tests.support.gitremote import service_files

CLUSTER = "norcal-prod"


class CountingSettings:
    """settings_for that counts the services it was asked for (one call per service load)."""

    def __init__(self, registry: str | None = None) -> None:
        self.registry = registry
        self.calls: Counter[str] = Counter()

    def __call__(self, cluster: str) -> RenderSettings:
        self.calls[cluster] += 1
        return RenderSettings(cluster=cluster, docker_registry=self.registry)


def images(revision: Revision) -> dict[str, str]:
    return {r.service: next(o for o in r.objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
            ["containers"][0]["image"] for r in revision.view().results}


def memory(result: RenderResult) -> str:
    workload = next(o for o in result.objects if o["kind"] == "Deployment")
    return str(workload["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


def test_of_renders_the_named_services_at_once(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "soa", {**service_files("alpha"), **service_files("beta")})
    settings = CountingSettings()
    revision = Revision.of(DirectoryTree(root), [CLUSTER], settings, ["beta"])
    assert settings.calls[CLUSTER] == 1
    view = revision.view()
    assert [(r.service, r.instance) for r in view.results] == [("beta", "main")]
    assert view.services == ["beta"]


def test_update_renders_only_what_changed_and_drops_what_is_gone(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "soa", {**service_files("alpha"), **service_files("beta"),
                                         **service_files("gamma")})
    settings = CountingSettings()
    revision = Revision.of(DirectoryTree(root), [CLUSTER], settings)
    assert settings.calls[CLUSTER] == 3
    before = {r.service: r for r in revision.view().results}

    write_tree(root, service_files("beta", mem=1024))
    shutil.rmtree(root / "gamma")
    rendered = revision.update(DirectoryTree(root), frozenset({"beta", "gamma"}))
    assert settings.calls[CLUSTER] == 4  # beta alone was rendered again; gamma is gone from the tree
    assert [r.service for r in rendered.results] == ["beta"]
    after = {r.service: r for r in revision.view().results}
    assert set(after) == {"alpha", "beta"}
    assert after["alpha"] is before["alpha"]  # kept, not rendered again
    assert memory(after["beta"]) == "1024Mi" and memory(before["beta"]) == "512Mi"


def test_new_settings_render_everything_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "soa", {**service_files("alpha"), **service_files("beta")})
    revision = Revision.of(DirectoryTree(root), [CLUSTER], CountingSettings())
    assert not any(image.startswith("registry.example.com/") for image in images(revision).values())
    revision.settings_for = CountingSettings("registry.example.com")
    revision.update(DirectoryTree(root), None)
    assert all(image.startswith("registry.example.com/") for image in images(revision).values())
