"""``crosscloud run``: the matrix of a configuration run here, in parallel, through the same pipeline and
recorder as the action (``crosscloud_action.planning`` chooses the jobs). Builds go first; each release's
cloud jobs start as soon as its build is done. Ctrl-C (or SIGTERM) cancels: running stages stop and tear
down, and every interrupted or unstarted cell is recorded ``cancelled``."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any

from crosscloud.presentation import word
from crosscloud_action.pipeline import JobResult, Pipeline
from crosscloud_action.planning import BuildJob, CloudJob, Plan


class Progress:
    """One line per change of a job, safe from many threads; readable in a CI log and a terminal."""

    def __init__(self, total: int, out: IO[str] = sys.stdout):
        self.total = total
        self.done = 0
        self.out = out
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def start(self, label: str) -> None:
        with self._lock:
            print(f"[{self.done:>3}/{self.total}] {label}: running", file=self.out, flush=True)

    def finish(self, label: str, result: JobResult, seconds: float) -> None:
        with self._lock:
            self.done += 1
            stages = ", ".join(f"{r.stage} {word(r.status)}" for r in result.records)
            print(f"[{self.done:>3}/{self.total}] {label}: {word(result.status)} ({stages}; {seconds:.1f} s)",
                  file=self.out, flush=True)  # fmt: skip


@dataclass
class Outcome:
    job: BuildJob | CloudJob
    result: JobResult
    seconds: float


def run(pipeline: Pipeline, the_plan: Plan, *, jobs: int = 2, progress: Progress | None = None) -> list[Outcome]:
    """Run ``the_plan`` with at most ``jobs`` jobs at once; returns every job's outcome in plan order."""
    progress = progress or Progress(the_plan.size)
    outcomes: dict[BuildJob | CloudJob, Outcome] = {}
    lock = threading.Lock()

    def timed(job: BuildJob | CloudJob, pinned_from: BuildJob | None = None) -> None:
        progress.start(job.label)
        begun = time.monotonic()
        if isinstance(job, BuildJob):
            result = pipeline.build(job.project, job.release, job.arch)
        else:
            with lock:
                pinned = outcomes[job.build].result.pinned
            result = pipeline.cloud(job.build.project, job.build.release, job.build.arch, job.cloud, pinned,
                                    kubernetes=job.kubernetes)  # fmt: skip
        seconds = time.monotonic() - begun
        with lock:
            outcomes[job] = Outcome(job, result, seconds)
        progress.finish(job.label, result, seconds)

    previous = _install_sigterm(pipeline.cancel)
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="cell") as pool:
            pending: dict[Future[None], BuildJob | CloudJob] = {pool.submit(timed, b): b for b in the_plan.builds}
            while pending:
                try:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    _interrupted(pipeline, progress)
                    continue
                for future in done:
                    job = pending.pop(future)
                    future.result()  # a crash of the runner itself is a bug: let it show
                    if isinstance(job, BuildJob):
                        for cloud_job in the_plan.clouds.get(job, []):
                            pending[pool.submit(timed, cloud_job)] = cloud_job
    finally:
        signal.signal(signal.SIGTERM, previous)
    order = [*the_plan.builds, *(c for b in the_plan.builds for c in the_plan.clouds.get(b, []))]
    return [outcomes[job] for job in order if job in outcomes]


def _interrupted(pipeline: Pipeline, progress: Progress) -> None:
    if not pipeline.cancel.is_set():
        print("interrupted: stopping, tearing down and recording what was cut short as cancelled "
              "(Ctrl-C again to wait less politely)", file=progress.out, flush=True)  # fmt: skip
        pipeline.cancel.set()
    else:
        raise KeyboardInterrupt


def _install_sigterm(cancel: threading.Event) -> Any:
    def on_term(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGTERM, on_term)
    return signal.getsignal(signal.SIGTERM)


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """Every job with what ran (the recorded ref, and the short sha where a build knows it) and its stages'
    statuses (in the presentation table's words) and duration."""
    header = ["PROJECT", "RELEASE", "RAN", "CLOUD", "BUILD", "PROVISION", "DEPLOY", "E2E", "SECONDS"]
    rows = []
    builds = {o.job: o for o in outcomes if isinstance(o.job, BuildJob)}
    for outcome in outcomes:
        if not isinstance(outcome.job, CloudJob):
            continue
        build = builds.get(outcome.job.build)
        stages = {r.stage: word(r.status) for r in outcome.result.records}
        pinned = build.result.pinned if build else None
        ran = (pinned.ref + (f" ({pinned.sha[:7]})" if pinned.sha else "")) if pinned else "-"
        rows.append([
            outcome.job.build.project.name, outcome.job.build.release, ran,
            outcome.job.cloud.name + (f" k8s-{outcome.job.kubernetes}" if outcome.job.cloud.kubernetes else ""),
            word(build.result.status) if build else "-", stages.get("provision", "-"), stages.get("deploy", "-"),
            stages.get("e2e", "-"), f"{outcome.seconds + (build.seconds if build else 0):.1f}",
        ])  # fmt: skip
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )
