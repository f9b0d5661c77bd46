#!/usr/bin/env python3
"""Benchmark `reconciler render` on a generated soa-configs tree, against PaaSTA when available.

    .venv/bin/python benchmarks/render_bench.py                      # 1,000 services, ~2,000 instances
    .venv/bin/python benchmarks/render_bench.py --instances-target 10000
    .venv/bin/python benchmarks/render_bench.py --no-paasta --repeat 5

What it does:
1. generates the tree with benchmarks/gen_tree.py (fixed seed) into a temporary directory;
2. runs `reconciler render --all -o jsonl --cluster C` as a subprocess --repeat times and keeps
   the best wall-clock time and the peak memory (max RSS of that child, from wait4);
3. runs the same render in a fresh interpreter that times only the rendering (imports and
   interpreter start-up excluded), --repeat times, best kept;
4. when PaaSTA's interpreter exists (--paasta-python, $PAASTA_PYTHON, default
   /work/paasta-venv/bin/python), runs benchmarks/paasta_render.py on the same tree and cluster
   (its rendering time excludes start-up and imports too) and prints the ratio PaaSTA / ours;
5. runs shared/compat/compare.py with PaaSTA's output as EXPECTED and ours as ACTUAL, prints
   the compat percentage and every mismatch class (fields that differ) with a count and an
   example.

ms per instance is over every instance of the cluster in the tree (not-deployed ones
included: both sides have to read and decide about them). The project's own code is never
changed or imported by PaaSTA's side: PaaSTA runs only in its own interpreter.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import gen_tree  # noqa: E402

REGISTRY = "registry.example.com"
DEFAULT_PAASTA_PYTHON = "/work/paasta-venv/bin/python"
MEAN_INSTANCES_PER_SERVICE = 2.05  # gen_tree.instance_count's mean, per cluster

#: Renders in a fresh interpreter and reports the time after imports (stderr, one JSON line).
IN_PROCESS = r"""
import json, os, sys, time
t0 = time.perf_counter()
from reconciler.cli.main import main
t1 = time.perf_counter()
out_path = sys.argv[1]
argv = sys.argv[2:]
with open(out_path, "w") as out:
    real, sys.stdout = sys.stdout, out
    try:
        code = main(argv)
    finally:
        sys.stdout = real
t2 = time.perf_counter()
sys.stderr.write(json.dumps({"import_s": t1 - t0, "render_s": t2 - t1, "exit": code}) + "\n")
"""


class TreeMemory(threading.Thread):
    """Samples the memory of a process and all its descendants (forked workers included).

    Peak of the summed PSS (proportional set size: pages shared after fork() are split
    between the processes sharing them, so the sum is the real footprint), read from
    /proc/<pid>/smaps_rollup every `interval` seconds; 0 where /proc does not have it.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kib = 0
        self.peak_processes = 0
        self._halt = threading.Event()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                for task in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
        return out

    @staticmethod
    def _pss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self._halt.is_set():
            pids = self._tree(self.pid)
            total = sum(self._pss_kib(p) for p in pids)
            if total > self.peak_kib:
                self.peak_kib, self.peak_processes = total, len(pids)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_measured(cmd: list[str], stdout_path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`, stdout to a file: wall-clock seconds, CPU seconds, memory, stderr.

    max_rss_mib is the largest single process (wait4's ru_maxrss covers the child and the
    descendants it reaped: the maximum of them, not their sum); tree_pss_mib is the sampled
    peak of the whole process tree, which is what counts when rendering forks workers.
    """
    with open(stdout_path, "w") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    return {"wall_s": wall, "max_rss_mib": usage.ru_maxrss / 1024,
            "tree_pss_mib": sampler.peak_kib / 1024, "tree_processes": sampler.peak_processes,
            "exit": proc.returncode, "stderr": stderr,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def project_state() -> str:
    """The commit of the project measured, and whether its reconciler/ had local changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "reconciler")
    return f"{head}{' + uncommitted changes in reconciler/' if dirty else ''}"


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def pgrep(pattern: str) -> list[str]:
        try:
            found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
        except OSError:
            return []
        return [line[:120] for line in found.splitlines() if "pgrep" not in line]

    def cpu_busy_percent(seconds: float = 0.5) -> float | None:
        """Share of all CPUs busy over a short sample (before we start: others' load)."""
        def sample() -> tuple[int, int]:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            return sum(fields), idle
        try:
            total0, idle0 = sample()
            time.sleep(seconds)
            total1, idle1 = sample()
        except OSError:
            return None
        spent = total1 - total0
        return round(100.0 * (spent - (idle1 - idle0)) / spent, 1) if spent else None

    return {
        "cpu_busy_pct": cpu_busy_percent(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "go_build_running": bool(pgrep("go build")),
        "go_toolchain_processes": pgrep(r"go (build|install|test)|/pkg/tool/.*/(compile|link)"),
    }


def classify(line: str) -> str:
    """A compare.py mismatch line -> its class (what kind of difference)."""
    _, _, why = line.partition(": ")
    if why.startswith("not deployed yet"):
        return "rendered although PaaSTA has no deployment for it"
    if why.startswith("missing from actual"):
        return "missing from our output"
    if why.startswith("PaaSTA rejects it"):
        return "PaaSTA rejects, we render"
    if why.startswith("rejected:"):
        return "we reject, PaaSTA renders"
    if why.startswith("no Deployment"):
        return "no workload among our objects"
    fields = re.findall(r"(?:^|; )([a-z_]+): expected", why)
    return "differs: " + ",".join(sorted(set(fields))) if fields else why[:80]


def compare(compare_py: str, expected: str, actual: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, compare_py, expected, actual, "--show", "1000000"],
                          capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else done.stderr.strip()
    classes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for line in lines[:-1]:
        kind = classify(line)
        classes[kind] += 1
        examples.setdefault(kind, line)
    match = re.search(r"compat ([\d.]+)%", summary)
    return {"summary": summary, "percent": float(match.group(1)) if match else None,
            "classes": dict(classes.most_common()), "examples": examples}


def outcomes(path: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "error" in r:
                counts["NoDeploymentsAvailable" if "NoDeploymentsAvailable" in r["error"]
                       else "error"] += 1
            elif r.get("status") == "not_deployed":
                counts["not_deployed"] += 1
            else:
                counts["rendered"] += 1
    return counts


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--services", type=int, default=1000, help="services to generate (default 1000)")
    size.add_argument("--instances-target", type=int,
                      help=f"about this many instances on the cluster (services = target / "
                           f"{MEAN_INSTANCES_PER_SERVICE}); e.g. 10000 for the memory figure")
    p.add_argument("--seed", type=int, default=gen_tree.DEFAULT_SEED)
    p.add_argument("--extended", action="store_true",
                   help="a tree that also uses the keys of soa-configs.md section 3a (gen_tree.py --extended)")
    p.add_argument("--clusters", nargs="+", default=list(gen_tree.DEFAULT_CLUSTERS),
                   help="clusters of the generated tree")
    p.add_argument("--cluster", help="cluster to render (default: the first of --clusters)")
    p.add_argument("--workers", type=int,
                   help="RECONCILER_WORKERS for our side (default: the CLI's own choice)")
    p.add_argument("--repeat", type=int, default=3, help="runs of ours, best kept (default 3)")
    p.add_argument("--paasta-repeat", type=int, default=1, help="runs of PaaSTA, best kept (default 1)")
    p.add_argument("--paasta-python", default=os.environ.get("PAASTA_PYTHON", DEFAULT_PAASTA_PYTHON),
                   help="interpreter with paasta-tools (default $PAASTA_PYTHON or %(default)s)")
    p.add_argument("--no-paasta", action="store_true", help="skip PaaSTA's side and the compat run")
    p.add_argument("--reconciler", help="the reconciler CLI (default: next to this interpreter)")
    p.add_argument("--compare", default=str(REPO.parent / "shared" / "compat" / "compare.py"),
                   help="compare.py (default: %(default)s)")
    p.add_argument("--keep", metavar="DIR", help="write the tree and outputs here and keep them")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return p.parse_args(argv)


def best(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return min(runs, key=lambda r: r[key])


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    services = math.ceil(args.instances_target / MEAN_INSTANCES_PER_SERVICE) \
        if args.instances_target else args.services
    clusters = [c for item in args.clusters for c in item.split(",") if c]
    cluster = args.cluster or clusters[0]
    if cluster not in clusters:
        clusters.append(cluster)
    reconciler = args.reconciler or shutil.which("reconciler", path=str(Path(sys.executable).parent)) \
        or shutil.which("reconciler")
    if not reconciler:
        print("render_bench: cannot find the reconciler CLI; pass --reconciler", file=sys.stderr)
        return 2

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="render-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "soa-configs"
    if tree.exists():
        shutil.rmtree(tree)
    results: dict[str, Any] = {"machine_before": machine()}
    try:
        t0 = time.perf_counter()
        summary = gen_tree.generate(str(tree), services, args.seed, clusters, args.extended)
        total = summary["instances"][cluster]
        results["tree"] = {"services": services, "seed": args.seed, "cluster": cluster,
                           "instances_on_cluster": total,
                           "generate_s": round(time.perf_counter() - t0, 2)}
        print(f"tree: {services} services, seed {args.seed}, {total} instances on {cluster} "
              f"(generated in {results['tree']['generate_s']} s) at {tree}")

        render_args = ["render", "--soa-dir", str(tree), "--cluster", cluster, "--all",
                       "-o", "jsonl", "--docker-registry", REGISTRY]
        ours_out = str(work / "ours.jsonl")
        ours_env = dict(os.environ)
        if args.workers:
            ours_env["RECONCILER_WORKERS"] = str(args.workers)
        results["project"] = project_state()
        cli_runs = [run_measured([reconciler, *render_args], ours_out, env=ours_env)
                    for _ in range(args.repeat)]
        for r in cli_runs:
            if r["exit"] not in (0, 1):
                print(f"render_bench: reconciler failed (exit {r['exit']}):\n{r['stderr']}", file=sys.stderr)
                return 2
        inproc_runs = []
        for _ in range(args.repeat):
            r = run_measured([sys.executable, "-c", IN_PROCESS, str(work / "ours-inproc.jsonl"),
                              *render_args], os.devnull, env=ours_env)
            stats = json.loads(r["stderr"].strip().splitlines()[-1])
            inproc_runs.append({**r, **stats})
        cli, inproc = best(cli_runs, "wall_s"), best(inproc_runs, "render_s")
        ours_counts = outcomes(ours_out)
        ours = {
            "outcomes": dict(ours_counts),
            "cli_wall_s_best": round(cli["wall_s"], 3),
            "cli_wall_s_all": [round(r["wall_s"], 3) for r in cli_runs],
            "cli_ms_per_instance": round(cli["wall_s"] * 1000 / total, 3),
            "render_s_best": round(inproc["render_s"], 3),
            "render_s_all": [round(r["render_s"], 3) for r in inproc_runs],
            "import_s": round(inproc["import_s"], 3),
            "render_ms_per_instance": round(inproc["render_s"] * 1000 / total, 3),
            "cpu_s_best": round(min(r["cpu_s"] for r in cli_runs), 3),
            "cpu_ms_per_instance": round(min(r["cpu_s"] for r in cli_runs) * 1000 / total, 3),
            "peak_rss_mib": round(max(r["max_rss_mib"] for r in cli_runs), 1),
            "peak_tree_pss_mib": round(max(r["tree_pss_mib"] for r in cli_runs), 1),
            "processes": max(r["tree_processes"] for r in cli_runs),
            "workers": args.workers or "CLI default",
        }
        results["ours"] = ours
        print(f"ours ({results['project']}, workers: {ours['workers']}): "
              f"{sum(ours_counts.values())} lines ({dict(ours_counts)})")
        print(f"  CLI best of {args.repeat}: {ours['cli_wall_s_best']} s wall "
              f"({ours['cli_ms_per_instance']} ms/instance), {ours['cpu_s_best']} s CPU "
              f"({ours['cpu_ms_per_instance']} ms/instance)")
        print(f"  in-process render (no start-up, no imports): {ours['render_s_best']} s "
              f"({ours['render_ms_per_instance']} ms/instance); imports {ours['import_s']} s")
        print(f"  peak memory: {ours['peak_tree_pss_mib']} MiB PSS over {ours['processes']} "
              f"process(es); largest single process RSS {ours['peak_rss_mib']} MiB")

        paasta_python = args.paasta_python
        if args.no_paasta:
            print("paasta: skipped (--no-paasta)")
        elif not (paasta_python and os.path.exists(paasta_python)):
            print(f"paasta: skipped ({paasta_python} does not exist)")
        else:
            paasta_out = str(work / "paasta.jsonl")
            cmd = [paasta_python, str(HERE / "paasta_render.py"), "--soa-dir", str(tree),
                   "--cluster", cluster, "--docker-registry", REGISTRY, "--all"]
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            paasta_runs = []
            for _ in range(max(1, args.paasta_repeat)):
                r = run_measured(cmd, paasta_out, env=env)
                if r["exit"] != 0:
                    print(f"render_bench: paasta_render failed (exit {r['exit']}):\n{r['stderr'][-2000:]}",
                          file=sys.stderr)
                    return 2
                line = [x for x in r["stderr"].splitlines() if x.startswith("paasta_render: {")][-1]
                paasta_runs.append({**r, **json.loads(line.split(": ", 1)[1])})
            pbest = best(paasta_runs, "seconds")
            paasta = {
                "outcomes": dict(outcomes(paasta_out)),
                "render_s_best": round(pbest["seconds"], 3),
                "render_ms_per_instance": round(pbest["seconds"] * 1000 / total, 3),
                "wall_s_best": round(min(r["wall_s"] for r in paasta_runs), 3),
                "cpu_s_best": round(min(r["cpu_s"] for r in paasta_runs), 3),
                "peak_rss_mib": round(max(r["max_rss_mib"] for r in paasta_runs), 1),
                "peak_tree_pss_mib": round(max(r["tree_pss_mib"] for r in paasta_runs), 1),
            }
            paasta["ratio_render"] = round(pbest["seconds"] / inproc["render_s"], 2)
            paasta["ratio_wall"] = round(paasta["wall_s_best"] / cli["wall_s"], 2)
            paasta["ratio_cpu"] = round(paasta["cpu_s_best"] / ours["cpu_s_best"], 2)
            results["paasta"] = paasta
            print(f"paasta 1 process: {paasta['outcomes']}; render {paasta['render_s_best']} s "
                  f"({paasta['render_ms_per_instance']} ms/instance), wall {paasta['wall_s_best']} s, "
                  f"CPU {paasta['cpu_s_best']} s, peak memory {paasta['peak_tree_pss_mib']} MiB PSS "
                  f"(RSS {paasta['peak_rss_mib']} MiB)")
            print(f"ratio PaaSTA / ours: {paasta['ratio_render']}x rendering only, "
                  f"{paasta['ratio_wall']}x wall-clock with start-up, {paasta['ratio_cpu']}x CPU time")
            if os.path.exists(args.compare):
                cmp = compare(args.compare, paasta_out, ours_out)
                results["compat"] = cmp
                print(f"compat (PaaSTA expected, ours actual): {cmp['summary']}")
                for kind, count in cmp["classes"].items():
                    print(f"  {count:6d}  {kind}\n          e.g. {cmp['examples'][kind][:300]}")
            else:
                print(f"compat: skipped ({args.compare} not found)")
        results["machine_after"] = machine()
        m = results["machine_after"]
        print(f"machine: {m['nproc']} x {m['cpu_model']}, python {m['python']}, load average "
              f"{results['machine_before']['loadavg'][0]:.2f} before / {m['loadavg'][0]:.2f} after; "
              f"CPU busy (others) {results['machine_before']['cpu_busy_pct']}% before / "
              f"{m['cpu_busy_pct']}% after; "
              f"`go build` running: {results['machine_before']['go_build_running'] or m['go_build_running']}; "
              f"other Go toolchain processes: "
              f"{len(results['machine_before']['go_toolchain_processes'])} before / "
              f"{len(m['go_toolchain_processes'])} after")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
