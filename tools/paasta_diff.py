#!/usr/bin/env python3
"""Differential check against PaaSTA 1.64: random soa-configs trees that use every instance key
(benchmarks/gen_tree.py --extended), rendered by PaaSTA's own code and by the reconciler, compared
with shared/compat/compare.py (workloads and HPAs). Not part of CI: it needs paasta-tools in a
virtualenv of its own (never a dependency of the project).

    python3 -m venv /work/paasta-venv && /work/paasta-venv/bin/pip install paasta-tools==1.64.0
    .venv/bin/python tools/paasta_diff.py --paasta-python /work/paasta-venv/bin/python --rounds 20

Prints one line per round (instances, matches) and every mismatch; exits 1 when any round had one.
The trees of failing rounds are kept (their paths are printed) to reproduce a finding.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLUSTERS = ("norcal-prod", "pnw-dev")
REGISTRY = "registry.example.com"


def default_compare() -> Path:
    shared = os.environ.get("RECONCILER_SHARED_DIR") or str(REPO.parent / "shared")
    return Path(shared) / "compat" / "compare.py"


def run(argv: list[str], out: Path) -> None:
    with out.open("w") as sink:
        subprocess.run(argv, stdout=sink, stderr=subprocess.DEVNULL, check=True, cwd=REPO)


def one_round(seed: int, services: int, paasta_python: str, compare: Path, work: Path) -> tuple[int, int, str]:
    tree = work / "soa-configs"
    subprocess.run([sys.executable, str(REPO / "benchmarks/gen_tree.py"), "--out", str(tree), "--services",
                    str(services), "--seed", str(seed), "--clusters", *CLUSTERS, "--extended"],
                   check=True, capture_output=True)
    expected, ours = work / "expected.jsonl", work / "ours.jsonl"
    run([paasta_python, str(REPO / "benchmarks/paasta_render.py"), "--soa-dir", str(tree), "--hpa",
         "--docker-registry", REGISTRY, *[f"--cluster={c}" for c in CLUSTERS], "--all"], expected)
    with ours.open("w") as sink:
        for cluster in CLUSTERS:
            subprocess.run([sys.executable, "-m", "reconciler.cli.main", "render", "--soa-dir", str(tree),
                            "--cluster", cluster, "--all", "-o", "jsonl", "--docker-registry", REGISTRY],
                           stdout=sink, stderr=subprocess.DEVNULL, cwd=REPO, check=False)
    proc = subprocess.run([sys.executable, str(compare), str(expected), str(ours), "--show", "30"],
                          capture_output=True, text=True)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "compat ? (0/0 instances match)"
    counts = last.split("(", 1)[1].split(" ", 1)[0]
    matched, total = (int(x) for x in counts.split("/"))
    return matched, total, proc.stdout


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paasta-python", required=True, help="the interpreter of a virtualenv with paasta-tools==1.64.0")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--services", type=int, default=40, help="services per tree (about 4 instances each)")
    p.add_argument("--seed", type=int, default=1000, help="the first round's seed; round i uses seed + i")
    p.add_argument("--compare", type=Path, default=default_compare(), help="compare.py (default: shared/compat)")
    args = p.parse_args(argv)
    tried = failed = 0
    for i in range(args.rounds):
        work = Path(tempfile.mkdtemp(prefix=f"paasta-diff-{args.seed + i}-"))
        matched, total, report = one_round(args.seed + i, args.services, args.paasta_python, args.compare, work)
        tried += total
        print(json.dumps({"seed": args.seed + i, "instances": total, "match": matched}))
        if matched != total:
            failed += total - matched
            print(report, end="")
            print(f"kept: {work}")
        else:
            shutil.rmtree(work)
    print(f"paasta_diff: {tried} instances tried, {failed} mismatches")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
