"""The read side at today's CNCF breadth: 14 nights of ``generate_history.py --breadth cncf-2026`` (200
projects, 12 clouds, 4 test environments, 58,400 cells a night, 817,600 records), measured as the app and
the CLI meet them.

- **size**: the packed repository after each night (``git repack -a -d``) and its extrapolation to a year
  (the mean growth per night over the 14, times 365);
- **reader** (a fresh interpreter, SQLite index in a file beside it, as the app keeps it): cold
  ``StatusIndex.refresh()`` of the 14 nights (and again into memory, as the CLI indexes), ``current()``,
  the insight of every cell cold (``InsightCache.update``); then the parent commits a 15th night and the
  child measures the incremental refresh and the insight update after that night (which must equal a cold
  computation);
- **app** (``bench_app.py``'s child, a fresh interpreter): startup (mirror index and insight, the cold
  start of a server), warm dashboard ``GET /`` p50 and page bytes, badge p50 (answer cache emptied before
  each), peak RSS;
- **window**: the app's mirror with ``HISTORY_DAYS`` set to keep the last ``--window`` nights
  (``Mirror(history_days=...)``, a shallow fetch), its size, the reader figures on it and the app on it
  (startup, RSS): what does not grow with the age of the status repository.
- **recorder**: the nightly template's fan-in recorder, one night's 58,400 record files through one
  ``crosscloud record --repo REPO DIR`` (one commit, one push): wall time and peak RSS;
- **publish**: ``crosscloud publish`` of the whole state, cold (mirror and index built too), one worker
  process per processor; a publish that fails fails the target.

Targets: cold index <= 30 s, incremental index after a night <= 5 s, dashboard p50 <= 50 ms, app peak RSS
<= 1 GiB, publish <= 120 s. Prints one JSON object (with the load average before and after each phase)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from breadth_history import generate_breadth
from generate_history import exit_on_sigterm, log

from crosscloud import layout
from crosscloud_app.publish.render_jobs import default_jobs

HERE = Path(__file__).resolve().parent
TARGETS = {
    "reader.cold_index_s": 30.0,
    "reader.incremental_index_s": 5.0,
    "app.dashboard_p50_s": 0.05,
    "app.peak_rss_mib": 1024.0,
    "publish.seconds": 120.0,
}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the reader child --------------------------------------------------------------------------------------
def reader_child(repo: Path, db: Path, wait_for_night: bool) -> None:
    """Cold index and insight; then (when the parent has committed another night) incremental both.
    Prints one JSON line after the cold part and one at the end."""
    from crosscloud import insight
    from crosscloud.status_repo.reader import StatusIndex

    index = StatusIndex(repo, db)
    began = time.perf_counter()
    cold = index.refresh()
    cold_s = time.perf_counter() - began
    log(f"  reader: cold index {cold_s:.1f} s ({cold.entries} entries)")
    began = time.perf_counter()
    current = index.current()
    current_s = time.perf_counter() - began
    began = time.perf_counter()
    cache = insight.InsightCache()
    cache.update(index)
    insight_s = time.perf_counter() - began
    log(f"  reader: insight of {len(cache.cells)} cells {insight_s:.1f} s")
    figures: dict[str, Any] = {
        "cold_index_s": round(cold_s, 2),
        "cold_commits": cold.commits,
        "cold_entries": cold.entries,
        "current_s": round(current_s, 2),
        "current_cells": len(current),
        "cells_with_errors": sum(1 for e in current.values() if e.error),
        "insight_cold_s": round(insight_s, 2),
        "insight_cells": len(cache.cells),
        "rss_after_cold_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "db_bytes": db.stat().st_size if db.exists() else None,
    }
    memory = StatusIndex(repo)  # the CLI's index (crosscloud status, history): in memory
    began = time.perf_counter()
    memory.refresh()
    figures["cold_index_in_memory_s"] = round(time.perf_counter() - began, 2)
    memory.close()
    log(f"  reader: cold index in memory {figures['cold_index_in_memory_s']:.1f} s")
    print(json.dumps(figures), flush=True)
    if not wait_for_night:
        return
    sys.stdin.readline()  # the parent committed another night
    began = time.perf_counter()
    incremental = index.refresh()
    incremental_s = time.perf_counter() - began
    began = time.perf_counter()
    changed = cache.update(index)
    update_s = time.perf_counter() - began
    log(f"  reader: incremental index {incremental_s:.1f} s, insight update {update_s:.1f} s")
    matches = cache.cells == insight.insights(index)
    print(json.dumps({
        "incremental_index_s": round(incremental_s, 2),
        "incremental_commits": incremental.commits,
        "incremental_entries": incremental.entries,
        "incremental_rebuilt": incremental.rebuilt,
        "insight_after_night_s": round(update_s, 2),
        "insight_after_night_cells": len(changed),
        "insight_after_night_equals_cold": matches,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }), flush=True)  # fmt: skip


def measure_reader(repo: Path, db: Path, add_night: Any | None) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "bench_breadth.py"),
        "--child",
        "reader",
        "--repo",
        str(repo),
        "--db",
        str(db),
    ]
    if add_night is not None:
        command.append("--wait-for-night")
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        figures: dict[str, Any] = json.loads(proc.stdout.readline())
        if add_night is not None:
            figures["added_night"] = add_night()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            figures.update(json.loads(proc.stdout.readline()))
        if proc.wait() != 0:
            raise RuntimeError(f"the reader child failed ({proc.returncode})")
    return figures


def measure_app(repo: Path, mirror: Path, requests: int) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "bench_app.py"), "--child", "--repo", str(repo), "--mirror", str(mirror),
               "--requests", str(requests), "--seed", "2026"]  # fmt: skip
    figures: dict[str, Any] = json.loads(subprocess.run(command, stdout=subprocess.PIPE, check=True).stdout)
    return figures


def measure_recorder(history: Any, night: int, repo: Path, scratch: Path) -> dict[str, Any]:
    """The nightly template's recorder: a night's record files (as the shards' fan-in leaves them) written
    with ONE ``crosscloud record --repo REPO DIR``: one commit, one push; its wall time and peak RSS."""
    records, _ = history.night(night)
    results = scratch / "night-results"
    results.mkdir()
    for record in records:
        path = results / layout.cell_path(record.key).removeprefix("results/").replace("/", "__")
        path.write_text(record.to_json(), encoding="utf-8")
    crosscloud = Path(sys.executable).with_name("crosscloud")
    command = [str(crosscloud), "record", "--repo", str(repo), str(results)]
    began = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *command] if Path("/usr/bin/time").exists() else command,
                          capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"crosscloud record failed: {proc.stderr[-2000:]}")
    rss_kib = proc.stderr.strip().splitlines()[-1] if Path("/usr/bin/time").exists() else None
    commit_line = next((line for line in proc.stdout.splitlines() if line.startswith("commit ")), "")
    history.written += len(records)
    return {"records": len(records), "seconds": round(seconds, 1), "peak_rss_mib": round(int(rss_kib) / 1024, 1)
            if rss_kib and rss_kib.isdigit() else None, "commit_line": commit_line}  # fmt: skip


def measure_publish(repo: Path, scratch: Path) -> dict[str, Any]:
    """``crosscloud publish`` of the repository's state, cold (the mirror and its index are built too), with
    one worker process per processor."""
    crosscloud = Path(sys.executable).with_name("crosscloud")
    out = scratch / "site"
    began = time.perf_counter()
    command = [str(crosscloud), "publish", "--repo", str(repo), "--out", str(out), "--mirror-dir", str(scratch / "pm")]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.exists() else 0
    files = sum(1 for f in out.rglob("*") if f.is_file()) if out.exists() else 0
    shutil.rmtree(out, ignore_errors=True)
    return {"measured": proc.returncode == 0, "seconds": round(seconds, 1), "returncode": proc.returncode,
            "jobs": default_jobs(), "site_bytes": size, "site_files": files,
            "line": proc.stdout.strip().splitlines()[-1:], "stderr_tail": proc.stderr[-500:]}  # fmt: skip


def window_mirror(repo: Path, cache: Path, days: float) -> dict[str, Any]:
    """The app's mirror with ``HISTORY_DAYS`` = ``days``: ``Mirror(history_days=days).fetch()``, timed."""
    from crosscloud.status_repo.git import Remote
    from crosscloud.status_repo.mirror import Mirror

    mirror = Mirror(Remote.parse(str(repo)), cache, history_days=days)
    began = time.perf_counter()
    mirror.fetch()
    seconds = time.perf_counter() - began
    subprocess.run(["git", "--git-dir", str(mirror.git_dir), "repack", "-a", "-d", "-q"], check=True)
    commits = int(subprocess.run(["git", "--git-dir", str(mirror.git_dir), "rev-list", "--count", "main"],
                                 capture_output=True, text=True, check=True).stdout)  # fmt: skip
    size = sum(f.stat().st_size for f in (mirror.git_dir / "objects" / "pack").glob("*.pack"))
    return {"history_days": round(days, 3), "window_start": mirror.window_start().isoformat(),
            "fetch_s": round(seconds, 1), "commits": commits, "packed_bytes": size,
            "git_dir": str(mirror.git_dir)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--window", type=int, default=7, help="nights the windowed mirror keeps")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--requests", type=int, default=200, help="badge requests timed")
    parser.add_argument("--keep", type=Path, help="keep the generated repository here (must not exist)")
    parser.add_argument("--no-app", action="store_true")
    parser.add_argument("--child", choices=["reader"], help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--wait-for-night", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        reader_child(args.repo, args.db, args.wait_for_night)
        return 0
    if args.nights < 2 or not 1 <= args.window < args.nights:
        parser.error("--nights must be at least 2 and --window between 1 and --nights - 1")

    exit_on_sigterm()
    started = time.monotonic()
    result: dict[str, Any] = {"benchmark": "breadth", "load_avg_before": load()}
    scratch = Path(tempfile.mkdtemp(prefix="bench-breadth-"))
    try:
        repo = scratch / "status.git"
        log(f"generating {args.nights} nights of cncf-2026")
        generated = generate_breadth(repo, nights=args.nights, seed=args.seed)
        history = generated.pop("history")
        sizes = [n["packed_bytes"] for n in generated["per_night"]]
        growth = (sizes[-1] - sizes[0]) / (len(sizes) - 1)
        result["generated"] = {k: v for k, v in generated.items() if k not in ("path", "config")}
        result["size"] = {
            "packed_bytes_per_night": sizes,
            "growth_bytes_per_night": round(growth),
            "year_bytes_extrapolated": round(sizes[0] + growth * 364),
        }
        result["load_avg_after_generate"] = load()

        log("reader: cold, then one more night")
        next_night = args.nights
        result["reader"] = measure_reader(repo, scratch / "index.sqlite", lambda: history.write_night(next_night))
        result["load_avg_after_reader"] = load()

        if not args.no_app:
            log("app: startup, dashboard, badges")
            result["app"] = measure_app(repo, scratch / "mirror", args.requests)
            result["load_avg_after_app"] = load()

        log("recorder: one night of record files in one crosscloud record")
        result["recorder"] = measure_recorder(history, args.nights + 1, repo, scratch)
        result["load_avg_after_recorder"] = load()

        log("publish")
        result["publish"] = measure_publish(repo, scratch)

        # the window keeps the last --window nights (the night added for the reader included)
        since = history.first_night + timedelta(days=args.nights + 1 - args.window, hours=-12)
        days = (datetime.now(UTC) - since).total_seconds() / 86400
        log(f"window: the last {args.window} nights (HISTORY_DAYS={days:.2f} on this clock)")
        window = window_mirror(repo, scratch / "window-cache", days)
        git_dir = Path(window.pop("git_dir"))
        window["reader"] = measure_reader(git_dir, scratch / "window.sqlite", None)
        if not args.no_app:
            os.environ["CROSSCLOUD_HISTORY_DAYS"] = str(days)
            try:
                window["app"] = measure_app(repo, scratch / "window-mirror", args.requests)
            finally:
                del os.environ["CROSSCLOUD_HISTORY_DAYS"]
        result["window"] = window
        result["load_avg_after_window"] = load()
        if args.keep:
            shutil.move(str(repo), args.keep)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    checks = {}
    for name, target in TARGETS.items():
        part, field = name.split(".")
        value = result.get(part, {}).get(field)
        if value is not None:
            passed = value <= target and (part != "publish" or bool(result["publish"]["measured"]))
            checks[name] = {"target": target, "value": value, "pass": passed}
    result["targets"] = checks
    result["pass"] = all(c["pass"] for c in checks.values())
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
