"""``crosscloud_app.publish.render_jobs``: paths go out in batches that hold each path once (a test
environment's views together), and whatever goes wrong in a forked worker fails the publish naming the path at
fault: an answer that is not 200, two paths that would be written to one file; a worker outlives no killed
publish. Over the seeded status repository, with real worker processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosscloud.errors import StatusRepoError
from crosscloud_app.publish import render_jobs, site_paths
from crosscloud_app.publish.renderer import Renderer, Site


@pytest.fixture
def renderer(seeded_repo: Path, tmp_path: Path) -> Iterator[Renderer]:
    with Renderer(str(seeded_repo), tmp_path / "mirror", Site.parse("/")) as made:
        yield made


def test_batches_hold_every_path_once_with_each_environments_views_together(renderer: Renderer) -> None:
    config = renderer.snapshot().config
    paths = site_paths.site_paths(config)
    batches = render_jobs.batches(paths, config.default_arch)
    assert sorted(p for batch in batches for p in batch) == sorted(paths)
    views = [batch for batch in batches if site_paths.view_environment(batch[0]) is not None]
    first = next(batch for batch in views if "/" in batch)
    for stage in ("build", "provision", "deploy"):  # each project's first arch goes with the default arch
        assert {f"/views/{stage}/stable/any/", f"/views/{stage}/stable/{config.default_arch}/"} <= set(first)
    assert all(len({site_paths.view_environment(p)[0] for p in batch}) == 1 for batch in views)  # type: ignore[index]
    assert ["/feed.xml"] in batches and ["/api/v1/cells"] in batches  # the slow global answers go alone
    assert max(len(batch) for batch in batches) <= max(render_jobs.BATCH, 7)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_answer_that_is_not_200_fails_the_publish_naming_the_path(
    renderer: Renderer, tmp_path: Path, jobs: int
) -> None:
    paths = [*site_paths.site_paths(renderer.snapshot().config), "/projects/no-such-project"]
    with pytest.raises(StatusRepoError, match="the app answered 404 for /projects/no-such-project"):
        render_jobs.render(renderer, paths, out=tmp_path / "site", old_files={}, commit="c", jobs=jobs)


@pytest.mark.parametrize("jobs", [1, 2])
def test_two_paths_for_one_file_are_refused_naming_both(renderer: Renderer, tmp_path: Path, jobs: int) -> None:
    paths = ["/api/v1/projects", "/feed.xml", "/api/v1/projects.json"]  # the API answers both, as one file
    with pytest.raises(
        StatusRepoError,
        match=r"/api/v1/projects and /api/v1/projects\.json would both be written to api/v1/projects\.json",
    ):
        render_jobs.render(renderer, paths, out=tmp_path / "site", old_files={}, commit="c", jobs=jobs)


def test_workers_render_what_one_process_renders(renderer: Renderer, tmp_path: Path) -> None:
    """Deployment pages and cell histories read the index: a forked worker reads it through its own
    connection and gets the same answers."""
    config = renderer.snapshot().config
    paths = site_paths.site_paths(config)
    alone = render_jobs.render(renderer, paths, out=tmp_path / "one", old_files={}, commit="c", jobs=1)
    forked = render_jobs.render(renderer, paths, out=tmp_path / "two", old_files={}, commit="c", jobs=2)
    assert {n: r.file for n, r in alone.items()} == {n: r.file for n, r in forked.items()}
    assert all(r.written for r in forked.values())
    again = render_jobs.render(
        renderer, paths, out=tmp_path / "two", old_files={n: r.file for n, r in forked.items()}, commit="c", jobs=2
    )
    assert not any(r.written for r in again.values())  # the same bytes are on disk: nothing is written again


WORKER_OF_A_KILLED_PUBLISH = """
import os, signal, sys, time, types
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from crosscloud_app.publish import render_jobs

def started():
    render_jobs._JOB = types.SimpleNamespace(renderer=types.SimpleNamespace(after_fork=lambda: None))
    render_jobs._start_worker()

pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=started)
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(time.sleep, 120)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_worker_whose_publish_was_killed_outright_exits(tmp_path: Path) -> None:
    """SIGKILL (or a SIGTERM with no handler) gives the publishing process no chance to stop its workers: each
    worker sees its parent gone and exits, rather than waiting forever for work. The worker here runs the
    real start-up of ``render_jobs`` with a stand-in renderer (only its watch of the parent is under test)."""
    command = [sys.executable, "-c", WORKER_OF_A_KILLED_PUBLISH]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    worker = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10 * render_jobs.PARENT_CHECK_SECONDS
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists(), f"worker {worker} outlived its publish"
