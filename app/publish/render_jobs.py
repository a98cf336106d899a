"""Render paths of the site into files, in worker processes.

Each path is asked of the app (``Renderer.get``) and its file is written when its bytes differ from what the
previous manifest lists (or from what is on disk). The workers are forked from the publishing process once
the snapshot is read (and, for a full publish, the records preloaded): each starts with the same app,
snapshot and caches, reads no git, and opens its own connection to the index (``Renderer.after_fork``: an
SQLite connection must not cross a fork). They write the files themselves (hashing and writing is a good part
of a full publish) and send back what they wrote.

Paths go out in batches (``batches``): the slow global answers one by one, the dashboard views of one test
environment together (they share their rows: see ``pages.dashboard_rows``), the other paths in runs of
``BATCH`` in site order. With one job, or where ``fork`` does not exist (Windows), the same batches run in the
publishing process. A worker that fails (an app answer that is not 200, a crash) fails the publish; a worker
whose publishing process is gone (killed outright) exits within ``PARENT_CHECK_SECONDS``."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crosscloud.errors import StatusRepoError
from crosscloud_app.pages.dashboard import ANY_ARCH
from crosscloud_app.publish import site_files, site_paths
from crosscloud_app.publish.renderer import Renderer

BATCH = 64
"""Paths per batch other than the dashboard views (small enough to share the work out evenly)."""


MAX_DEFAULT_JOBS = 8
"""The most workers a publish starts unless told (each grows by what it touches of the parent's memory: about
130 MiB at 130 projects x 20 clouds, ``README``)."""


def default_jobs() -> int:
    """The processors this process may run on, at least 1 and at most ``MAX_DEFAULT_JOBS``."""
    try:
        processors = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        processors = os.cpu_count() or 1
    return max(1, min(processors, MAX_DEFAULT_JOBS))


@dataclass(frozen=True)
class Rendered:
    """One path rendered into the file ``name``."""

    name: str
    file: site_files.SiteFile
    written: bool


@dataclass(frozen=True)
class _Job:
    """What every batch needs, given to the workers by the fork (so never pickled)."""

    renderer: Renderer
    out: Path
    old_files: Mapping[str, site_files.SiteFile]
    commit: str


_JOB: _Job | None = None


def batches(paths: Sequence[str], default_arch: str) -> list[list[str]]:
    """``paths`` in batches (see the module doc), every path once: first each global path that is not a view
    on its own (the feed and the API's lists are the slowest answers), then the views of each test
    environment (those of each project's first architecture with ``default_arch``'s: they show the same
    rows), then the rest in runs of ``BATCH``."""
    shared = set(site_paths.global_paths())
    alone: list[list[str]] = []
    views: dict[tuple[str, str], list[str]] = {}
    others: list[str] = []
    for path in paths:
        environment = site_paths.view_environment(path)
        if environment is not None:
            kubernetes, arch = environment
            views.setdefault((kubernetes, default_arch if arch == ANY_ARCH else arch), []).append(path)
        elif path in shared:
            alone.append([path])
        else:
            others.append(path)
    return [*alone, *views.values(), *(others[start : start + BATCH] for start in range(0, len(others), BATCH))]


def _render(batch: Sequence[str]) -> list[Rendered]:
    job = _JOB
    assert job is not None, "render_jobs: no job"
    out = []
    for path in batch:
        answer = job.renderer.get(path)
        if answer.status != 200:
            raise StatusRepoError(f"publish: the app answered {answer.status} for {path}: {answer.body[:200]!r}")
        name = site_files.file_of(path, answer.content_type)
        if name == site_files.MANIFEST:
            raise StatusRepoError(f"publish: {path} would be written to {name}, the site's manifest")
        described = site_files.describe(path, answer.body, job.commit)
        old = job.old_files.get(name)
        changed = old is None or old.sha256 != described.sha256
        if changed or not site_files.unchanged_on_disk(job.out, name, described):
            site_files.write(job.out, name, answer.body)
            out.append(Rendered(name, described, True))
        else:
            out.append(Rendered(name, described, False))
    return out


def _start_worker() -> None:
    assert _JOB is not None
    _JOB.renderer.after_fork()
    parent = os.getppid()

    def watch_parent() -> None:  # a publish killed outright (SIGKILL, SIGTERM) leaves no worker behind
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch_parent, name="crosscloud-publish-parent", daemon=True).start()


PARENT_CHECK_SECONDS = 1.0
"""How often a worker looks whether the publishing process is still there."""


def render(
    renderer: Renderer,
    paths: Sequence[str],
    *,
    out: Path,
    old_files: Mapping[str, site_files.SiteFile],
    commit: str,
    jobs: int,
    progress: IO[str] | None = None,
) -> dict[str, Rendered]:
    """Render ``paths`` into ``out`` with ``jobs`` processes; the files by name. Two paths that would be
    written to one file are an error naming both."""
    global _JOB
    work = batches(paths, renderer.snapshot().config.default_arch)
    _JOB = _Job(renderer, out, old_files, commit)
    by_path: dict[str, Rendered] = {}
    try:
        for batch, results in _run(work, jobs):
            if progress is not None and len(by_path) // 5000 != (len(by_path) + len(batch)) // 5000:
                print(f"publish: {len(by_path) + len(batch)}/{len(paths)}", file=progress, flush=True)
            by_path.update(zip(batch, results, strict=True))
    finally:
        _JOB = None
    done: dict[str, Rendered] = {}
    first_path: dict[str, str] = {}
    for path in paths:  # in site order, whichever worker finished first
        result = by_path[path]
        if result.name in first_path:
            raise StatusRepoError(
                f"publish: {first_path[result.name]} and {path} would both be written to {result.name}"
            )
        first_path[result.name] = path
        done[result.name] = result
    return done


def _run(work: list[list[str]], jobs: int) -> Iterator[tuple[list[str], list[Rendered]]]:
    """Each batch with what rendering it gave, in this process or in ``jobs`` forked ones."""
    if jobs <= 1 or len(work) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for batch in work:
            yield batch, _render(batch)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(jobs, len(work)), mp_context=context, initializer=_start_worker) as pool:
        pending: dict[Future[list[Rendered]], list[str]] = {pool.submit(_render, batch): batch for batch in work}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    batch = pending.pop(future)
                    yield batch, future.result()
        except BrokenProcessPool as exc:
            raise StatusRepoError(f"publish: a worker process died ({exc})") from None
        finally:
            for future in pending:
                future.cancel()
