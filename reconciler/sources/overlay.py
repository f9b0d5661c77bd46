"""A PR checkout with the deployments of the real source: service files from one tree, each
service's deployments.json from another (the deployments branch), so `plan --soa-dir` shows what
the checkout would do with what is deployed now, never the checkout's own deployments.json."""

from __future__ import annotations

from reconciler.soa.files import ServiceFiles, SoaSource
from reconciler.soa.issues import Issue

DEPLOYMENTS = "deployments.json"


class WithDeployments:
    """`tree`'s files, with deployments.json taken from `deployments` (absent there: absent)."""

    def __init__(self, tree: SoaSource, deployments: SoaSource) -> None:
        self.tree = tree
        self.deployments = deployments

    def services(self) -> tuple[list[str], list[Issue]]:
        return self.tree.services()

    def read_service(self, service: str, cluster: str | None = None) -> ServiceFiles:
        files = self.tree.read_service(service, cluster)
        files.files.pop(DEPLOYMENTS, None)
        files.unreadable.pop(DEPLOYMENTS, None)
        if DEPLOYMENTS in files.ignored:
            files.ignored.remove(DEPLOYMENTS)
        source = self.deployments.read_service(service, cluster)
        if DEPLOYMENTS in source.files:
            files.files[DEPLOYMENTS] = source.files[DEPLOYMENTS]
        elif DEPLOYMENTS in source.unreadable:
            files.unreadable[DEPLOYMENTS] = source.unreadable[DEPLOYMENTS]
        return files
