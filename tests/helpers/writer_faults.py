"""Fault injection for the status repository writer, shared by ``tests/core/status_repo/test_writer_faults.py`` and
``bench/bench_faults.py``.

Many writers write at once into one bare repository whose ``pre-receive`` hook answers slowly and refuses
a share of all pushes (branch pushes and proposals alike), while some writers are killed with SIGKILL in
the middle of their write. Each writer writes two cells in one ``write()``, so a half-applied write would
be visible as one of its cells without the other. An observer watches every tip the branch takes while
the writers run and indexes it with the reader, as the app would.

The promises checked (``FaultRun.problems``): every writer that was not killed succeeds; a cell that only
one writer writes gets its record exactly once (one commit introduces it, none rewrites it); a cell that
several writers write (``tied_writers``: the same cells, the same times) ends holding the record that wins
the tie among them, and what each writer reports is true (written: the commit it names holds its record;
superseded: the record that stays wins over it); no tip ever holds half of a writer's records; the reader
indexes every tip it sees without an error; ``git fsck --strict`` is clean. Records of killed writers may
land (their proposals are public) or not; never half."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
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


def tied_writers(config: Config, count: int, *, began: datetime) -> list[list[Record]]:
    """``count`` writers that all record the SAME two cells with the same run start, run id, attempt and
    finish time; only the reason differs (``tie 007``), so the tie is broken by the records' text and the
    same writer wins both cells."""
    project = config.active_projects()[0]
    cloud = next(c for c in config.active_clouds() if c.kubernetes)
    records = []
    for n in range(count):
        pair = []
        for stage in ("deploy", "e2e"):
            data = {
                "schema_version": 1, "project": project.name, "release": "stable", "ref": project.ref("stable"),
                "sha": "7" * 40, "stage": stage, "cloud": cloud.name, "arch": project.arch[0],
                "kubernetes": {"release": "stable"}, "status": "failed", "reason": f"tie {n:03d}",
                "started_at": format_time(began), "finished_at": format_time(began + timedelta(minutes=5)),
                "url": None, "run": {"repository": "crosscloudci/faults", "id": 910_000, "attempt": 1},
            }  # fmt: skip
            pair.append(Record.from_dict(data, source=f"tied writer {n} {stage}"))
        records.append(pair)
    return records


def blob_id(record: Record) -> str:
    """The git blob id of ``record``'s canonical text (what ``ls-tree`` shows for its cell file)."""
    body = record.to_json().encode()
    return hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def unread_marks(repo: Path) -> list[str]:
    """Not-landed marks nobody read (their writer died, or the push deleting the mark was refused); they
    expire."""
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/crosscloud/not-landed/").split()


def unsettled_refs(repo: Path) -> list[str]:
    """Pending proposals whose records the branch does not hold as proposed: nobody landed them. A
    proposal that rode along on its writer's successful push (the branch holds it as proposed) is
    settled; the next writer deletes it, with the election refs of past rounds."""
    found = []
    for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/crosscloud/pending/").splitlines():
        commit, ref = line.split()
        listing = git(repo, "diff-tree", "--root", "-r", "--no-commit-id", commit).splitlines()
        specs = [f"refs/heads/{layout.BRANCH}:{entry.split(chr(9), 1)[1]}" for entry in listing]
        wanted = [entry.split()[3] for entry in listing]
        held = subprocess.run(
            ["git", "--git-dir", str(repo), "cat-file", "--batch-check=%(objectname)"],
            input="".join(f"{spec}\n" for spec in specs), capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if held[: len(wanted)] != wanted:
            found.append(ref)
    return found


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
    reports: dict[int, tuple[list[str], list[str], str | None]] = field(default_factory=dict)
    """What each writer that succeeded reported: blob ids written, blob ids superseded, the commit."""
    errors: dict[int, str] = field(default_factory=dict)
    unfinished: set[int] = field(default_factory=set)
    tips_seen: int = 0
    half_applied: list[str] = field(default_factory=list)
    reader_errors: list[str] = field(default_factory=list)
    landed_times: dict[str, int] = field(default_factory=dict)
    """How many commits introduced or changed each writer's cell on the branch."""
    ever_held: dict[str, set[str]] = field(default_factory=dict)
    """Every blob id each cell file held on the branch."""
    final: dict[str, str] = field(default_factory=dict)
    """The blob id of each cell file at the final tip."""
    killed_landed: int = 0
    orphaned_proposals: int = 0
    """Proposals nobody landed (``unsettled_refs``)."""
    unread_marks: int = 0
    """Not-landed marks left (``unread_marks``): of killed writers, or a refused deletion."""
    fsck_clean: bool = False
    fsck_output: str = ""
    commits: int = 0
    wall_s: float = 0.0
    rejected_pushes: int = 0

    def problems(self, pairs: list[list[Record]]) -> list[str]:
        found: list[str] = []
        writers_of: dict[str, list[int]] = {}
        for n, pair in enumerate(pairs):
            for record in pair:
                writers_of.setdefault(layout.cell_path(record.key), []).append(n)
        for n, pair in enumerate(pairs):
            if n in self.killed:
                continue
            if n not in self.succeeded:
                found.append(f"writer {n} did not succeed: {self.errors.get(n, 'unfinished')}")
            for record in pair:
                path = layout.cell_path(record.key)
                times = self.landed_times.get(path, 0)
                if len(writers_of[path]) == 1 and times != 1:
                    found.append(f"writer {n}: {path} landed {times} times, not once")
        found += self._tie_problems(pairs, writers_of)
        found += [f"half-applied tip: {h}" for h in self.half_applied]
        found += [f"reader: {e}" for e in self.reader_errors]
        if not self.fsck_clean:
            found.append(f"git fsck --strict: {self.fsck_output}")
        return found

    def _tie_problems(self, pairs: list[list[Record]], writers_of: dict[str, list[int]]) -> list[str]:
        """Cells written by several writers: the winner stays, and every writer's report is true."""
        found: list[str] = []
        records = {blob_id(r): r for pair in pairs for r in pair}
        for path, writers in writers_of.items():
            if len(writers) == 1:
                continue
            contenders = [r for n in writers for r in pairs[n] if layout.cell_path(r.key) == path
                          and (n in self.succeeded or blob_id(r) in self.ever_held.get(path, set()))]  # fmt: skip
            winner = max(contenders, key=Record.recency)
            if self.final.get(path) != blob_id(winner):
                held = records.get(self.final.get(path, ""))
                found.append(f"{path} holds {held.data['reason'] if held else self.final.get(path)!r}, "
                             f"not the winner of the tie {winner.data['reason']!r}")  # fmt: skip
        for n, (written, superseded, commit) in self.reports.items():
            for blob in written:
                path = layout.cell_path(records[blob].key)
                if len(writers_of[path]) > 1 and blob not in self.ever_held.get(path, set()):
                    found.append(f"writer {n} reported {path} written ({commit}), but it never landed")
            for blob in superseded:
                record = records[blob]
                held = records.get(self.final.get(layout.cell_path(record.key), ""))
                if held is None or held.recency() <= record.recency():
                    found.append(f"writer {n} reported {layout.cell_path(record.key)} superseded, but it is not")
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
            "unread_marks": self.unread_marks,
            "commits": self.commits,
            "fsck_clean": self.fsck_clean,
            "wall_s": round(self.wall_s, 2),
        }


def _writer(repo: str, index: int, records: list[Record], backoff: Backoff, conn: Connection) -> None:
    """One writer (a forked child): wait for the start on its own pipe, write, report on the same pipe.
    Nothing is shared with the other writers (no queue, barrier or lock), so SIGKILLing one in the middle
    of anything cannot block the others."""
    writer = StatusRepoWriter(Remote.parse(repo), backoff=backoff)
    conn.recv()
    try:
        result = writer.write(records)
        report = ([blob_id(r) for r in result.written], [blob_id(r) for r in result.superseded], result.commit)
        conn.send((index, None, report))
    except BaseException as exc:
        conn.send((index, f"{type(exc).__name__}: {exc}", None))


class _Observer(threading.Thread):
    """Watches the branch while the writers run: every new tip must hold both or neither of each writer's
    cells, and the reader must index it."""

    def __init__(self, repo: Path, pairs: list[list[Record]], run: FaultRun):
        super().__init__(daemon=True)
        self.repo, self.run_ = repo, run
        self.pairs = [[(layout.cell_path(r.key), blob_id(r)) for r in pair] for pair in pairs]
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
        listing = git(self.repo, "ls-tree", "-r", tip, "results").splitlines()
        present = {line.split("\t", 1)[1]: line.split()[2] for line in listing}  # path -> blob id
        for n, cells in enumerate(self.pairs):
            held = sum(present.get(path) == blob for path, blob in cells)
            if held not in (0, len(cells)):
                self.run_.half_applied.append(f"{tip[:12]} holds {held} of writer {n}'s {len(cells)} records")
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
    pipes = [ctx.Pipe() for _ in pairs]
    procs = [
        ctx.Process(target=_writer, args=(str(repo), n, pair, backoff, pipes[n][1]), daemon=True)
        for n, pair in enumerate(pairs)
    ]
    for proc in procs:
        proc.start()
    for _, child_end in pipes:
        child_end.close()
    observer = _Observer(repo, pairs, run)
    observer.start()
    waiting = {parent_end: n for n, (parent_end, _) in enumerate(pipes)}
    for parent_end in waiting:
        parent_end.send("go")
    began = time.monotonic()
    kills = sorted((rng.uniform(0, kill_window), n) for n in victims)

    def killer() -> None:
        for at, n in kills:
            time.sleep(max(0.0, began + at - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.kill(procs[n].pid, signal.SIGKILL)

    killing = threading.Thread(target=killer, daemon=True)
    killing.start()
    deadline = began + timeout
    while waiting and time.monotonic() < deadline:
        for ready in wait_for(list(waiting), timeout=0.5):
            assert isinstance(ready, Connection)
            del waiting[ready]
            try:
                index, error, report = ready.recv()
            except EOFError:  # killed (or died) without reporting
                continue
            victims.discard(index)  # a victim that finished before its kill came was not killed after all
            if error is None:
                run.succeeded.add(index)
                run.reports[index] = report
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
    log = git(repo, "log", "--format=", "--raw", "--no-abbrev", f"refs/heads/{layout.BRANCH}", "--", "results")
    for line in log.splitlines():
        meta, path = line.split("\t", 1)
        run.landed_times[path] = run.landed_times.get(path, 0) + 1
        run.ever_held.setdefault(path, set()).add(meta.split()[3])
    listing = git(repo, "ls-tree", "-r", f"refs/heads/{layout.BRANCH}", "results").splitlines()
    run.final = {line.split("\t", 1)[1]: line.split()[2] for line in listing}
    run.killed_landed = sum(
        1 for n in run.killed if any(blob_id(r) in run.ever_held.get(layout.cell_path(r.key), ()) for r in pairs[n])
    )
    run.orphaned_proposals = len(unsettled_refs(repo))
    run.unread_marks = len(unread_marks(repo))
    run.commits = int(git(repo, "rev-list", "--count", f"refs/heads/{layout.BRANCH}"))
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    problems = [line for line in (fsck.stdout + fsck.stderr).splitlines() if not line.startswith("dangling ")]
    run.fsck_clean = fsck.returncode == 0 and not problems
    run.fsck_output = "\n".join(problems[:5])
