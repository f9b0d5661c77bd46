"""The embedded simulated cluster: a second backend of the cluster protocol, in one SQLite file.

    from reconciler.cluster.sim import SimCluster, ManualClock
    cluster = SimCluster("local", "~/.local/state/reconciler/local.sqlite", pod_ready_seconds=1)

Modules: store (SQLite), ssa/merge/fieldsets/managed (server-side apply and field ownership),
defaults/quantity/validation/schema (what the API server does to objects), engine with
deployments/replicasets/statefulsets/pods/autoscaling/disruption (the controllers, as pure
functions of stored state and time), clock, faults, backend (SimCluster).
"""

from reconciler.cluster.sim.backend import SimCluster
from reconciler.cluster.sim.clock import ManualClock, SimClock

__all__ = ["ManualClock", "SimClock", "SimCluster"]
