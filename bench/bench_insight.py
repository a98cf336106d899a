"""Insight on a year of history: every cell's failing-since, last success, flakiness, trend and failure
kinds, cold and incremental after a new commit, against a naive baseline, in a child process.

The year is made by ``generate_history.generate`` (365 nights, 86,870 records, 5,110 commits) in a
temporary directory, or taken from ``--repo`` (copied first: the benchmark adds a commit). The child
indexes it with ``StatusIndex`` (timed, but not part of the targets: ``bench_reader.py`` covers it), then:

- **cold**: ``insights(index)`` and ``InsightCache().update(index)`` for every cell (the first run, and
  the median of ``--repeat``);
- **baseline**: the same answers the naive way, ``cell_history`` of every cell (every version as an
  ``Entry``) fed to ``cell_insight``; the two must agree cell for cell;
- **incremental**: one new commit holding a new night of one row (its build and every cloud cell, as the
  nightly fan-in writes it), ``index.refresh()``, then ``cache.update(index)``, which must equal a cold
  computation;
- **known answers** (generated history only): for the generator's known cells, the streak of failures
  and the last success counted directly from the statuses it drew must match.

Targets: cold <= 1 s, incremental <= 50 ms. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from generate_history import CONFIG_2018, exit_on_sigterm, log, year_repository

TARGETS = {"cold_s": 1.0, "incremental_s": 0.05}


def _expected(statuses: list[str]) -> tuple[int, int | None]:
    """(failures in a row at the end, index of the last success) counted plainly from ``statuses``, oldest
    first: success passes, failed/timed_out/infra_failed fail, anything else is no run."""
    streak, last = 0, None
    for number, status in enumerate(statuses):
        if status == "success":
            streak, last = 0, number
        elif status in ("failed", "timed_out", "infra_failed"):
            streak += 1
    return streak, last


def child(repo: Path, answers_file: Path | None, repeat: int) -> dict[str, Any]:
    """Runs in the fresh interpreter: every measurement of the insight."""
    from crosscloud import failure_kind, insight
    from crosscloud.records import CellKey, Record, format_time
    from crosscloud.status_repo.git import Remote
    from crosscloud.status_repo.reader import StatusIndex
    from crosscloud.status_repo.writer import StatusRepoWriter

    index = StatusIndex(repo)
    began = time.perf_counter()
    indexed = index.refresh()
    refresh_s = time.perf_counter() - began
    log(f"  child: index refresh {refresh_s:.2f} s ({indexed.entries} entries)")

    began = time.perf_counter()
    cache = insight.InsightCache()
    cache.update(index)
    cold_first_s = time.perf_counter() - began
    cold_runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        cold = insight.insights(index)
        cold_runs.append(time.perf_counter() - began)
    cold_s = statistics.median(cold_runs)
    log(f"  child: cold {cold_first_s * 1000:.1f} ms first, {cold_s * 1000:.1f} ms median ({len(cold)} cells)")

    began = time.perf_counter()
    naive = {key: insight.cell_insight(key, [insight.row_of(e) for e in index.cell_history(key)]) for key in cold}
    baseline_s = time.perf_counter() - began
    disagree = sorted(str(key) for key in cold if naive[key] != cold[key])
    log(f"  child: baseline {baseline_s:.2f} s, {len(disagree)} cells disagree")

    answers_match = None
    mismatched: list[str] = []
    if answers_file:
        for answer in json.loads(answers_file.read_text()):
            found = cold.get(CellKey(**answer["key"]))
            streak, last = _expected(answer["statuses"])
            if found is None or found.consecutive_failures != streak or (found.last_success is None) != (last is None):
                mismatched.append(answer["name"])
        answers_match = not mismatched

    # one new night of one row, in one commit, then the incremental update
    current = index.current()
    build = sorted(key for key in current if key.stage == "build")[0]
    row = [key for key in current if (key.project, key.release, key.arch) == (build.project, build.release, build.arch)]
    records = []
    for key in row:
        data = dict(index.record(current[key]).data)
        started = Record.from_dict(data).started_at + timedelta(days=1)
        data["started_at"] = format_time(started)
        data["finished_at"] = format_time(started + timedelta(minutes=10))
        data["status"], data["reason"] = (
            ("failed", "e2e: 3 of 120 tests failed") if key.stage == "e2e" else ("success", None)
        )
        data["run"] = {**(data.get("run") or {}), "id": (data.get("run") or {}).get("id", 0) + 1_000_000}
        records.append(Record.from_dict(data))
    write = StatusRepoWriter(Remote.parse(str(repo))).write(records)
    began = time.perf_counter()
    index.refresh()
    incremental_refresh_s = time.perf_counter() - began
    began = time.perf_counter()
    changed = cache.update(index)
    incremental_s = time.perf_counter() - began
    incremental_matches = cache.cells == insight.insights(index)
    log(
        f"  child: incremental {incremental_s * 1000:.2f} ms ({len(changed)} cells), equals cold: {incremental_matches}"
    )

    flaky = sorted(cold.values(), key=lambda c: -(c.flakiness or 0.0))[:5]
    kinds = {kind: sum(c.failures_by_kind.get(kind, 0) for c in cold.values()) for kind in failure_kind.KINDS}
    return {
        "index_refresh_s": round(refresh_s, 3),
        "entries": indexed.entries,
        "cells": len(cold),
        "cold_first_s": round(cold_first_s, 4),
        "cold_s": round(cold_s, 4),
        "cold_repeat": repeat,
        "baseline_cell_history_s": round(baseline_s, 3),
        "speedup_vs_baseline": round(baseline_s / cold_s, 1) if cold_s else None,
        "baseline_agrees": not disagree,
        "baseline_disagreeing_cells": disagree[:10],
        "known_answers_match": answers_match,
        "known_answers_mismatched": mismatched,
        "new_commit_records": len(records),
        "new_commit_attempts": write.attempts,
        "incremental_refresh_s": round(incremental_refresh_s, 4),
        "incremental_s": round(incremental_s, 5),
        "incremental_cells": len(changed),
        "incremental_matches_cold": incremental_matches,
        "red_cells": sum(1 for c in cold.values() if c.consecutive_failures),
        "failures_in_windows_by_kind": kinds,
        "most_flaky": [
            {"cell": str(c.key), "flakiness": round(c.flakiness or 0.0, 3), "trend": c.trend} for c in flaky
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="use this status repository (copied) instead of generating one")
    parser.add_argument("--nights", type=int, default=365, help="nights of history to generate")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to generate with")
    parser.add_argument("--repeat", type=int, default=5, help="cold computations to take the median of")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--answers", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.repo, args.answers, args.repeat)))
        return 0
    if args.nights < 1 or args.repeat < 1:
        parser.error("--nights and --repeat must be at least 1")

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-insight-"))
    try:
        repo, answers_file, generated = year_repository(
            scratch, copy_of=args.repo, nights=args.nights, seed=args.seed, config_file=args.config
        )
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo)]
        command += ["--repeat", str(args.repeat)]
        if answers_file:
            command += ["--answers", str(answers_file)]
        log("measuring in a child process")
        figures = json.loads(subprocess.run(command, stdout=subprocess.PIPE, check=True).stdout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    checks = {name: figures[name] <= target for name, target in TARGETS.items()}
    correct = (
        figures["baseline_agrees"]
        and figures["incremental_matches_cold"]
        and figures["known_answers_match"]
        in (
            True,
            None,
        )
    )
    result = {
        "benchmark": "insight",
        "repo": str(args.repo) if args.repo else None,
        "nights": generated["nights"] if generated else None,
        "generated_records": generated["records"] if generated else None,
        "generated_commits": generated["commits"] if generated else None,
        **figures,
        "targets": {name: {"target": TARGETS[name], "value": figures[name], "pass": ok} for name, ok in checks.items()},
        "correct": correct,
        "pass": all(checks.values()) and correct,
        "load_avg_1m_before": round(load_before, 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
