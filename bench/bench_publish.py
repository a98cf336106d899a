"""``crosscloud publish`` on the generated year (7 projects x 8 clouds, 365 nights) and on the 10x breadth
(130 projects x 20 clouds, ``--breadth-nights`` nights): full publish time, files and bytes written, and the
incremental publish after one nightly commit (one row: a project's release on every cloud, committed at the
next night's time, as the nightly's rows are).

Per repository, each publish is ``crosscloud publish`` in a fresh process, timed from outside, rendering with
one worker process per processor (``jobs``) unless said:
- ``full_cold``: into an empty folder with an empty mirror directory (the mirror and its index are built too);
- ``full_warm_one_job``: the baseline of the same run, ``--jobs 1`` (everything rendered in one process);
- ``full_warm``: into another empty folder, the mirror and index already there (what re-publishing costs),
  and its speedup over ``full_warm_one_job``;
- ``incremental``: ``--since-manifest`` after one nightly commit, into the folder of ``full_warm``.
Each reports files, bytes, files rendered and written, and the command's own seconds; the incremental site is
also compared with a full publish of the same commit (files whose manifest entry names the tip must be equal).

Targets: full publish of the breadth <= 60 s, incremental after one nightly commit <= 5 s. Prints one JSON
object, with the load average before and after."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_app import BREADTH_CLOUDS, BREADTH_PROJECTS, breadth_config
from generate_history import CONFIG_2018, History, _commit_stream, exit_on_sigterm, generate, log

from crosscloud.config import load_config
from crosscloud.status_repo.git import Git
from crosscloud_app.publish.render_jobs import default_jobs

TARGETS = {"breadth.full_warm.seconds": 60.0, "breadth.full_cold.seconds": 60.0, "breadth.incremental.seconds": 5.0}
_LINE = re.compile(
    r"published (\w+) \((\w+)\): (\d+) files, (\d+) bytes; rendered (\d+), wrote (\d+), deleted (\d+) in ([\d.]+) s"
)


def publish(repo: Path, out: Path, mirror: Path, *extra: str) -> dict[str, Any]:
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "crosscloud", "publish", "--repo", str(repo), "--out", str(out), "--mirror-dir",
         str(mirror), "--quiet", *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    found = _LINE.search(proc.stdout)
    if found is None:
        raise RuntimeError(f"unexpected output of crosscloud publish: {proc.stdout!r}")
    commit, mode, files, size, rendered, written, deleted, seconds = found.groups()
    return {
        "mode": mode,
        "commit": commit,
        "files": int(files),
        "bytes": int(size),
        "rendered": int(rendered),
        "written": int(written),
        "deleted": int(deleted),
        "command_s": float(seconds),
        "seconds": round(wall, 2),
    }


def nightly_commit(repo: Path, config_file: Path, nights: int, seed: int) -> int:
    """One more row on top of the tip: the next night's first row, committed at its own time; its records."""
    history = History(load_config(config_file), nights, seed)
    row = history.night(nights)[0]
    git = Git(repo)
    tip = git.text("rev-parse", "refs/heads/main")
    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE, env=git.env)
    assert proc.stdin is not None
    _commit_stream(proc.stdin, row, tip)
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return len(row.records)


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def measure(repo: Path, config_file: Path, nights: int, seed: int, scratch: Path) -> dict[str, Any]:
    mirror = scratch / "mirror"
    figures: dict[str, Any] = {}
    log(f"publish {repo.name}: full, cold")
    figures["full_cold"] = publish(repo, scratch / "site-cold", mirror)
    shutil.rmtree(scratch / "site-cold")
    log(f"publish {repo.name}: full, warm, in one process (the baseline of this run)")
    figures["full_warm_one_job"] = publish(repo, scratch / "site-one", mirror, "--jobs", "1")
    shutil.rmtree(scratch / "site-one")
    log(f"publish {repo.name}: full, warm")
    figures["full_warm"] = publish(repo, scratch / "site", mirror)
    figures["full_warm_speedup_over_one_job"] = round(
        figures["full_warm_one_job"]["seconds"] / figures["full_warm"]["seconds"], 2
    )
    figures["nightly_commit_records"] = nightly_commit(repo, config_file, nights, seed)
    log(f"publish {repo.name}: incremental after one nightly commit")
    figures["incremental"] = publish(repo, scratch / "site", mirror, "--since-manifest")
    log(f"publish {repo.name}: full of the same commit, to compare")
    full = publish(repo, scratch / "site-full", mirror)
    tip = full["commit"]
    manifest = json.loads((scratch / "site" / "manifest.json").read_text())["files"]
    incremental, reference = digests(scratch / "site"), digests(scratch / "site-full")
    at_tip = [name for name, f in manifest.items() if f["commit"].startswith(tip)]
    figures["incremental"]["files_at_tip"] = len(at_tip)
    figures["incremental"]["equal_to_full_where_at_tip"] = all(incremental[n] == reference[n] for n in at_tip)
    figures["incremental"]["same_file_set_as_full"] = set(incremental) == set(reference)
    shutil.rmtree(scratch / "site-full")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=365, help="nights of history in the year repository")
    parser.add_argument("--breadth-nights", type=int, default=3, help="nights of results in the 10x repository")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--no-breadth", action="store_true", help="skip the 10x breadth repository")
    args = parser.parse_args(argv)
    if args.nights < 1 or args.breadth_nights < 1:
        parser.error("--nights and --breadth-nights must be at least 1")
    exit_on_sigterm()
    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "publish",
        "jobs": default_jobs(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    try:
        log(f"generating {args.nights} nights of the 2018 configuration")
        generate(scratch / "year.git", nights=args.nights, seed=args.seed)
        (scratch / "year").mkdir()
        result["year"] = {"nights": args.nights, "projects": 7, "clouds": 8}
        result["year"].update(measure(scratch / "year.git", CONFIG_2018, args.nights, args.seed, scratch / "year"))
        shutil.rmtree(scratch / "year")
        if not args.no_breadth:
            wide = breadth_config(CONFIG_2018, scratch / "breadth.yml", BREADTH_PROJECTS, BREADTH_CLOUDS)
            log(f"generating {args.breadth_nights} nights of {BREADTH_PROJECTS} projects x {BREADTH_CLOUDS} clouds")
            generate(scratch / "breadth.git", nights=args.breadth_nights, seed=args.seed, config_file=wide)
            (scratch / "breadth").mkdir()
            result["breadth"] = {"nights": args.breadth_nights, "projects": BREADTH_PROJECTS, "clouds": BREADTH_CLOUDS}
            result["breadth"].update(
                measure(scratch / "breadth.git", wide, args.breadth_nights, args.seed, scratch / "breadth")
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    checks = {}
    for name, target in TARGETS.items():
        part, phase, field = name.split(".")
        if part in result:
            value = result[part][phase][field]
            checks[name] = {"target": target, "value": value, "pass": value <= target}
    result["targets"] = checks
    result["pass"] = all(c["pass"] for c in checks.values())
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
