"""Concurrent writers against the serial floor: N processes each record their own cell into ONE bare status
repository at once, against the same N records written one after another by a single process.

Every write is ``StatusRepoWriter(Remote.parse(path)).write([record])`` with the writer's defaults (its
own backoff), exactly what one CI job does. The concurrent writers are forked after the imports and
released together by a barrier; each reports its latency (from its release to ``write()`` returning) and
its attempts. Afterwards every record is read back from the final tip with plain ``git cat-file`` and
compared byte for byte, and ``git fsck --strict`` checks the repository.

Prints one JSON object; target: concurrent wall <= 1.5 x serial wall, nothing lost, fsck clean."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from generate_history import (
    CONFIG_2018,
    commit_count,
    distinct_cloud_records,
    exit_on_sigterm,
    git_fsck,
    log,
    percentile,
    read_tip,
)

from crosscloud import layout
from crosscloud.errors import PushGaveUpError
from crosscloud.records import Record
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter

TARGET_RATIO = 1.5


def _one_writer(repo: str, index: int, record: Record, barrier: Any, results: Any) -> None:
    """A concurrent writer (a forked child): wait for the start, write, report (index, start, end,
    attempts, commit, error); a writer that gave up made all of its backoff's attempts."""
    began = time.monotonic()
    writer = StatusRepoWriter(Remote.parse(repo))
    try:
        barrier.wait()
        began = time.monotonic()
        result = writer.write([record])
        results.put((index, began, time.monotonic(), result.attempts, result.commit, None))
    except BaseException as exc:
        attempts = writer.backoff.attempts if isinstance(exc, PushGaveUpError) else None
        results.put((index, began, time.monotonic(), attempts, None, f"{type(exc).__name__}: {exc}"))


def serial(repo: Path, records: list[Record]) -> dict[str, Any]:
    """The floor: one process, one write() per record (a fresh writer each, like one job after another)."""
    latencies = []
    began = time.monotonic()
    for n, record in enumerate(records, 1):
        start = time.monotonic()
        StatusRepoWriter(Remote.parse(str(repo))).write([record])
        latencies.append(time.monotonic() - start)
        if n % 64 == 0:
            log(f"  serial: {n}/{len(records)} written, {time.monotonic() - began:.1f} s")
    return {"wall_s": time.monotonic() - began, "latencies": latencies}


def concurrent(repo: Path, records: list[Record], timeout: float) -> dict[str, Any]:
    """All writers at once: fork them, release them together, collect what each reports."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(records) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_one_writer, args=(str(repo), n, record, barrier, results), daemon=True)
        for n, record in enumerate(records)
    ]
    for proc in procs:
        proc.start()
    log(f"  concurrent: {len(procs)} writers started, releasing them")
    barrier.wait(timeout=120)
    released = time.monotonic()
    reports: dict[int, tuple[Any, ...]] = {}
    deadline = released + timeout
    while len(reports) < len(procs):
        try:
            report = results.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            log(f"  concurrent: timed out after {timeout:.0f} s with {len(procs) - len(reports)} writers unfinished")
            break
        reports[report[0]] = report
        if len(reports) % 64 == 0:
            log(f"  concurrent: {len(reports)}/{len(procs)} done, {time.monotonic() - released:.1f} s")
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    ends = [r[2] for r in reports.values()]
    return {
        "wall_s": (max(ends) - released) if ends else float("nan"),
        "latencies": [r[2] - r[1] for r in reports.values()],
        "succeeded_latencies": [r[2] - r[1] for r in reports.values() if r[5] is None],
        "attempts": [r[3] for r in reports.values() if r[3] is not None],
        "errors": [r[5] for r in reports.values() if r[5] is not None],
        "succeeded": {r[0] for r in reports.values() if r[5] is None},
        "unfinished": len(procs) - len(reports),
    }


def lost_records(repo: Path, records: list[Record]) -> list[int]:
    """Indexes of the records whose cell at the final tip does not hold exactly their canonical text."""
    paths = [layout.cell_path(r.key) for r in records]
    stored = read_tip(repo, paths)
    return [
        n
        for n, (path, record) in enumerate(zip(paths, records, strict=True))
        if stored[path] != record.to_json().encode()
    ]


def latency_summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": round(percentile(values, 50), 3) if values else None,
        "p90": round(percentile(values, 90), 3) if values else None,
        "p99": round(percentile(values, 99), 3) if values else None,
        "max": round(max(values), 3) if values else None,
    }


def one_run(scratch: Path, run: int, records: list[Record], config_file: Path, timeout: float) -> dict[str, Any]:
    serial_repo, concurrent_repo = scratch / f"serial-{run}.git", scratch / f"concurrent-{run}.git"
    init_status_repo(serial_repo, config_file=config_file)
    init_status_repo(concurrent_repo, config_file=config_file)

    log(f"run {run}: serial floor, {len(records)} writes one after another")
    floor = serial(serial_repo, records)
    log(f"run {run}: serial {floor['wall_s']:.1f} s; now {len(records)} concurrent writers")
    crowd = concurrent(concurrent_repo, records, timeout)
    log(f"run {run}: concurrent {crowd['wall_s']:.1f} s; verifying")

    lat, attempts = crowd["latencies"], crowd["attempts"]
    fsck = git_fsck(concurrent_repo)
    histogram: dict[int, int] = {}
    for n in sorted(attempts):
        histogram[n] = histogram.get(n, 0) + 1
    ratio = crowd["wall_s"] / floor["wall_s"]
    lost = lost_records(concurrent_repo, records)
    lost_after_success = [n for n in lost if n in crowd["succeeded"]]
    return {
        "serial_wall_s": round(floor["wall_s"], 3),
        "serial_write_p50_s": round(percentile(floor["latencies"], 50), 4),
        "serial_lost": len(lost_records(serial_repo, records)),
        "serial_commits_landed": commit_count(serial_repo),
        "concurrent_wall_s": round(crowd["wall_s"], 3),
        "ratio": round(ratio, 3),
        "lost": len(lost),
        "lost_after_success": len(lost_after_success),
        "latency_s": latency_summary(lat),
        "latency_succeeded_s": latency_summary(crowd["succeeded_latencies"]),
        "attempts": {
            "mean": round(statistics.fmean(attempts), 2) if attempts else None,
            "max": max(attempts) if attempts else None,
            "histogram": histogram,
        },
        "writer_errors": len(crowd["errors"]),
        "succeeded": len(crowd["succeeded"]),
        "writer_error_examples": sorted(set(crowd["errors"]))[:3],
        "unfinished": crowd["unfinished"],
        "fsck_clean": fsck["clean"],
        "fsck_dangling": fsck["dangling"],
        "fsck_problems": fsck["problems"],
        "commits_landed": commit_count(concurrent_repo),
        "pass": ratio <= TARGET_RATIO and not lost and fsck["clean"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=256, help="concurrent writers (distinct cells, at most 336)")
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times (fresh repositories)")
    parser.add_argument("--seed", type=int, default=2018, help="which cells are chosen")
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to seed with")
    parser.add_argument("--timeout", type=float, default=600, help="give up on the concurrent writers after this")
    args = parser.parse_args(argv)
    if args.writers < 1 or args.repeat < 1:
        parser.error("--writers and --repeat must be at least 1")

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        records = distinct_cloud_records(args.writers, seed=args.seed, config_file=args.config)
    except ValueError as exc:
        parser.error(str(exc))
    scratch = Path(tempfile.mkdtemp(prefix="bench-writers-"))
    try:
        runs = [one_run(scratch, n, records, args.config, args.timeout) for n in range(1, args.repeat + 1)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    median_run = sorted(runs, key=lambda r: r["ratio"])[(len(runs) - 1) // 2]
    result: dict[str, Any] = {
        "benchmark": "writers",
        "writers": args.writers,
        "repeat": args.repeat,
        "target_ratio": TARGET_RATIO,
        **median_run,
        "lost": sum(r["lost"] for r in runs),
        "lost_after_success": sum(r["lost_after_success"] for r in runs),
        "fsck_clean": all(r["fsck_clean"] for r in runs),
        "pass": all(r["pass"] for r in runs),
        "load_avg_1m_before": round(load_before, 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    if args.repeat > 1:
        result["runs"] = runs
        result["note"] = "top-level figures are those of the run with the median ratio; lost and fsck over all runs"
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
