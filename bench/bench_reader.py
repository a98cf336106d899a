"""The reader on a year of history: ``StatusIndex`` cold refresh, ``current()``, an incremental refresh
after one new commit, and one cell's history, in a child process whose peak RSS is reported.

The year is made by ``generate_history.generate`` (365 nights, 86,870 records, 5,110 commits) in a
temporary directory, or taken from ``--repo`` (copied first: the benchmark adds a commit). The child is a
fresh interpreter, so neither the generator's memory nor its imports count. Where the history was generated
here, the child also checks the index against the generator's known answers.

Targets: cold refresh <= 10 s, incremental refresh <= 100 ms, cell history p99 <= 20 ms.
Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from generate_history import CONFIG_2018, exit_on_sigterm, log, percentile, year_repository

TARGETS = {"cold_refresh_s": 10.0, "incremental_refresh_s": 0.1, "cell_history_p99_s": 0.02}


def child(repo: Path, answers_file: Path | None, cells: int, seed: int, db: str) -> dict[str, Any]:
    """Runs in the fresh interpreter: every measurement of the reader."""
    from crosscloud.records import CellKey, Record, format_time
    from crosscloud.status_repo.git import Remote
    from crosscloud.status_repo.reader import StatusIndex
    from crosscloud.status_repo.writer import StatusRepoWriter

    rss_at_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    index = StatusIndex(repo, db)

    began = time.perf_counter()
    cold = index.refresh()
    cold_s = time.perf_counter() - began
    log(f"  child: cold refresh {cold_s:.2f} s ({cold.commits} commits, {cold.entries} entries)")

    began = time.perf_counter()
    current = index.current()
    current_s = time.perf_counter() - began
    began = time.perf_counter()
    index.current()
    current_again_s = time.perf_counter() - began
    broken = sorted(str(key) for key, entry in current.items() if entry.error)

    answers_match = None
    mismatched: list[str] = []
    if answers_file:
        for answer in json.loads(answers_file.read_text()):
            shown = [e.status for e in reversed(index.cell_history(CellKey(**answer["key"])))]
            if shown != answer["statuses"]:
                mismatched.append(answer["name"])
        answers_match = not mismatched

    # one more result, one commit, then the incremental refresh
    key = sorted(current)[0]
    newest = index.record(current[key])
    later = dict(newest.data)
    started = newest.finished_at or newest.started_at
    later["started_at"] = format_time(started + timedelta(days=1))
    later["finished_at"] = format_time(started + timedelta(days=1, minutes=10))
    later["run"] = {**newest.run, "id": newest.run.get("id", 0) + 1_000_000}
    write = StatusRepoWriter(Remote.parse(str(repo))).write([Record.from_dict(later)])
    began = time.perf_counter()
    incremental = index.refresh()
    incremental_s = time.perf_counter() - began
    log(f"  child: incremental refresh {incremental_s * 1000:.1f} ms ({incremental.entries} entries)")

    rng = random.Random(seed)
    keys = sorted(current)
    history_s, history_len = [], []
    for _ in range(cells):
        chosen = rng.choice(keys)
        began = time.perf_counter()
        entries = index.cell_history(chosen)
        history_s.append(time.perf_counter() - began)
        history_len.append(len(entries))

    return {
        "cold_refresh_s": round(cold_s, 3),
        "cold_commits": cold.commits,
        "cold_entries": cold.entries,
        "current_s": round(current_s, 4),
        "current_again_s": round(current_again_s, 4),
        "current_cells": len(current),
        "current_cells_with_errors": len(broken),
        "known_answers_match": answers_match,
        "known_answers_mismatched": mismatched,
        "new_commit_attempts": write.attempts,
        "incremental_refresh_s": round(incremental_s, 4),
        "incremental_commits": incremental.commits,
        "incremental_entries": incremental.entries,
        "incremental_rebuilt": incremental.rebuilt,
        "records_indexed": index.size(),
        "cell_history_cells": cells,
        "cell_history_entries_mean": round(sum(history_len) / len(history_len), 1) if history_len else None,
        "cell_history_p50_s": round(percentile(history_s, 50), 5),
        "cell_history_p99_s": round(percentile(history_s, 99), 5),
        "cell_history_max_s": round(max(history_s), 5) if history_s else None,
        "rss_at_start_mib": round(rss_at_start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "db": db,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="use this status repository (copied) instead of generating one")
    parser.add_argument("--nights", type=int, default=365, help="nights of history to generate")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to generate with")
    parser.add_argument("--cells", type=int, default=100, help="random cells whose history is timed")
    parser.add_argument("--db-file", action="store_true", help="index into an SQLite file, not in memory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", default=":memory:", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.repo, args.answers, args.cells, args.seed, args.db)))
        return 0
    if args.nights < 1 or args.cells < 1:
        parser.error("--nights and --cells must be at least 1")

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-reader-"))
    try:
        repo, answers_file, generated = year_repository(
            scratch, copy_of=args.repo, nights=args.nights, seed=args.seed, config_file=args.config
        )
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo)]
        command += ["--cells", str(args.cells), "--seed", str(args.seed)]
        command += ["--db", str(scratch / "index.sqlite") if args.db_file else ":memory:"]
        if answers_file:
            command += ["--answers", str(answers_file)]
        log("measuring in a child process")
        proc = subprocess.run(command, stdout=subprocess.PIPE, check=True)
        figures = json.loads(proc.stdout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    checks = {name: figures[name] <= target for name, target in TARGETS.items()}
    expected = generated["records"] if generated else None
    result = {
        "benchmark": "reader",
        "repo": str(args.repo) if args.repo else None,
        "nights": generated["nights"] if generated else None,
        "generated_records": expected,
        "generated_commits": generated["commits"] if generated else None,
        "generate_s": generated["seconds"] if generated else None,
        **figures,
        "counts_match": (
            figures["cold_entries"] == expected and figures["records_indexed"] == expected + 1 if expected else None
        ),
        "targets": {name: {"target": TARGETS[name], "value": figures[name], "pass": ok} for name, ok in checks.items()},
        "pass": all(checks.values()),
        "load_avg_1m_before": round(load_before, 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
