"""A year of nightly cncf.ci runs at the December 2018 breadth, written into a status repository.

Importable (``generate(path, nights=..., seed=...)``) and a command line tool::

    .venv/bin/python bench/generate_history.py var/history.git          # keep the repository
    .venv/bin/python bench/generate_history.py --nights 30              # into a temporary directory
    .venv/bin/python bench/generate_history.py --breadth cncf-2026      # 14 nights of today's breadth

``--breadth cncf-2026`` (200 projects, 12 clouds, 4 test environments, a night in one commit) is
``breadth_history.py``; the rest of this doc is about the 2018 year.

Per night, per active project, per release: a build record and, per active cloud, a deploy (``provision``
for the project with ``app_layer: false``) and an e2e record, all committed as ONE commit per row
(fan-in), in the order the rows finish. With the 2018 configuration (7 projects x 2 releases x 8 clouds)
that is 238 records and 14 commits a night, 86,870 records and 5,110 commits for 365 nights.

The history is written by one ``git fast-import`` process on top of the root commit made by
``init_status_repo``; the writer is not involved. Statuses are pseudo-random from ``random.Random(seed)``,
deterministic for a seed, with realistic patterns: cloud outages (infra_failed provision/deploy on one
cloud for several nights), broken builds for several nights, runs of consecutive deploy or e2e failures,
flaky e2e cells, and cascades (a failed build makes that row's cloud stages ``n/a``, a deploy that did
not succeed makes the e2e ``n/a``)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from crosscloud import layout
from crosscloud.config import Config, Project, load_config
from crosscloud.records import CellKey, Record, format_time
from crosscloud.status_repo.git import Git
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import DEFAULT_EMAIL, DEFAULT_NAME

ROOT = Path(__file__).resolve().parent.parent
CONFIG_2018 = ROOT / "tests" / "fixtures" / "cncf-configuration" / "cross-cloud.2018-12-04.yml"
LAST_NIGHT = datetime(2018, 12, 4, 3, 0, tzinfo=UTC)
"""The night of the configuration's date; a year of history ends there."""
KUBERNETES = {"release": "stable", "version": "v1.13.0"}
WORKFLOW = "Cross-Cloud CI"
RELEASES = ("stable", "head")
ARCH = "amd64"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def exit_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so ``finally`` blocks remove the temporary directories."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# -- the scenario: which failure patterns happen when ------------------------------------------------------
@dataclass
class Scenario:
    """Failure patterns drawn once per seed; the nightly statuses are drawn on top of them."""

    outages: set[tuple[str, int]] = field(default_factory=set)
    """(cloud, night): every provision and deploy on that cloud is infra_failed."""
    build_breaks: set[tuple[str, str, int]] = field(default_factory=set)
    """(project, release, night): the build fails."""
    deploy_breaks: set[tuple[str, str, str, int]] = field(default_factory=set)
    """(project, release, cloud, night): the deploy (provision) fails."""
    e2e_breaks: set[tuple[str, str, str, int]] = field(default_factory=set)
    """(project, release, cloud, night): the e2e tests fail."""
    flaky: set[tuple[str, str, str]] = field(default_factory=set)
    """(project, release, cloud): the e2e fails on about a third of the nights."""
    first: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """The first window of each pattern (for the known answers)."""


def _windows(rng: random.Random, per_year: int, nights: int, shortest: int, longest: int) -> list[range]:
    count = max(1, round(per_year * nights / 365))
    out = []
    for _ in range(count):
        start = rng.randrange(nights)
        out.append(range(start, min(nights, start + rng.randint(shortest, longest))))
    return out


def draw_scenario(rng: random.Random, projects: list[Project], clouds: list[str], nights: int) -> Scenario:
    s = Scenario()
    names = [p.name for p in projects]
    for window in _windows(rng, 12, nights, 2, 6):
        cloud = rng.choice(clouds)
        s.outages.update((cloud, n) for n in window)
        s.first.setdefault("outage", (cloud, window))
    for window in _windows(rng, 10, nights, 2, 7):
        row = (rng.choice(names), "head" if rng.random() < 0.7 else "stable")
        s.build_breaks.update((*row, n) for n in window)
        s.first.setdefault("build_break", (*row, window))
    for window in _windows(rng, 8, nights, 3, 10):
        cell = (rng.choice(names), rng.choice(RELEASES), rng.choice(clouds))
        s.deploy_breaks.update((*cell, n) for n in window)
        s.first.setdefault("deploy_break", (*cell, window))
    for window in _windows(rng, 15, nights, 3, 14):
        cell = (rng.choice(names), rng.choice(RELEASES), rng.choice(clouds))
        s.e2e_breaks.update((*cell, n) for n in window)
        s.first.setdefault("e2e_break", (*cell, window))
    while len(s.flaky) < min(10, len(names) * len(clouds)):
        s.flaky.add((rng.choice(names), rng.choice(RELEASES), rng.choice(clouds)))
    s.first["flaky"] = sorted(s.flaky)[0]
    return s


# -- one night, one row -----------------------------------------------------------------------------------
def repository_of(project: Project) -> str:
    """owner/name of the GitHub repository that reports the project (from its repository URL)."""
    if project.repository:
        return project.repository
    if project.repository_url:
        return "/".join(project.repository_url.rstrip("/").split("/")[-2:])
    return f"crosscloudci/{project.name}"


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def make_record(
    project: Project,
    release: str,
    stage: str,
    cloud: str | None,
    status: str,
    began: datetime,
    ended: datetime,
    reason: str | None = None,
    *,
    run_id: int,
    attempt: int = 1,
    job_number: int,
    sha: str | None = None,
) -> Record:
    """A validated record of one stage of ``project`` (on ``cloud``, with Kubernetes stable; None: a build),
    with the provenance of GitHub Actions run ``run_id``."""
    repo = repository_of(project)
    run_url = f"https://github.com/{repo}/actions/runs/{run_id}"
    job = f"{cloud} {stage}" if cloud else stage
    data = {
        "schema_version": 1,
        "project": project.name,
        "release": release,
        "ref": project.ref(release),
        "sha": sha or _sha(project.name, release, run_id),
        "stage": stage,
        "cloud": cloud,
        "arch": ARCH,
        "kubernetes": dict(KUBERNETES) if cloud else None,
        "status": status,
        "reason": reason,
        "started_at": format_time(began),
        "finished_at": format_time(ended),
        "url": f"{run_url}/job/{job_number}",
        "run": {"repository": repo, "id": run_id, "attempt": attempt, "job": job, "workflow": WORKFLOW, "url": run_url},
    }
    return Record.from_dict(data, source=f"{project.name} {release} {job} (run {run_id})")


@dataclass
class Row:
    night: int
    project: Project
    release: str
    index: int
    records: list[Record]
    finished: datetime


class History:
    """Draws the records of every row of every night, deterministically from ``seed``."""

    def __init__(self, config: Config, nights: int, seed: int):
        self.config = config
        self.nights = nights
        self.rng = random.Random(seed)
        self.projects = config.active_projects()
        self.clouds = [c.name for c in config.active_clouds()]
        self.first_night = LAST_NIGHT - timedelta(days=nights - 1)
        self.scenario = draw_scenario(self.rng, self.projects, self.clouds, nights)

    def night(self, night: int) -> list[Row]:
        """The rows of ``night``, in the order they finish (and are committed)."""
        rows = []
        for p_index, project in enumerate(self.projects):
            for r_index, release in enumerate(RELEASES):
                rows.append(self._row(night, project, release, 2 * p_index + r_index))
        rows.sort(key=lambda row: (row.finished, row.index))
        return rows

    def _row(self, night: int, project: Project, release: str, index: int) -> Row:
        rng, s = self.rng, self.scenario
        start = self.first_night + timedelta(days=night, minutes=4 * index, seconds=rng.randrange(120))
        run_id = 400_000_000 + night * 100 + index
        attempt = 2 if rng.random() < 0.04 else 1
        ref = project.ref(release)
        sha = _sha(project.name, ref) if release == "stable" else _sha(project.name, release, night)
        timeout = timedelta(seconds=project.timeout)
        job_counter = iter(range(1, 1000))

        def record(stage: str, cloud: str | None, status: str, began: datetime, ended: datetime, reason: str | None):
            return make_record(
                project,
                release,
                stage,
                cloud,
                status,
                began,
                ended,
                reason,
                run_id=run_id,
                attempt=attempt,
                job_number=run_id * 100 + next(job_counter),
                sha=sha,
            )

        # the build
        if (project.name, release, night) in s.build_breaks:
            build_status, build_reason = "failed", "compile error"
        else:
            build_status, build_reason = _pick(
                rng,
                [("failed", 0.015, "compile error"), ("timed_out", 0.003, None), ("cancelled", 0.002, None)],
            )
        build_end = start + (timeout if build_status == "timed_out" else timedelta(minutes=rng.uniform(3, 15)))
        records = [record("build", None, build_status, start, build_end, build_reason)]

        # the clouds
        cloud_stage = project.cloud_stage()
        for cloud in self.clouds:
            cell = (project.name, release, cloud)
            began = build_end + timedelta(seconds=rng.randrange(30, 180))
            if build_status != "success":
                reason = f"build {build_status}"
                records.append(record(cloud_stage, cloud, "n/a", build_end, build_end, reason))
                records.append(record("e2e", cloud, "n/a", build_end, build_end, reason))
                continue
            if (cloud, night) in s.outages:
                status, reason = "infra_failed", f"{cloud}: cloud API unavailable"
            elif (*cell, night) in s.deploy_breaks:
                status, reason = "failed", f"{cloud_stage} failed: pods not ready"
            else:
                status, reason = _pick(
                    rng,
                    [
                        ("failed", 0.01, f"{cloud_stage} failed: pods not ready"),
                        ("infra_failed", 0.005, f"{cloud}: quota exceeded"),
                        ("timed_out", 0.003, None),
                    ],
                )
            minutes = rng.uniform(8, 25) if cloud_stage == "provision" else rng.uniform(4, 20)
            ended = began + (timeout if status == "timed_out" else timedelta(minutes=minutes))
            records.append(record(cloud_stage, cloud, status, began, ended, reason))
            if status != "success":
                records.append(record("e2e", cloud, "n/a", ended, ended, f"{cloud_stage} {status}"))
                continue
            e2e_began = ended + timedelta(seconds=rng.randrange(10, 90))
            if (*cell, night) in s.e2e_breaks:
                status, reason = "failed", "e2e: 3 of 120 tests failed"
            elif cell in s.flaky and rng.random() < 0.3:
                status, reason = "failed", "e2e: 1 of 120 tests failed"
            else:
                status, reason = _pick(
                    rng, [("failed", 0.02, "e2e: 1 of 120 tests failed"), ("timed_out", 0.003, None)]
                )
            e2e_ended = e2e_began + (timeout if status == "timed_out" else timedelta(minutes=rng.uniform(3, 30)))
            records.append(record("e2e", cloud, status, e2e_began, e2e_ended, reason))
        finished = max(r.finished_at or r.started_at for r in records)
        return Row(night, project, release, index, records, finished)

    def known_cells(self) -> dict[str, CellKey]:
        """A few cells whose whole history is worth checking: one per failure pattern, and a steady one."""
        s, k8s_env = self.scenario, KUBERNETES["release"]
        stage_of = {p.name: p.cloud_stage() for p in self.projects}
        cloud, _ = s.first["outage"]
        outage_project = self.projects[0].name
        project, release, _ = s.first["build_break"]
        cells = {
            "steady_build": CellKey(self.projects[-1].name, "stable", ARCH, "build"),
            "outage": CellKey(outage_project, "stable", ARCH, stage_of[outage_project], cloud, k8s_env),
            "build_break": CellKey(project, release, ARCH, "build"),
            "build_break_cascade": CellKey(project, release, ARCH, "e2e", self.clouds[0], k8s_env),
        }
        project, release, cloud, _ = s.first["deploy_break"]
        cells["deploy_break"] = CellKey(project, release, ARCH, stage_of[project], cloud, k8s_env)
        project, release, cloud, _ = s.first["e2e_break"]
        cells["e2e_break"] = CellKey(project, release, ARCH, "e2e", cloud, k8s_env)
        project, release, cloud = s.first["flaky"]
        cells["flaky"] = CellKey(project, release, ARCH, "e2e", cloud, k8s_env)
        return cells


def _pick(rng: random.Random, choices: list[tuple[str, float, str | None]]) -> tuple[str, str | None]:
    """``success`` unless one of (status, probability, reason) is drawn."""
    roll = rng.random()
    for status, probability, reason in choices:
        if roll < probability:
            return status, reason
        roll -= probability
    return "success", None


# -- fast-import ------------------------------------------------------------------------------------------
def _commit_stream(out: BinaryIO, row: Row, parent: str | None) -> None:
    when = int(row.finished.timestamp())
    identity = f"{DEFAULT_NAME} <{DEFAULT_EMAIL}> {when} +0000"
    message = layout.commit_message(row.records).encode()
    chunk = bytearray(f"commit refs/heads/{layout.BRANCH}\nauthor {identity}\ncommitter {identity}\n".encode())
    chunk += f"data {len(message)}\n".encode() + message + b"\n"
    if parent:
        chunk += f"from {parent}\n".encode()
    for record in row.records:
        content = record.to_json().encode()
        chunk += f"M 100644 inline {layout.cell_path(record.key)}\ndata {len(content)}\n".encode()
        chunk += content + b"\n"
    out.write(bytes(chunk))


def generate(path: Path, *, nights: int = 365, seed: int = 2018, config_file: Path = CONFIG_2018) -> dict[str, Any]:
    """Create the status repository ``path`` (a bare repository that must not exist yet) holding ``nights``
    nights of results ending on 2018-12-04; return the counts, the tip and the known answers.

    ``known_answers`` lists, for a few cells, the status of every night, oldest first: exactly what
    ``git log`` of the cell file, or the reader's ``cell_history`` reversed, must show."""
    began = time.perf_counter()
    config = load_config(config_file)
    root = init_status_repo(path, config_file=config_file)
    history = History(config, nights, seed)
    known = history.known_cells()
    watched = {layout.cell_path(key): name for name, key in known.items()}
    answers: dict[str, list[str]] = {name: [] for name in known}
    statuses: Counter[str] = Counter()
    commits = records = 0

    git = Git(path)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--done"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=git.env,
        )
        assert proc.stdin is not None
        try:
            parent: str | None = root
            for night in range(nights):
                for row in history.night(night):
                    _commit_stream(proc.stdin, row, parent)
                    parent = None  # fast-import continues the branch it holds
                    commits += 1
                    records += len(row.records)
                    for record in row.records:
                        statuses[record.status] += 1
                        name = watched.get(layout.cell_path(record.key))
                        if name:
                            answers[name].append(record.status)
                if (night + 1) % 50 == 0 or night + 1 == nights:
                    log(f"generate: {night + 1}/{nights} nights, {records} records")
            proc.stdin.write(b"done\n")
            proc.stdin.close()
        except BaseException:
            proc.kill()
            raise
        finally:
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"git fast-import failed ({code}): {errors.read().decode(errors='replace')}")

    tip = git.text("rev-parse", f"refs/heads/{layout.BRANCH}")
    landed = int(git.text("rev-list", "--count", tip)) - 1
    if landed != commits:
        raise RuntimeError(f"expected {commits} commits on top of the root, found {landed}")
    seconds = time.perf_counter() - began
    log(f"generate: {commits} commits, {records} records in {seconds:.1f} s")
    return {
        "path": str(path),
        "config": str(config_file),
        "seed": seed,
        "nights": nights,
        "first_night": format_time(history.first_night),
        "last_night": format_time(history.first_night + timedelta(days=nights - 1)),
        "projects": len(history.projects),
        "clouds": len(history.clouds),
        "cells": len(history.projects) * len(RELEASES) * (1 + 2 * len(history.clouds)),
        "commits": commits,
        "records": records,
        "root": root,
        "tip": tip,
        "status_counts": dict(statuses.most_common()),
        "seconds": round(seconds, 3),
        "known_answers": [
            {"name": name, "path": layout.cell_path(key), "key": vars(key), "statuses": answers[name]}
            for name, key in known.items()
        ],
    }


# -- helpers shared by the benchmarks ------------------------------------------------------------------
def year_repository(
    scratch: Path, *, copy_of: Path | None, nights: int, seed: int, config_file: Path
) -> tuple[Path, Path | None, dict[str, Any] | None]:
    """The status repository a benchmark measures, at ``scratch/status.git``: a copy of ``copy_of``, or
    ``nights`` generated ones. Returns (repository, file of the generator's known answers, the generator's
    summary); the last two are None for a copy."""
    repo = scratch / "status.git"
    if copy_of:
        log(f"copying {copy_of}")
        shutil.copytree(copy_of, repo, symlinks=True)
        return repo, None, None
    log(f"generating {nights} nights")
    generated = generate(repo, nights=nights, seed=seed, config_file=config_file)
    answers_file = scratch / "answers.json"
    answers_file.write_text(json.dumps(generated["known_answers"]))
    return repo, answers_file, generated


def distinct_cloud_records(count: int, *, seed: int = 2018, config_file: Path = CONFIG_2018) -> list[Record]:
    """``count`` records of distinct cloud cells of the configuration, one run each (the cells are every
    active project x release x active cloud x provision/deploy/e2e on Kubernetes stable: 336 in 2018)."""
    config = load_config(config_file)
    cells = [
        (project, release, cloud.name, stage)
        for project in config.active_projects()
        for release in RELEASES
        for cloud in config.active_clouds()
        for stage in ("provision", "deploy", "e2e")
    ]
    if count > len(cells):
        raise ValueError(f"{config_file.name} has {len(cells)} distinct cloud cells, not {count}")
    began = LAST_NIGHT + timedelta(days=1)
    return [
        make_record(
            project,
            release,
            stage,
            cloud,
            "success",
            began,
            began + timedelta(minutes=10),
            run_id=500_000_000 + n,
            job_number=(500_000_000 + n) * 100 + 1,
        )
        for n, (project, release, cloud, stage) in enumerate(random.Random(seed).sample(cells, count))
    ]


def read_tip(repo: Path, paths: list[str]) -> dict[str, bytes | None]:
    """The content of ``paths`` at the tip of ``main`` of the bare repository ``repo`` (None: missing), read
    with one plain ``git cat-file --batch`` (independent of the code under test)."""
    specs = "".join(f"refs/heads/{layout.BRANCH}:{path}\n" for path in paths).encode()
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "--batch"], input=specs, capture_output=True, check=True
    ).stdout
    found: dict[str, bytes | None] = {}
    pos = 0
    for path in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if header[-1] == b"missing":
            found[path] = None
            continue
        size = int(header[2])
        found[path] = out[pos : pos + size] if header[1] == b"blob" else None
        pos += size + 1
    return found


def git_fsck(repo: Path) -> dict[str, Any]:
    """``git fsck --strict``: clean when it exits 0 and reports nothing but dangling objects."""
    proc = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith(("dangling ", "Checking ", "notice:"))]
    return {
        "clean": proc.returncode == 0 and not problems,
        "dangling": sum(line.startswith("dangling ") for line in lines),
        "problems": problems[:10],
    }


def commit_count(repo: Path) -> int:
    """Commits on ``main`` after the root commit."""
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-list", "--count", f"refs/heads/{layout.BRANCH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out) - 1


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of ``values`` (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered)))) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="the bare repository to create (default: a temporary one)")
    parser.add_argument("--nights", type=int, help="nights to generate (default 365; with --breadth, 14)")
    parser.add_argument(
        "--breadth", choices=["cncf-2026"], help="today's CNCF breadth instead of 2018's (see breadth_history.py)"
    )
    parser.add_argument("--no-sizes", action="store_true", help="with --breadth: skip the repack after each night")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--config", type=Path, default=CONFIG_2018, help="the cross-cloud.yml to seed with")
    parser.add_argument("--answers-out", type=Path, help="also write the known answers (full statuses) here")
    args = parser.parse_args(argv)
    if args.nights is None:
        args.nights = 14 if args.breadth else 365
    if args.nights < 1:
        parser.error("--nights must be at least 1")
    exit_on_sigterm()
    if args.breadth:
        return _main_breadth(args)

    scratch = None if args.path else Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        result = generate(
            args.path or scratch / "status.git", nights=args.nights, seed=args.seed, config_file=args.config
        )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.answers_out:
        args.answers_out.write_text(json.dumps(result["known_answers"], indent=2) + "\n")
    if scratch:
        result["path"] = None  # removed
    for answer in result["known_answers"]:  # stdout stays short: a tally instead of every night
        answer["tally"] = dict(Counter(answer.pop("statuses")).most_common())
    print(json.dumps(result, indent=2))
    return 0


def _main_breadth(args: argparse.Namespace) -> int:
    from breadth_history import generate_breadth

    scratch = None if args.path else Path(tempfile.mkdtemp(prefix="bench-breadth-"))
    load_before = os.getloadavg()
    try:
        result = generate_breadth(
            args.path or scratch / "status.git", breadth=args.breadth, nights=args.nights, seed=args.seed,
            sizes=not args.no_sizes,
        )  # fmt: skip
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    result.pop("history")
    if scratch:
        result["path"] = None  # removed
    result["load_avg_before"] = [round(x, 2) for x in load_before]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
