"""The daemon's Prometheus metrics (spec section 6 names), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.report.status import STATUSES


class Metrics:
    """Every metric the daemon exports; one instance per daemon (tests make their own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconcile_duration = Histogram(
            "reconciler_reconcile_duration_seconds", "Time one reconcile cycle took, per cluster.",
            ["cluster"], registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.apply_total = Counter(
            "reconciler_apply_total", "Writes the reconciler made, by kind, action and result.",
            ["cluster", "kind", "action", "result"], registry=r)
        self.instances = Gauge(
            "reconciler_instances", "Instances per status on each cluster.", ["cluster", "status"], registry=r)
        self.source_commit = Gauge(
            "reconciler_source_commit_info", "The source commits in force (value 1).",
            ["source", "commit"], registry=r)
        self.source_errors = Counter(
            "reconciler_source_errors_total",
            "Source errors: polls and generator runs that failed (kind poll, generate, service_repo) and "
            "soa-configs files or instances found invalid, once per revision (kind invalid_file, "
            "invalid_instance).", ["source", "kind"], registry=r)
        self.rollouts_in_progress = Gauge(
            "reconciler_rollouts_in_progress", "Workloads whose rollout is under way.", ["cluster"], registry=r)
        self.git_poll_duration = Histogram(
            "reconciler_git_poll_duration_seconds", "Time one source poll took.", registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.last_success = Gauge(
            "reconciler_last_successful_reconcile_timestamp_seconds",
            "When the last reconcile cycle of each cluster succeeded (Unix time).", ["cluster"], registry=r)
        self.deploy_lead_time = Histogram(
            "reconciler_deploy_lead_time_seconds", "From a deploy (commit or tag time) to Synced.",
            ["cluster"], registry=r, buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
        self.promotions = Counter(
            "reconciler_promotions_total",
            "Promotion decisions and pushes per service and pipeline step (result promoted, rolled_back, "
            "halted, gated, frozen, overridden, complete, skipped, failed).", ["service", "step", "result"], registry=r)
        self.leader = Gauge(
            "reconciler_leader", "1 while this process holds the cluster's lease.", ["cluster"], registry=r)

    def set_instances(self, cluster: str, counts: dict[str, int]) -> None:
        for status in STATUSES:
            self.instances.labels(cluster=cluster, status=status).set(counts.get(status, 0))

    def set_commits(self, commits: dict[str, str | None]) -> None:
        self.source_commit.clear()
        for source, commit in commits.items():
            if commit:
                self.source_commit.labels(source=source, commit=commit).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
