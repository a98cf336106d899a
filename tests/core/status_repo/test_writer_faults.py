"""No result is lost under faults: concurrent writers while the remote is slow and refuses a fifth of all
pushes, and some writers are killed with SIGKILL mid-write (harness: ``tests/helpers/writer_faults.py``; the
256-writer figures come from ``bench/bench_faults.py``)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crosscloud.config import load_config
from crosscloud.status_repo.writer import Backoff
from tests.helpers.paths import CNCF_2018
from tests.helpers.writer_faults import install_faulty_hook, run_faulty_writers, tied_writers, writer_pairs


def test_the_faulty_hook_really_refuses_and_slows_pushes(status_repo: Path, tmp_path: Path) -> None:
    """The fault is real: with every push refused, a plain git push fails with the hook's message."""
    install_faulty_hook(status_repo, reject_percent=100, slow_ms=50)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(status_repo), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "--allow-empty", "-m", "x"], check=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin"})  # fmt: skip
    push = subprocess.run(["git", "-C", str(clone), "push", "origin", "HEAD"], capture_output=True, text=True)
    assert push.returncode != 0 and "fault injection: push refused" in push.stderr


@pytest.mark.slow
def test_no_record_is_lost_or_half_applied_under_refusals_kills_and_a_slow_remote(cncf_repo: Path) -> None:
    install_faulty_hook(cncf_repo, reject_percent=20, slow_ms=100)
    work = writer_pairs(load_config(CNCF_2018), 24, began=datetime(2026, 11, 1, 3, tzinfo=UTC))
    run = run_faulty_writers(
        cncf_repo, work, kill=4, backoff=Backoff(attempts=40, base=0.05, cap=2.0), kill_window=3.0, timeout=600
    )
    assert run.problems(work) == [], run.summary()
    assert run.tips_seen >= 2 and run.succeeded, run.summary()


@pytest.mark.slow
def test_forty_tied_writers_settle_on_the_winner_of_the_tie_under_faults(cncf_repo: Path) -> None:
    """40 writers record the same two cells with identical run start, run id, attempt and finish time
    (only the reason differs) while pushes are refused and slow and 4 writers are killed: every survivor
    succeeds, reporting its records written or superseded truthfully; the cells end holding the winner of
    the tie (the larger canonical text), both from one writer at every tip."""
    install_faulty_hook(cncf_repo, reject_percent=20, slow_ms=100)
    work = tied_writers(load_config(CNCF_2018), 40, began=datetime(2026, 11, 1, 3, tzinfo=UTC))
    run = run_faulty_writers(
        cncf_repo, work, kill=4, backoff=Backoff(attempts=40, base=0.05, cap=2.0), kill_window=3.0, timeout=600
    )
    assert run.problems(work) == [], run.summary()
    assert all(len(written) + len(superseded) == 2 for written, superseded, _ in run.reports.values())
    assert any(superseded for _, superseded, _ in run.reports.values()), "no writer lost the tie"
