#!/usr/bin/env python3
"""One reconcile cycle, measured: a generated tree applied to a cluster, then no-op cycles.

    .venv/bin/python benchmarks/cycle_bench.py                      # both backends (the real one needs Go)
    .venv/bin/python benchmarks/cycle_bench.py --backend sim --instances 10000
    .venv/bin/python benchmarks/cycle_bench.py --backend kube --instances 1000 --kube-qps 0
    .venv/bin/python benchmarks/cycle_bench.py --backend sim --instances 1000 --profile 30

For each backend it generates a seeded soa-configs tree (benchmarks/gen_tree.py) with about
INSTANCES instances on one cluster, renders it once (`render_tree` with forked workers, as
`reconciler plan|apply` do; timed apart), then runs `reconciler.reconcile.cycle.reconcile(..., apply=True)`:

1. a first cycle on the empty cluster, which creates everything (budgets never hold creates:
   a `wait` or a failed action is reported and fails the run);
2. the cluster settles: every rollout completes (see below);
3. for each GC mode, in a child process of its own: one no-op cycle unmeasured (warm-up),
   then ROUNDS no-op cycles, with the cyclic garbage collector off (as `reconciler plan|apply`
   run: cli/main.py disables it) and on (as a long-running process has it), unless --gc picks
   one: seconds (median and best), requests (reads, writes, dry runs), list calls and list
   requests per kind, where the time goes (each function `reconcile` calls is timed: it is
   wrapped in place for the run), and memory. A no-op cycle that writes, reads anything but one
   list per kind (a GET, the pods of a rollout) or plans anything but `noop` is a bug: what it
   did is printed and the exit status is 1.

Steps 1-2 and each mode of step 3 run in processes forked after rendering, so that what one
leaves in memory (caches, garbage a disabled GC never collects) is not counted against the next.
Memory: the RSS of that process before its cycles (the rendered tree is in it), its peak
(VmHWM, reset after the warm-up through /proc/self/clear_refs) and its RSS after each cycle.

`sim`: a SimCluster in a temporary directory on a ManualClock. After the first apply the clock
moves on --sim-settle seconds (default 300) and the simulated controllers run once, to the end
(ReplicaSets, pods, status: every rollout complete); then the clock stands still, so no
simulation runs inside the measured cycles. --sim-settle 0 keeps it still from the start: no
workload has a status then, every rollout counts as in progress and the cycle reads the pods of
each (one list per workload). `kube`: the real control plane of tests/support/controlplane.py
(binaries from tools/controlplane) plus kwok nodes big enough for every pod, and a hostPath
PersistentVolume for every claim of a StatefulSet (there is no provisioner);
`KubeCluster` with its default client-side rate limit unless --kube-qps/--kube-burst say
otherwise (printed either way). After the first apply it waits (at most --kube-settle seconds)
until every managed rollout has been complete for 15 s.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import io
import json
import math
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import gen_tree  # noqa: E402

from reconciler.cli.common import worker_count  # noqa: E402
from reconciler.config import ClusterConfig  # noqa: E402
from reconciler.engine.health import in_rollout, rollout_status  # noqa: E402
from reconciler.kinds import WORKLOAD_KINDS  # noqa: E402
from reconciler.render.service import Outcome as RenderOutcome  # noqa: E402
from reconciler.render.settings import DEFAULT_LABEL_DOMAIN  # noqa: E402
from reconciler.reconcile import cycle  # noqa: E402
from reconciler.reconcile.observe import LISTED_KINDS  # noqa: E402 (what a no-op cycle reads: one list each)
from reconciler.reconcile.revision import Revision  # noqa: E402
from reconciler.sources.directory import DirectoryTree  # noqa: E402

REGISTRY = "registry.example.com"
CLUSTER = "norcal-prod"
MEAN_INSTANCES_PER_SERVICE = 2.05  # gen_tree.instance_count's mean, per cluster
DEFAULT_INSTANCES = {"sim": 10000, "kube": 1000}
#: Capacity of each fake node the kube benchmark adds (fake-node.yaml's 8 CPUs hold a few pods).
BENCH_NODE = {"cpu": 4000, "memory": "16Ti", "pods": 2500, "ephemeral-storage": "100Ti"}


# ---------------------------------------------------------------------------------------- helpers
class CountingCluster:
    """A Cluster that records every protocol call by method and kind, the requests each list
    made (as the backend's own counters see them) and every write; the rest goes to the backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.calls: Counter[tuple[str, str]] = Counter()
        self.list_requests: Counter[str] = Counter()
        self.written: list[str] = []

    def reset(self) -> None:
        self.calls.clear()
        self.list_requests.clear()
        self.written.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def list(self, kind: str, **options: Any) -> Any:
        self.calls[("list", kind)] += 1
        before = self.backend.counters.snapshot()["reads"]
        try:
            return self.backend.list(kind, **options)
        finally:
            self.list_requests[kind] += self.backend.counters.snapshot()["reads"] - before

    def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        self.calls[("get", kind)] += 1
        return self.backend.get(kind, name, namespace)

    def apply(self, obj: Any, **options: Any) -> Any:
        kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
        self.calls[("apply", kind)] += 1
        self.written.append(f"apply {kind} {meta.get('namespace') or '-'}/{meta.get('name')}"
                            f"{' (dry run)' if options.get('dry_run') else ''}"
                            f"{' as ' + options['field_manager'] if options.get('field_manager') else ''}")
        return self.backend.apply(obj, **options)

    def delete(self, kind: str, name: str, namespace: str | None = None, **options: Any) -> Any:
        self.calls[("delete", kind)] += 1
        self.written.append(f"delete {kind} {namespace or '-'}/{name}")
        return self.backend.delete(kind, name, namespace, **options)



@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """Every function of reconciler.reconcile.cycle that `reconcile` calls (wanted, list_live,
    plan, ...) wrapped in place to add up its seconds; restored afterwards. The same functions
    run, in the same order: only a clock read around each call is added."""
    seconds: dict[str, float] = defaultdict(float)
    names = [n for n in cycle.reconcile.__code__.co_names
             if n != "reconcile" and inspect.isfunction(getattr(cycle, n, None))]
    originals = {n: getattr(cycle, n) for n in names}

    def wrap(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started
        return timed

    for name, func in originals.items():
        setattr(cycle, name, wrap(name, func))
    try:
        yield seconds
    finally:
        for name, func in originals.items():
            setattr(cycle, name, func)


@contextmanager
def gc_mode(mode: str) -> Iterator[None]:
    """The cyclic garbage collector "off" (as `reconciler plan|apply`: cli/main.py disables it for
    the whole command) or "on" (as a long-running process has it unless it says otherwise)."""
    was = gc.isenabled()
    (gc.disable if mode == "off" else gc.enable)()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss where /proc has no status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def project_state() -> str:
    """The commit measured, and whether reconciler/ had local changes (others may be editing)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "reconciler").splitlines() if line]
    return head + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": sys.version.split()[0],
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def seconds_stats(seconds: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(seconds), 4), "best_s": round(min(seconds), 4),
            "all_s": [round(s, 4) for s in seconds]}


# ---------------------------------------------------------------------------------------- the tree
@dataclass
class Tree:
    path: Path
    services: int
    instances: int
    generate_s: float
    render_s: float = 0.0
    revision: Revision | None = None  # set by render()
    outcomes: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    pods: int = 0  # replicas wanted in all (minReplicas for autoscaled workloads)


def make_tree(work: Path, instances: int, seed: int) -> Tree:
    services = math.ceil(instances / MEAN_INSTANCES_PER_SERVICE)
    path = work / "soa-configs"
    if path.exists():
        shutil.rmtree(path)
    started = time.perf_counter()
    summary = gen_tree.generate(str(path), services, seed, [CLUSTER])
    return Tree(path, services, summary["instances"][CLUSTER], round(time.perf_counter() - started, 2))


def render(tree: Tree, settings: ClusterConfig, label_domain: str) -> None:
    started = time.perf_counter()
    tree.revision = Revision.of(DirectoryTree(tree.path), [CLUSTER],
                                lambda cluster: settings.render_settings(label_domain), workers=worker_count())
    tree.render_s = round(time.perf_counter() - started, 3)
    results = tree.revision.view().results
    tree.outcomes = dict(Counter(r.outcome.value for r in results))
    objects = [o for r in results if r.outcome is RenderOutcome.RENDERED for o in r.objects]
    tree.objects = dict(Counter(str(o["kind"]) for o in objects))
    tree.pods = sum(int(o["spec"].get("replicas") or 0) if o["kind"] in WORKLOAD_KINDS
                    else int(o["spec"].get("minReplicas") or 1) if o["kind"] == "HorizontalPodAutoscaler" else 0
                    for o in objects)


def describe_tree(name: str, tree: Tree) -> None:
    print(f"{name}: {tree.services} services, {tree.instances} instances on {CLUSTER} (generated in "
          f"{tree.generate_s} s); rendered in {tree.render_s} s ({worker_count()} workers, gc "
          f"{'on' if gc.isenabled() else 'off'}): {tree.outcomes}, objects {tree.objects}, {tree.pods} pods wanted",
          flush=True)


# ---------------------------------------------------------------------------------------- cycles
def run_cycle(counted: CountingCluster, settings: ClusterConfig, tree: Tree,
              label_domain: str) -> tuple[cycle.CycleResult, float, dict[str, float]]:
    counted.reset()
    with timed_steps() as steps:
        started = time.perf_counter()
        result = cycle.reconcile(counted, cycle.policy_for(settings, label_domain), tree.revision,  # type: ignore[arg-type]
                                 cycle.Mode(apply=True))
        took = time.perf_counter() - started
    return result, took, dict(steps)


def figures(result: cycle.CycleResult, seconds: float, counted: CountingCluster) -> dict[str, Any]:
    return {"seconds": round(seconds, 4), "requests": dict(result.requests),
            "summary": {k: v for k, v in result.plan.summary().items() if v},
            "failed": len(result.failed),
            "calls": {f"{method} {kind}": n for (method, kind), n in sorted(counted.calls.items())},
            "list_requests": dict(counted.list_requests)}


def noop_problems(result: cycle.CycleResult, counted: CountingCluster) -> list[str]:
    """Everything that makes this cycle not a clean no-op (empty: it is one)."""
    problems = []
    if result.requests.get("writes") or result.requests.get("dry_runs"):
        problems.append(f"{result.requests.get('writes')} writes, {result.requests.get('dry_runs')} dry runs: "
                        + "; ".join(counted.written[:50]) + (" ..." if len(counted.written) > 50 else ""))
    for action in result.plan.actions:
        if action.action != "noop":
            problems.append(f"{action.action} {action.kind} {action.namespace or '-'}/{action.name}: {action.reason}")
    for (method, kind), n in sorted(counted.calls.items()):
        if method != "list" or kind not in LISTED_KINDS:
            problems.append(f"{n} {method} call(s) of {kind}")
        elif n != 1:
            problems.append(f"{kind} listed {n} times")
    missing = [k for k in LISTED_KINDS if ("list", k) not in counted.calls]
    if missing:
        problems.append(f"not listed: {', '.join(missing)}")
    return problems


def first_apply(backend: Any, settings: ClusterConfig, tree: Tree, label_domain: str,
                settle: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The first cycle (creates everything), then the cluster settles; run in a child process."""
    counted = CountingCluster(backend)
    problems: list[str] = []
    result, seconds, steps = run_cycle(counted, settings, tree, label_domain)
    out = {**figures(result, seconds, counted), "gc": "on" if gc.isenabled() else "off",
           "steps_s": {k: round(v, 3) for k, v in steps.items()}}
    for action in [a for a in result.plan.actions if a.action == "wait"][:20]:
        problems.append(f"first apply: wait {action.kind} {action.namespace}/{action.name}: {action.reason}")
    for outcome in result.failed[:20]:
        problems.append(f"first apply: failed {outcome.action.kind} {outcome.action.namespace}/"
                        f"{outcome.action.name}: {outcome.error}")
    print(f"  first apply: {seconds:.2f} s, requests {result.requests}, actions {out['summary']}, "
          f"steps {out['steps_s']}", flush=True)
    del result
    out["peak_rss_mib_process"] = round(peak_rss_mib(), 1)
    return {"first_apply": out, "settle": settle(), "problems": problems}


def noop_cycles(open_backend: Callable[[], Any], settings: ClusterConfig, tree: Tree, label_domain: str,
                args: argparse.Namespace, mode: str, profile: bool) -> dict[str, Any]:
    """In a child process of its own (one per GC mode, so that neither inherits the other's
    memory): a warm-up no-op cycle, then ROUNDS measured ones, and optionally a profiled one."""
    backend = open_backend()
    counted = CountingCluster(backend)
    problems: list[str] = []
    before = backend.stats.snapshot() if hasattr(backend, "stats") else None
    try:
        with gc_mode(mode):
            out: dict[str, Any] = {"gc": mode, "rss_mib_before": round(current_rss_mib(), 1)}
            result, seconds, _ = run_cycle(counted, settings, tree, label_domain)  # warm-up: caches, connections
            out["warm_up_s"] = round(seconds, 4)
            problems += [f"warm-up no-op (gc {mode}): {p}" for p in noop_problems(result, counted)]
            del result
            rss_reset = reset_peak_rss()
            runs, step_runs, rss_after = [], [], []
            for i in range(args.rounds):
                result, seconds, steps = run_cycle(counted, settings, tree, label_domain)
                runs.append(figures(result, seconds, counted))
                step_runs.append({**steps, "other": seconds - sum(steps.values())})
                problems += [f"no-op {i + 1} (gc {mode}): {p}" for p in noop_problems(result, counted)]
                del result
                rss_after.append(round(current_rss_mib(), 1))
            out.update(seconds_stats([r["seconds"] for r in runs]))
            out.update({
                "steps_median_s": {k: round(statistics.median(s.get(k, 0.0) for s in step_runs), 4)
                                   for k in step_runs[-1]},
                "requests": runs[-1]["requests"], "calls": runs[-1]["calls"],
                "list_requests": runs[-1]["list_requests"], "summary": runs[-1]["summary"],
                "writes_total": sum(r["requests"].get("writes", 0) for r in runs),
                "peak_rss_mib": round(peak_rss_mib(), 1) if rss_reset else None,
                "rss_mib_after_each": rss_after})
            if before is not None:
                out["transport"] = {k: round(v - before.get(k, 0), 3) for k, v in backend.stats.snapshot().items()}
            print(f"  no-op, gc {mode} ({args.rounds} rounds): median {out['median_s']} s, best {out['best_s']} s "
                  f"(all {out['all_s']}); requests {out['requests']}; list requests per kind "
                  f"{out['list_requests']}; RSS {out['rss_mib_before']} MiB before, peak {out['peak_rss_mib']} MiB, "
                  f"after each {rss_after}\n    steps (median s): {out['steps_median_s']}", flush=True)
            if profile:
                profiler = cProfile.Profile()
                counted.reset()
                profiler.enable()
                cycle.reconcile(counted, cycle.policy_for(settings, label_domain), tree.revision,  # type: ignore[arg-type]
                                cycle.Mode(apply=True))
                profiler.disable()
                text = io.StringIO()
                pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.profile)
                pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.profile)
                print(f"  one no-op cycle under cProfile (gc {mode}):\n{text.getvalue()}", flush=True)
    finally:
        backend.close()
    out["problems"] = problems
    return out


def all_noop_cycles(open_backend: Callable[[], Any], settings: ClusterConfig, tree: Tree, label_domain: str,
                    args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {}
    problems: list[str] = []
    modes = ("off", "on") if args.gc == "both" else (args.gc,)
    for i, mode in enumerate(modes):
        done = in_child(lambda: noop_cycles(open_backend, settings, tree, label_domain, args, mode,
                                            profile=bool(args.profile) and i == 0))
        problems += done.pop("problems")
        out[f"noop_gc_{mode}"] = done
    return out, problems


def in_child(work: Callable[[], Any]) -> Any:
    """work() in a forked child process; its JSON result comes back through a pipe. The first
    apply with the settling, and the no-op cycles of each GC mode, each run in a child of their
    own: what one leaves in memory (caches, garbage a disabled GC never collects) is not counted
    against the next. The parent holds the rendered tree only."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs atexit hooks (the control plane's among them)
        os.close(read_fd)
        code = 0
        try:
            payload = json.dumps({"ok": work()})
        except BaseException:  # noqa: BLE001 - reported by the parent
            import traceback

            payload, code = json.dumps({"error": traceback.format_exc()}), 1
        with os.fdopen(write_fd, "w") as f:
            f.write(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        data = f.read()
    os.waitpid(pid, 0)
    doc = json.loads(data) if data else {"error": "the child process died without a word"}
    if "error" in doc:
        raise RuntimeError(f"child process failed:\n{doc['error']}")
    return doc["ok"]


def incomplete_rollouts(cluster: Any, label_domain: str) -> tuple[int, list[str], int]:
    """(managed workloads, those whose rollout is not complete: kind namespace/name and why, how
    many of those count as a rollout under way: a cycle reads their pods), from full lists."""
    total, incomplete, under_way = 0, [], 0
    for kind in sorted(WORKLOAD_KINDS):
        for obj in cluster.list(kind, selector=f"{label_domain}/managed=true"):
            total += 1
            status = rollout_status(obj)
            under_way += in_rollout(status)
            if not status.complete:
                meta, live = obj["metadata"], obj.get("status") or {}
                why = {k: live.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                                                "currentRevision", "updateRevision") if k in live}
                reasons = [c.get("reason") for c in live.get("conditions") or () if c.get("status") != "True"
                           or c.get("reason") == "ProgressDeadlineExceeded"]
                incomplete.append(f"{kind} {meta.get('namespace')}/{meta.get('name')}: spec.replicas "
                                  f"{(obj.get('spec') or {}).get('replicas')}, minReadySeconds "
                                  f"{(obj.get('spec') or {}).get('minReadySeconds')}, status {why} {reasons}")
    return total, incomplete, under_way


# ---------------------------------------------------------------------------------------- backends
def bench_sim(args: argparse.Namespace, work: Path, instances: int) -> tuple[dict[str, Any], list[str]]:
    from reconciler.cluster.sim.backend import SimCluster
    from reconciler.cluster.sim.clock import ManualClock

    tree = make_tree(work, instances, args.seed)
    state = work / "sim.sqlite"
    settings = ClusterConfig(name=CLUSTER, sim_state=str(state), docker_registry=REGISTRY)
    render(tree, settings, args.label_domain)
    describe_tree("sim", tree)

    def first() -> dict[str, Any]:
        clock = ManualClock()
        sim = SimCluster("sim", state, clock=clock)

        def settle() -> dict[str, Any]:
            started = time.perf_counter()
            if args.sim_settle:
                clock.advance(args.sim_settle)
                sim.list("Pod", metadata_only=True)  # a read with no namespace advances every due row
            took = round(time.perf_counter() - started, 1)
            pods = len(sim.list("Pod", metadata_only=True))
            workloads, incomplete, under_way = incomplete_rollouts(sim, args.label_domain)
            print(f"  settled: clock +{args.sim_settle:g} s, the simulated controllers ran in {took} s: {pods} "
                  f"pods, {len(incomplete)} of {workloads} rollouts not complete ({under_way} under way)"
                  + "".join(f"\n    {line}" for line in incomplete[:10])
                  + "\n  the clock stands still from here", flush=True)
            return {"clock": f"+{args.sim_settle:g} s, then frozen", "controllers_s": took, "pods": pods,
                    "workloads": workloads, "incomplete": len(incomplete), "under_way": under_way,
                    "incomplete_examples": incomplete[:10]}

        try:
            return first_apply(sim, settings, tree, args.label_domain, settle)
        finally:
            sim.close()

    done = in_child(first)
    problems = done.pop("problems")

    def open_sim() -> Any:
        clock = ManualClock()
        clock.advance(args.sim_settle)  # where the first child left it: nothing is due
        return SimCluster("sim", state, clock=clock)

    out, found = all_noop_cycles(open_sim, settings, tree, args.label_domain, args)
    out["state_file_mib"] = round(sum(p.stat().st_size for p in work.glob("sim.sqlite*")) / 2**20, 1)
    return {"backend": "sim", **tree_fields(tree), **done, **out}, problems + found


def bench_kube(args: argparse.Namespace, work: Path, instances: int) -> tuple[dict[str, Any], list[str]]:
    from reconciler.cluster.kube.backend import KubeCluster
    from tests.support.controlplane import ControlPlane

    tree = make_tree(work, instances, args.seed)
    settings = ClusterConfig(name=CLUSTER, docker_registry=REGISTRY)
    render(tree, settings, args.label_domain)
    describe_tree("kube", tree)
    defaults = KubeCluster.__init__.__kwdefaults__ or {}
    options: dict[str, Any] = {}
    if args.kube_qps is not None:
        options["qps"] = args.kube_qps
    if args.kube_burst is not None:
        options["burst"] = args.kube_burst
    qps, burst = options.get("qps", defaults.get("qps")), options.get("burst", defaults.get("burst"))
    default_text = f"KubeCluster's default: qps {defaults.get('qps')}, burst {defaults.get('burst')}"
    if not options:
        limit = f"client rate limit qps {qps}, burst {burst} ({default_text})"
    elif qps is not None and qps <= 0:
        limit = f"client rate limit OFF for this benchmark (qps {qps}; {default_text})"
    else:
        limit = f"client rate limit CHANGED for this benchmark: qps {qps}, burst {burst} ({default_text})"
    print(f"  {limit}", flush=True)

    with ControlPlane() as controlplane:
        started = time.perf_counter()
        controlplane.start(work / "cp", nodes=1)
        nodes = add_nodes(controlplane, tree.pods)
        print(f"  control plane up in {time.perf_counter() - started:.1f} s, with {nodes} more fake nodes of "
              f"{BENCH_NODE}", flush=True)

        def first() -> dict[str, Any]:
            kube = KubeCluster.from_kubeconfig("kube", str(controlplane.kubeconfig), **options)
            try:
                done = first_apply(kube, settings, tree, args.label_domain, lambda: {})
                done["first_apply"]["transport"] = kube.stats.snapshot()
                done["settle"] = wait_settled(controlplane, kube, args.label_domain, args.kube_settle)
                return done
            finally:
                kube.close()

        done = in_child(first)
        problems = done.pop("problems")
        out, found = all_noop_cycles(
            lambda: KubeCluster.from_kubeconfig("kube", str(controlplane.kubeconfig), **options),
            settings, tree, args.label_domain, args)
    return {"backend": "kube", "rate_limit": limit, "kwok_nodes": nodes, **tree_fields(tree), **done, **out}, \
        problems + found


def add_nodes(controlplane: Any, pods: int) -> int:
    """Fake nodes big enough for every pod of the tree: tools/controlplane/fake-node.yaml with a
    larger capacity (8 CPUs a node would hold a handful of these pods). Returns how many."""
    import yaml

    template = (REPO / "tools" / "controlplane" / "fake-node.yaml").read_text()
    version = controlplane.kubectl_json("get", "nodes")["items"][0]["status"]["nodeInfo"]["kubeletVersion"]
    count = max(1, math.ceil(pods / (BENCH_NODE["pods"] * 0.8)))
    docs = []
    for i in range(count):
        node = yaml.safe_load(template.replace("__NAME__", f"bench-node-{i}")
                              .replace("__KUBELET_VERSION__", version))
        capacity = {k: str(v) for k, v in BENCH_NODE.items()}
        node["status"]["capacity"] = node["status"]["allocatable"] = capacity
        docs.append(yaml.safe_dump(node))
    controlplane.kubectl("apply", "-f", "-", input="---\n".join(docs))

    def ready() -> bool:
        nodes = controlplane.kubectl_json("get", "nodes")["items"]
        return sum(1 for n in nodes if n["metadata"]["name"].startswith("bench-node-") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or ())) == count

    deadline = time.monotonic() + 120
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} bench nodes not Ready after 120 s")
        time.sleep(1)
    return count


def bind_claims(controlplane: Any, made: set[str]) -> int:
    """A PersistentVolume for every pending claim (there is no provisioner on the control plane;
    StatefulSet pods would stay unschedulable): hostPath, bound by claimRef. Returns how many
    were made now."""
    _, body = controlplane.api_request("/api/v1/persistentvolumeclaims")
    new = 0
    for claim in body.get("items") or ():
        meta, spec = claim["metadata"], claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") != "Pending" or spec.get("volumeName") or meta["uid"] in made:
            continue
        volume = {"apiVersion": "v1", "kind": "PersistentVolume",
                  "metadata": {"name": f"bench-pv-{meta['uid']}"},
                  "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                           "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                           "persistentVolumeReclaimPolicy": "Retain",
                           "storageClassName": spec.get("storageClassName") or "",
                           "hostPath": {"path": f"/tmp/bench-pv/{meta['uid']}"},
                           "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}}
        status, answer = controlplane.api_request("/api/v1/persistentvolumes", method="POST", body=volume)
        if status not in (201, 409):
            raise RuntimeError(f"cannot create a PersistentVolume: {status} {answer}")
        made.add(meta["uid"])
        new += 1
    return new


def wait_settled(controlplane: Any, kube: Any, label_domain: str, timeout: float,
                 still: float = 15.0) -> dict[str, Any]:
    """Wait until every managed rollout has been complete for `still` seconds (making volumes for
    the claims meanwhile), at most `timeout` seconds. Report what the cluster holds."""
    started = time.perf_counter()
    workloads, under_way, complete_since = 0, -1, None
    incomplete: list[str] = ["not looked at yet"]
    claims: set[str] = set()
    progress = time.perf_counter()
    while time.perf_counter() - started < timeout:
        bind_claims(controlplane, claims)
        workloads, incomplete, under_way = incomplete_rollouts(kube, label_domain)
        if incomplete:
            complete_since = None
        elif complete_since is None:
            complete_since = time.perf_counter()
        elif time.perf_counter() - complete_since >= still:
            break
        if time.perf_counter() - progress >= 60:
            progress = time.perf_counter()
            print(f"    ... {time.perf_counter() - started:.0f} s: {len(incomplete)} of {workloads} rollouts "
                  f"not complete ({under_way} under way), {len(claims)} volumes made, load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
        time.sleep(5.0)
    waited = round(time.perf_counter() - started, 1)
    _, body = controlplane.api_request("/api/v1/pods?limit=1")
    pods = (body.get("metadata") or {}).get("remainingItemCount", 0) + len(body.get("items") or ())
    figures = {"waited_s": waited, "settled": not incomplete, "workloads": workloads,
               "incomplete": len(incomplete), "under_way": under_way, "incomplete_examples": incomplete[:10],
               "pods": pods, "volumes_made": len(claims), "loadavg": [round(x, 2) for x in os.getloadavg()]}
    print(f"  after the first apply: {'settled' if not incomplete else 'NOT settled'} after {waited} s: "
          f"{pods} pods, {len(incomplete)} of {workloads} rollouts not complete ({under_way} under way), "
          f"{len(claims)} volumes made" + "".join(f"\n    {line}" for line in incomplete[:10]), flush=True)
    return figures


def tree_fields(tree: Tree) -> dict[str, Any]:
    return {"services": tree.services, "instances": tree.instances, "render_outcomes": tree.outcomes,
            "rendered_objects": tree.objects, "pods_wanted": tree.pods, "render_s": tree.render_s}


# ---------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sim", "kube", "both"), default="both")
    parser.add_argument("--instances", type=int,
                        help="about this many instances on the cluster (default: 10000 sim, 1000 kube)")
    parser.add_argument("--rounds", type=int, default=7, help="measured no-op cycles per GC mode (default 7)")
    parser.add_argument("--gc", choices=("off", "on", "both"), default="both",
                        help="the cyclic GC in the measured no-op cycles: off (as `reconciler plan|apply`), "
                             "on, or both one after the other (default); the rest runs with the first")
    parser.add_argument("--seed", type=int, default=gen_tree.DEFAULT_SEED)
    parser.add_argument("--label-domain", default=DEFAULT_LABEL_DOMAIN)
    parser.add_argument("--sim-settle", type=float, default=300.0, metavar="SECONDS",
                        help="sim: after the first apply, move the clock on this much and run the controllers "
                             "(default 300; 0: the clock never moves, rollouts never complete)")
    parser.add_argument("--kube-qps", type=float, help="kube: client-side rate limit (<= 0: none; "
                                                       "default: KubeCluster's)")
    parser.add_argument("--kube-burst", type=int, help="kube: client-side burst (default: KubeCluster's)")
    parser.add_argument("--kube-settle", type=float, default=1800.0, metavar="SECONDS",
                        help="kube: wait at most this long for every rollout to complete after the first "
                             "apply (default 1800)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile one no-op cycle (cProfile) and print its top N functions")
    parser.add_argument("--keep", metavar="DIR", help="work here (tree, sim state, control plane) and keep it")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    print(f"project {project_state()}; machine {machine()}", flush=True)
    if args.gc != "on":
        gc.disable()  # as cli/main.py does for every command: render and first apply as `reconciler apply`
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    for name in ("sim", "kube") if args.backend == "both" else (args.backend,):
        instances = args.instances or DEFAULT_INSTANCES[name]
        work = Path(args.keep) / name if args.keep else Path(tempfile.mkdtemp(prefix=f"cycle-bench-{name}-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            out, found = (bench_sim if name == "sim" else bench_kube)(args, work, instances)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        out["machine_after"] = machine()
        results.append(out)
        problems += [f"{name}: {p}" for p in found]
    for result in results:
        print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"project": project_state(), "results": results, "problems": problems}, f, indent=2)
    for problem in problems[:200]:
        print(f"PROBLEM {problem}", file=sys.stderr)
    if len(problems) > 200:
        print(f"PROBLEM ... and {len(problems) - 200} more", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
