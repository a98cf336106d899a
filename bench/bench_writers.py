"""Concurrent writers against the serial floor: N processes each record their own cell into ONE bare status
repository, against the same N records written one after another by a single process.

Two scenarios, each against its own serial floor measured in the same run:

* ``burst``: the N writers are released together (every job of a matrix finishing at the same moment);
* ``spread``: the N writers start spread over ``--spread`` seconds (seeded, uniformly: jobs finishing
  over a minute, as a real matrix does) and every remote operation, fetch, ls-remote and push alike,
  takes ``--delay-ms`` longer (the round trip to GitHub). The delay is real: ``git-upload-pack`` and
  ``git-receive-pack``, the server side of every local fetch, ls-remote and push, are wrapped by scripts
  that sleep first (``GIT_EXEC_PATH`` points at a copy of git's exec path with the two wrapped), for the
  serial floor and the concurrent writers alike.

Every write is ``StatusRepoWriter(Remote.parse(path)).write([record])`` with the writer's defaults (its
own backoff), exactly what one CI job does. The concurrent writers are forked after the imports and
released by a barrier; each reports its latency (from its start to ``write()`` returning), its attempts
and its remote round trips (fetches, pushes and ls-remotes, counted by the git layer: ``Git.round_trips``
through ``StatusRepoWriter.round_trips``; the serial floor is 2, one fetch and one push). Afterwards every
record is read back from the final tip with plain ``git cat-file`` and compared byte for byte, and
``git fsck --strict`` checks the repository.

Prints one JSON object; targets per scenario: concurrent wall <= 1.5 x its serial wall, mean round trips
per writer <= 4, nothing lost, fsck clean."""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
from tests.helpers.writer_faults import unread_marks, unsettled_refs

TARGET_RATIO = 1.5
TARGET_ROUND_TRIPS = 4.0
SERIAL_ROUND_TRIPS = 2


@contextlib.contextmanager
def delayed_remote(scratch: Path, delay_ms: int) -> Iterator[None]:
    """Every fetch, ls-remote and push against a local repository takes ``delay_ms`` longer while inside:
    the server-side programs git starts for them are wrapped by scripts that sleep, then run the real one."""
    if delay_ms <= 0:
        yield
        return
    real = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip())
    wrapped = Path(tempfile.mkdtemp(prefix="git-exec-path-", dir=scratch))
    for entry in real.iterdir():
        (wrapped / entry.name).symlink_to(entry)
    for program in ("git-upload-pack", "git-receive-pack"):
        (wrapped / program).unlink()
        (wrapped / program).write_text(f'#!/bin/sh\nsleep {delay_ms / 1000:.3f}\nexec "{real / program}" "$@"\n')
        (wrapped / program).chmod(0o755)
    before = os.environ.get("GIT_EXEC_PATH")
    os.environ["GIT_EXEC_PATH"] = str(wrapped)
    try:
        yield
    finally:
        if before is None:
            del os.environ["GIT_EXEC_PATH"]
        else:
            os.environ["GIT_EXEC_PATH"] = before


def _one_writer(repo: str, index: int, record: Record, offset: float, barrier: Any, results: Any) -> None:
    """A concurrent writer (a forked child): wait for the release and its offset, write, report (index,
    start, end, attempts, round trips, commit, error); a writer that gave up made all of its backoff's
    attempts."""
    began = time.monotonic()
    writer = StatusRepoWriter(Remote.parse(repo))
    try:
        barrier.wait()
        time.sleep(offset)
        began = time.monotonic()
        result = writer.write([record])
        results.put((index, began, time.monotonic(), result.attempts, writer.round_trips, result.commit, None))
    except BaseException as exc:
        attempts = writer.backoff.attempts if isinstance(exc, PushGaveUpError) else None
        error = f"{type(exc).__name__}: {exc}"
        results.put((index, began, time.monotonic(), attempts, writer.round_trips, None, error))


def serial(repo: Path, records: list[Record]) -> dict[str, Any]:
    """The floor: one process, one write() per record (a fresh writer each, like one job after another)."""
    latencies, round_trips = [], []
    began = time.monotonic()
    for n, record in enumerate(records, 1):
        start = time.monotonic()
        writer = StatusRepoWriter(Remote.parse(str(repo)))
        writer.write([record])
        latencies.append(time.monotonic() - start)
        round_trips.append(writer.round_trips)
        if n % 64 == 0:
            log(f"  serial: {n}/{len(records)} written, {time.monotonic() - began:.1f} s")
    return {"wall_s": time.monotonic() - began, "latencies": latencies, "round_trips": round_trips}


def concurrent(repo: Path, records: list[Record], offsets: list[float], timeout: float) -> dict[str, Any]:
    """All writers: fork them, release them together (each then waits its offset), collect their reports."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(records) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_one_writer, args=(str(repo), n, record, offset, barrier, results), daemon=True)
        for n, (record, offset) in enumerate(zip(records, offsets, strict=True))
    ]
    for proc in procs:
        proc.start()
    log(f"  concurrent: {len(procs)} writers started, releasing them")
    barrier.wait(timeout=120)
    released = time.monotonic()
    reports: dict[int, tuple[Any, ...]] = {}
    deadline = released + max(offsets) + timeout
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
        "after_last_start_s": (max(ends) - released - max(offsets)) if ends else float("nan"),
        "latencies": [r[2] - r[1] for r in reports.values()],
        "succeeded_latencies": [r[2] - r[1] for r in reports.values() if r[6] is None],
        "attempts": [r[3] for r in reports.values() if r[3] is not None],
        "round_trips": [r[4] for r in reports.values()],
        "errors": [r[6] for r in reports.values() if r[6] is not None],
        "succeeded": {r[0] for r in reports.values() if r[6] is None},
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


def counts_summary(values: list[int]) -> dict[str, Any]:
    histogram: dict[int, int] = {}
    for n in sorted(values):
        histogram[n] = histogram.get(n, 0) + 1
    return {
        "mean": round(statistics.fmean(values), 2) if values else None,
        "max": max(values) if values else None,
        "histogram": histogram,
    }


def one_run(
    scratch: Path, name: str, records: list[Record], offsets: list[float], config_file: Path, timeout: float
) -> dict[str, Any]:
    scratch.mkdir(parents=True)
    serial_repo, concurrent_repo = scratch / "serial.git", scratch / "concurrent.git"
    init_status_repo(serial_repo, config_file=config_file)
    init_status_repo(concurrent_repo, config_file=config_file)

    log(f"{name}: serial floor, {len(records)} writes one after another")
    floor = serial(serial_repo, records)
    log(f"{name}: serial {floor['wall_s']:.1f} s; now {len(records)} concurrent writers")
    crowd = concurrent(concurrent_repo, records, offsets, timeout)
    log(f"{name}: concurrent {crowd['wall_s']:.1f} s; verifying")

    fsck = git_fsck(concurrent_repo)
    ratio = crowd["wall_s"] / floor["wall_s"]
    lost = lost_records(concurrent_repo, records)
    lost_after_success = [n for n in lost if n in crowd["succeeded"]]
    round_trips = counts_summary(crowd["round_trips"])
    return {
        "serial_wall_s": round(floor["wall_s"], 3),
        "serial_write_p50_s": round(percentile(floor["latencies"], 50), 4),
        "serial_round_trips": counts_summary(floor["round_trips"]),
        "serial_lost": len(lost_records(serial_repo, records)),
        "serial_commits_landed": commit_count(serial_repo),
        "concurrent_wall_s": round(crowd["wall_s"], 3),
        "after_last_start_s": round(crowd["after_last_start_s"], 3),
        "ratio": round(ratio, 3),
        "round_trips": round_trips,
        "lost": len(lost),
        "lost_after_success": len(lost_after_success),
        "latency_s": latency_summary(crowd["latencies"]),
        "latency_succeeded_s": latency_summary(crowd["succeeded_latencies"]),
        "attempts": counts_summary(crowd["attempts"]),
        "writer_errors": len(crowd["errors"]),
        "succeeded": len(crowd["succeeded"]),
        "writer_error_examples": sorted(set(crowd["errors"]))[:3],
        "unfinished": crowd["unfinished"],
        "fsck_clean": fsck["clean"],
        "fsck_dangling": fsck["dangling"],
        "fsck_problems": fsck["problems"],
        "commits_landed": commit_count(concurrent_repo),
        "coordination_refs_left": len(
            subprocess.run(
                ["git", "--git-dir", str(concurrent_repo), "for-each-ref", "refs/crosscloud/"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
        ),
        "unsettled_refs_left": len(unsettled_refs(concurrent_repo)) + len(unread_marks(concurrent_repo)),
        "pass": ratio <= TARGET_RATIO
        and round_trips["mean"] is not None
        and round_trips["mean"] <= TARGET_ROUND_TRIPS
        and not lost
        and fsck["clean"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=256, help="concurrent writers (distinct cells, at most 336)")
    parser.add_argument("--scenario", choices=("burst", "spread", "both"), default="both")
    parser.add_argument("--spread", type=float, default=60.0, help="spread scenario: seconds the starts spread over")
    parser.add_argument("--delay-ms", type=int, default=100, help="spread scenario: added to every remote operation")
    parser.add_argument("--repeat", type=int, default=1, help="measure each scenario this many times")
    parser.add_argument("--seed", type=int, default=2018, help="which cells are chosen, and the spread starts")
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to seed with")
    parser.add_argument("--timeout", type=float, default=600, help="give up on the concurrent writers after this")
    args = parser.parse_args(argv)
    if args.writers < 1 or args.repeat < 1 or args.spread < 0 or args.delay_ms < 0:
        parser.error("--writers and --repeat must be at least 1, --spread and --delay-ms not negative")

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        records = distinct_cloud_records(args.writers, seed=args.seed, config_file=args.config)
    except ValueError as exc:
        parser.error(str(exc))
    rng = random.Random(args.seed)
    scenarios = {
        "burst": ([0.0] * len(records), 0),
        "spread": (sorted(rng.uniform(0, args.spread) for _ in records), args.delay_ms),
    }
    chosen = list(scenarios) if args.scenario == "both" else [args.scenario]
    result: dict[str, Any] = {
        "benchmark": "writers",
        "writers": args.writers,
        "repeat": args.repeat,
        "targets": {"ratio": TARGET_RATIO, "round_trips_mean": TARGET_ROUND_TRIPS, "serial_round_trips": 2},
        "load_avg_before": [round(x, 2) for x in load_before],
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-writers-"))
    try:
        for name in chosen:
            offsets, delay_ms = scenarios[name]
            with delayed_remote(scratch, delay_ms):
                runs = [
                    one_run(scratch / f"{name}-{n}", name, records, offsets, args.config, args.timeout)
                    for n in range(1, args.repeat + 1)
                ]
            median_run = sorted(runs, key=lambda r: r["ratio"])[(len(runs) - 1) // 2]
            summary: dict[str, Any] = {
                "spread_s": max(offsets),
                "delay_ms": delay_ms,
                **median_run,
                "lost": sum(r["lost"] for r in runs),
                "lost_after_success": sum(r["lost_after_success"] for r in runs),
                "fsck_clean": all(r["fsck_clean"] for r in runs),
                "pass": all(r["pass"] for r in runs),
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            }
            if args.repeat > 1:
                summary["runs"] = runs
                summary["note"] = "figures of the run with the median ratio; lost and fsck over all runs"
            result[name] = summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["pass"] = all(result[name]["pass"] for name in chosen)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
