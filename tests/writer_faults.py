"""Fault injection for the status repository writer, shared by ``tests/test_writer_faults.py`` and
``bench/bench_faults.py``.

Many writers write at once into one bare repository whose ``pre-receive`` hook answers slowly and refuses
a share of all pushes (branch pushes and proposals alike), while some writers are killed with SIGKILL in
the middle of their write. Each writer writes two cells in one ``write()``, so a half-applied write would
be visible as one of its cells without the other. An observer watches every tip the branch takes while
the writers run and indexes it with the reader, as the app would.

The promises checked (``FaultRun.problems``): every writer that was not killed succeeds and each of its
records lands exactly once (one commit introduces it, none rewrites it); no tip ever holds half of a
writer's records; the reader indexes every tip it sees without an error; ``git fsck --strict`` is clean.
Records of killed writers may land (their proposals are public) or not; never half."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crosscloud import layout
from crosscloud.config import Config
from crosscloud.records import Record, format_time
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.reader import StatusIndex
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter

HOOK = """#!/bin/sh
# Fault injection: a slow remote that refuses about {reject_percent}% of pushes.
cat >/dev/null
random() {{ od -An -N2 -tu2 /dev/urandom | tr -d ' '; }}
ms=$(( $(random) % {slow_ms} ))
sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
if [ $(( $(random) % 100 )) -lt {reject_percent} ]; then
  echo "fault injection: push refused" >&2
  exit 1
fi
exit 0
"""


def writer_pairs(config: Config, count: int, *, began: datetime) -> list[list[Record]]:
    """``count`` writers, each with two cells of its own (cloud cells of the configuration: every active
    project, release, cloud, Kubernetes release and stage, taken two at a time)."""
    cells = [
        (project, release, cloud, kubernetes, stage)
        for project in config.active_projects()
        for release in project.releases
        for cloud in config.active_clouds()
        for kubernetes in (("stable", "head") if cloud.kubernetes else (None,))
        for stage in ("provision", "deploy", "e2e")
    ]
    if 2 * count > len(cells):
        raise ValueError(f"{config.source} has {len(cells)} cloud cells: enough for {len(cells) // 2} writers")
    records = []
    for n, (project, release, cloud, kubernetes, stage) in enumerate(cells[: 2 * count]):
        start = began + timedelta(seconds=n)
        data = {
            "schema_version": 1, "project": project.name, "release": release, "ref": project.ref(release),
            "sha": f"{n:040x}", "stage": stage, "cloud": cloud.name, "arch": project.arch[0],
            "kubernetes": {"release": kubernetes} if kubernetes else None, "status": "success", "reason": None,
            "started_at": format_time(start), "finished_at": format_time(start + timedelta(minutes=5)),
            "url": None, "run": {"repository": "crosscloudci/faults", "id": 900_000 + n // 2, "attempt": 1},
        }  # fmt: skip
        records.append(Record.from_dict(data, source=f"cell {n}"))
    return [records[i : i + 2] for i in range(0, len(records), 2)]


def install_faulty_hook(repo: Path, *, reject_percent: int, slow_ms: int) -> None:
    """Make ``repo`` slow (0..slow_ms ms per push) and refuse ``reject_percent`` % of pushes."""
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(reject_percent=reject_percent, slow_ms=max(slow_ms, 1)))
    hook.chmod(0o755)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class FaultRun:
    writers: int
    killed: set[int]
    succeeded: set[int] = field(default_factory=set)
    errors: dict[int, str] = field(default_factory=dict)
    unfinished: set[int] = field(default_factory=set)
    tips_seen: int = 0
    half_applied: list[str] = field(default_factory=list)
    reader_errors: list[str] = field(default_factory=list)
    landed_times: dict[str, int] = field(default_factory=dict)
    """How many commits introduced or changed each writer's cell on the branch."""
    killed_landed: int = 0
    orphaned_proposals: int = 0
    fsck_clean: bool = False
    fsck_output: str = ""
    commits: int = 0
    wall_s: float = 0.0
    rejected_pushes: int = 0

    def problems(self, pairs: list[list[Record]]) -> list[str]:
        found: list[str] = []
        for n, pair in enumerate(pairs):
            if n in self.killed:
                continue
            if n not in self.succeeded:
                found.append(f"writer {n} did not succeed: {self.errors.get(n, 'unfinished')}")
            for record in pair:
                times = self.landed_times.get(layout.cell_path(record.key), 0)
                if times != 1:
                    found.append(f"writer {n}: {layout.cell_path(record.key)} landed {times} times, not once")
        found += [f"half-applied tip: {h}" for h in self.half_applied]
        found += [f"reader: {e}" for e in self.reader_errors]
        if not self.fsck_clean:
            found.append(f"git fsck --strict: {self.fsck_output}")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "writers": self.writers,
            "killed": len(self.killed),
            "succeeded": len(self.succeeded),
            "writer_errors": len(self.errors),
            "unfinished": len(self.unfinished),
            "tips_observed": self.tips_seen,
            "half_applied_tips": len(self.half_applied),
            "reader_errors": len(self.reader_errors),
            "cells_landed_more_than_once": sum(1 for t in self.landed_times.values() if t > 1),
            "killed_writers_whose_records_landed": self.killed_landed,
            "orphaned_proposals": self.orphaned_proposals,
            "commits": self.commits,
            "fsck_clean": self.fsck_clean,
            "wall_s": round(self.wall_s, 2),
        }


def _writer(repo: str, index: int, records: list[Record], backoff: Backoff, barrier: Any, results: Any) -> None:
    writer = StatusRepoWriter(Remote.parse(repo), backoff=backoff)
    barrier.wait()
    try:
        writer.write(records)
        results.put((index, None))
    except BaseException as exc:
        results.put((index, f"{type(exc).__name__}: {exc}"))


class _Observer(threading.Thread):
    """Watches the branch while the writers run: every new tip must hold both or neither of each writer's
    cells, and the reader must index it."""

    def __init__(self, repo: Path, pairs: list[list[Record]], run: FaultRun):
        super().__init__(daemon=True)
        self.repo, self.run_ = repo, run
        self.pairs = [[layout.cell_path(r.key) for r in pair] for pair in pairs]
        self.stop = threading.Event()

    def run(self) -> None:
        index = StatusIndex(self.repo)
        seen: str | None = None
        while not self.stop.is_set():
            with contextlib.suppress(subprocess.CalledProcessError):
                tip = git(self.repo, "rev-parse", f"refs/heads/{layout.BRANCH}")
                if tip != seen:
                    seen = tip
                    self.check(tip, index)
            self.stop.wait(0.05)
        index.close()

    def check(self, tip: str, index: StatusIndex) -> None:
        self.run_.tips_seen += 1
        present = set(git(self.repo, "ls-tree", "-r", "--name-only", tip, "results").splitlines())
        for n, paths in enumerate(self.pairs):
            held = sum(p in present for p in paths)
            if held not in (0, len(paths)):
                self.run_.half_applied.append(f"{tip[:12]} holds {held} of writer {n}'s {len(paths)} cells")
        try:
            index.refresh(tip)
            broken = [e.path for e in index.current().values() if e.error]
            if broken:
                self.run_.reader_errors.append(f"{tip[:12]}: broken cells {broken[:3]}")
        except Exception as exc:
            self.run_.reader_errors.append(f"{tip[:12]}: {type(exc).__name__}: {exc}")


def run_faulty_writers(
    repo: Path,
    pairs: list[list[Record]],
    *,
    kill: int,
    backoff: Backoff,
    kill_window: float,
    timeout: float,
    seed: int = 6,
) -> FaultRun:
    """Start one writer per pair at once, SIGKILL ``kill`` of them at random moments within
    ``kill_window`` seconds, wait for the rest, then check the repository."""
    rng = random.Random(seed)
    victims = set(rng.sample(range(len(pairs)), kill))
    run = FaultRun(writers=len(pairs), killed=victims)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(pairs) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(repo), n, pair, backoff, barrier, results), daemon=True)
        for n, pair in enumerate(pairs)
    ]
    for proc in procs:
        proc.start()
    observer = _Observer(repo, pairs, run)
    observer.start()
    barrier.wait(timeout=120)
    began = time.monotonic()
    kills = sorted((rng.uniform(0, kill_window), n) for n in victims)

    def killer() -> None:
        for at, n in kills:
            time.sleep(max(0.0, began + at - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.kill(procs[n].pid, signal.SIGKILL)

    killing = threading.Thread(target=killer, daemon=True)
    killing.start()
    expected = len(pairs) - len(victims)
    deadline = began + timeout
    while len(run.succeeded) + len(run.errors) < expected and time.monotonic() < deadline:
        try:
            index, error = results.get(timeout=0.5)
        except queue.Empty:
            continue
        if index in victims:  # finished before its kill came: not a killed writer after all
            victims.discard(index)
            expected += 1
        if error is None:
            run.succeeded.add(index)
        else:
            run.errors[index] = error
    run.wall_s = time.monotonic() - began
    killing.join()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    run.killed = victims
    run.unfinished = {n for n in range(len(pairs)) if n not in victims | run.succeeded | set(run.errors)}
    observer.stop.set()
    observer.join()
    observer.check(git(repo, "rev-parse", f"refs/heads/{layout.BRANCH}"), StatusIndex(repo))
    _verify(repo, pairs, run)
    return run


def _verify(repo: Path, pairs: list[list[Record]], run: FaultRun) -> None:
    log = git(repo, "log", "--format=%x01", "--name-only", f"refs/heads/{layout.BRANCH}", "--", "results")
    for chunk in log.split("\x01"):
        for path in chunk.split():
            run.landed_times[path] = run.landed_times.get(path, 0) + 1
    run.killed_landed = sum(1 for n in run.killed if any(layout.cell_path(r.key) in run.landed_times for r in pairs[n]))
    run.orphaned_proposals = len(git(repo, "for-each-ref", "refs/crosscloud/pending/").splitlines())
    run.commits = int(git(repo, "rev-list", "--count", f"refs/heads/{layout.BRANCH}"))
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    problems = [line for line in (fsck.stdout + fsck.stderr).splitlines() if not line.startswith("dangling ")]
    run.fsck_clean = fsck.returncode == 0 and not problems
    run.fsck_output = "\n".join(problems[:5])
