"""Fan-in: N records of distinct cells in ONE commit through one ``StatusRepoWriter.write(records)`` call.

Each repetition writes into a fresh status repository (seeded with the 2018 configuration). Reported: the
wall time of the ``write()`` call (target < 1 s for 256 records), the time to validate the N records
(``Record.from_dict``), and where ``write()`` spends its time (each git command, timed by wrapping the
writer's ``Git.run``; the rest is Python). Every record is read back from the tip and compared.

Prints one JSON object."""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from generate_history import CONFIG_2018, commit_count, distinct_cloud_records, exit_on_sigterm, log, read_tip

from crosscloud import layout
from crosscloud.records import Record
from crosscloud.status_repo import git as git_module
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter

TARGET_WRITE_S = 1.0


@contextmanager
def timed_git() -> Iterator[dict[str, list[float]]]:
    """Time every git command the code under test runs (by subcommand) without changing what it does."""
    spent: dict[str, list[float]] = defaultdict(list)
    original = git_module.Git.run

    def run(self: git_module.Git, *args: str, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[args[0] if args else "?"].append(time.perf_counter() - began)

    git_module.Git.run = run  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        git_module.Git.run = original  # type: ignore[method-assign]


def one_rep(repo: Path, dicts: list[dict[str, Any]], config_file: Path) -> dict[str, Any]:
    init_status_repo(repo, config_file=config_file)
    fresh = copy.deepcopy(dicts)
    began = time.perf_counter()
    records = [Record.from_dict(d) for d in fresh]
    validate_s = time.perf_counter() - began

    writer = StatusRepoWriter(Remote.parse(str(repo)))
    with timed_git() as spent:
        began = time.perf_counter()
        result = writer.write(records)
        write_s = time.perf_counter() - began

    paths = [layout.cell_path(r.key) for r in records]
    stored = read_tip(repo, paths)
    lost = sum(stored[p] != r.to_json().encode() for p, r in zip(paths, records, strict=True))
    git_s = {name: round(sum(times), 4) for name, times in sorted(spent.items())}
    return {
        "validate_s": validate_s,
        "write_s": write_s,
        "total_s": validate_s + write_s,
        "git_s": git_s,
        "git_calls": {name: len(times) for name, times in sorted(spent.items())},
        "python_s": write_s - sum(sum(t) for t in spent.values()),
        "attempts": result.attempts,
        "written": len(result.written),
        "commits_landed": commit_count(repo),
        "lost": lost,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=256, help="records in the one commit (at most 336)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions, each into a fresh repository")
    parser.add_argument("--seed", type=int, default=2018, help="which cells are chosen")
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to seed with")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        records = distinct_cloud_records(args.records, seed=args.seed, config_file=args.config)
    except ValueError as exc:
        parser.error(str(exc))
    dicts = [dict(r.data) for r in records]
    scratch = Path(tempfile.mkdtemp(prefix="bench-fanin-"))
    try:
        reps = []
        for n in range(args.repeat):
            reps.append(one_rep(scratch / f"fanin-{n}.git", dicts, args.config))
            log(f"fan-in {n + 1}/{args.repeat}: write {reps[-1]['write_s']:.3f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def summary(name: str) -> dict[str, float]:
        values = [r[name] for r in reps]
        return {"min": round(min(values), 4), "median": round(statistics.median(values), 4)}

    median_rep = sorted(reps, key=lambda r: r["write_s"])[(len(reps) - 1) // 2]
    write = summary("write_s")
    result = {
        "benchmark": "fanin",
        "records": args.records,
        "repeat": args.repeat,
        "write_s": write,
        "validate_s": summary("validate_s"),
        "validate_per_record_us": round(summary("validate_s")["median"] / args.records * 1e6, 1),
        "total_s": summary("total_s"),
        "breakdown_of_median_write": {
            "git_s": median_rep["git_s"],
            "git_calls": median_rep["git_calls"],
            "python_s": round(median_rep["python_s"], 4),
        },
        "attempts": max(r["attempts"] for r in reps),
        "commits_landed_per_rep": sorted({r["commits_landed"] for r in reps}),
        "written_per_rep": sorted({r["written"] for r in reps}),
        "lost": sum(r["lost"] for r in reps),
        "target_write_s": TARGET_WRITE_S,
        "pass": write["median"] < TARGET_WRITE_S and all(r["lost"] == 0 and r["commits_landed"] == 1 for r in reps),
        "load_avg_1m_before": round(load_before, 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
