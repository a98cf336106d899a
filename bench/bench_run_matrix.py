"""``crosscloud run`` on the default matrix (the embedded status-data/cross-cloud.yml on the local cloud):
wall time with ``--jobs 1`` and ``--jobs 2`` in the same run, each into a fresh status repository, as a
user runs it (a real process, real terraform, real binaries). Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(jobs: int, scratch: Path) -> dict[str, object]:
    work = scratch / f"jobs-{jobs}"
    work.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cli = [sys.executable, "-m", "crosscloud"]
    subprocess.run([*cli, "init", "--repo", "status.git"], cwd=work, env=env, check=True, capture_output=True)
    began = time.perf_counter()
    proc = subprocess.run([*cli, "run", "--repo", "status.git", "--jobs", str(jobs)], cwd=work, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - began
    cells = subprocess.run(["git", "--git-dir", str(work / "status.git"), "ls-tree", "-r", "--name-only", "main",
                            "results"], capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    print(proc.stdout[-600:], file=sys.stderr)
    return {"jobs": jobs, "wall_s": round(wall, 2), "exit": proc.returncode, "cells_recorded": len(cells)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="measure each setting this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-run-matrix-") as tmp:
        runs = []
        for n in range(args.repeat):
            for jobs in (1, 2):
                scratch = Path(tmp) / f"rep{n}"
                scratch.mkdir(exist_ok=True)
                runs.append(run_once(jobs, scratch))
    best = {jobs: min(float(r["wall_s"]) for r in runs if r["jobs"] == jobs) for jobs in (1, 2)}  # type: ignore[arg-type]
    print(json.dumps({
        "benchmark": "run_matrix", "matrix": "default (status-data/cross-cloud.yml, local cloud)",
        "runs": runs, "best_wall_s": {"jobs_1": best[1], "jobs_2": best[2]},
        "speedup_jobs_2": round(best[1] / best[2], 2), "load_avg_1m_before": os.getloadavg()[0],
        "all_green": all(r["exit"] == 0 for r in runs),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
