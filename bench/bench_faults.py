"""No loss under faults, at scale: 256 concurrent writers (two cells each) into one bare status repository
whose pre-receive hook refuses a fifth of all pushes and answers slowly, while 10% of the writers are
killed with SIGKILL mid-write. The harness and its checks are ``tests/helpers/writer_faults.py`` (the test suite
runs the same with 24 writers).

Prints one JSON object: the promises (every record of a writer that was not killed landed exactly once,
no half-applied tip was ever visible, the reader indexed every tip, fsck clean) and the figures (wall
time, commits, tips seen), beside a fault-free run of the same writers in the same process as the
baseline."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generate_history import CONFIG_2018, exit_on_sigterm, log  # noqa: E402

from crosscloud.config import load_config  # noqa: E402
from crosscloud.status_repo.seed import init_status_repo  # noqa: E402
from crosscloud.status_repo.writer import Backoff  # noqa: E402
from tests.helpers.writer_faults import install_faulty_hook, run_faulty_writers, writer_pairs  # noqa: E402


def one(scratch: Path, name: str, pairs: Any, *, reject: int, slow_ms: int, kill: int, timeout: float) -> Any:
    repo = scratch / f"{name}.git"
    init_status_repo(repo, config_file=CONFIG_2018)
    if reject or slow_ms:
        install_faulty_hook(repo, reject_percent=reject, slow_ms=slow_ms)
    log(f"{name}: {len(pairs)} writers, {reject}% of pushes refused, up to {slow_ms} ms slow, {kill} killed")
    run = run_faulty_writers(repo, pairs, kill=kill, backoff=Backoff(), kill_window=10.0, timeout=timeout)
    problems = run.problems(pairs)
    log(f"{name}: {run.wall_s:.1f} s, {len(problems)} problems")
    return {**run.summary(), "problems": problems[:5], "pass": not problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=256)
    parser.add_argument("--reject-percent", type=int, default=20)
    parser.add_argument("--slow-ms", type=int, default=200)
    parser.add_argument("--kill-percent", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--no-baseline", action="store_true", help="skip the fault-free run")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    pairs = writer_pairs(load_config(CONFIG_2018), args.writers, began=datetime(2026, 11, 1, 3, tzinfo=UTC))
    kill = args.writers * args.kill_percent // 100
    scratch = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    started = time.monotonic()
    try:
        baseline = None
        if not args.no_baseline:
            baseline = one(scratch, "baseline", pairs, reject=0, slow_ms=0, kill=0, timeout=args.timeout)
        faulty = one(
            scratch, "faults", pairs, reject=args.reject_percent, slow_ms=args.slow_ms, kill=kill, timeout=args.timeout
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "writer_faults",
        "writers": args.writers,
        "records_per_writer": 2,
        "reject_percent": args.reject_percent,
        "slow_ms_max": args.slow_ms,
        "faults": faulty,
        "baseline_no_faults": baseline,
        "wall_ratio_vs_baseline": round(faulty["wall_s"] / baseline["wall_s"], 2) if baseline else None,
        "pass": faulty["pass"] and (baseline is None or baseline["pass"]),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
