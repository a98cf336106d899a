"""The state's insight and listeners, over a real status repository whose history the tests know."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosscloud.records import Record
from crosscloud.status_repo.git import Remote
from crosscloud_app.web import metrics
from crosscloud_app.web.status_state import REFRESH_REASONS, TIP_POLL_SECONDS, Snapshot, StatusState
from tests.helpers.app_results import Writer, result
from tests.helpers.status_repos import git


def night(status: str, at: float, run: int) -> Record:
    """One e2e result of prometheus stable on the local cloud (one commit per night)."""
    reason = None if status == "success" else "1 of 9 tests failed"
    record: Record = result("prometheus", "stable", "e2e", status, at=at, run=run, reason=reason)
    return record


E2E = night("success", at=1.0, run=1).key


@pytest.fixture
def state(status_repo: Path, tmp_path: Path) -> Iterator[StatusState]:
    made = StatusState(Remote.parse(str(status_repo)), tmp_path / "mirror", refresh_seconds=0)
    yield made
    made.close()


def test_each_snapshot_carries_the_insight_of_its_commit(
    state: StatusState, status_repo: Path, writer_for: Writer
) -> None:
    writer = writer_for(status_repo)
    # S S F F F, oldest first: failing since the first F (run 3), the rollback target is the second S (run 2).
    for run, status in enumerate(["success", "success", "failed", "failed", "failed"], start=1):
        writer.write([night(status, at=50.0 - run, run=run)])
        if run == 4:
            before = state.refresh_now()
    after = state.refresh_now()
    assert after.commit == git(status_repo, "rev-parse", "main") != before.commit

    found = after.insight[E2E]
    assert found.consecutive_failures == 3 and found.alerting(3)
    assert found.failing_since is not None and found.failing_since.url is not None
    assert "/runs/3/" in found.failing_since.url
    assert found.last_success is not None and found.last_success.url is not None
    assert "/runs/2/" in found.last_success.url
    assert found.last_success.ref == "v2.42.0" and found.failure_kind == "project"
    # the snapshot made one commit earlier keeps its own answer, and neither can be changed
    assert before.insight[E2E].consecutive_failures == 2
    with pytest.raises(TypeError):
        after.insight[E2E] = found  # type: ignore[index]


def test_listeners_run_once_per_new_commit_and_a_failing_one_breaks_nothing(
    state: StatusState, status_repo: Path, writer_for: Writer
) -> None:
    writer = writer_for(status_repo)
    writer.write([night("success", at=3.0, run=1)])
    seen: list[Snapshot] = []
    order: list[str] = []

    def broken(snap: Snapshot) -> None:
        order.append("broken")
        raise RuntimeError("listener bug")

    def recorder(snap: Snapshot) -> None:
        order.append("recorder")
        with state.query() as index:  # a listener may read the index: it runs outside the index lock
            assert index.size() > 0
        seen.append(snap)

    state.add_listener(broken)
    state.add_listener(recorder)

    def failures() -> float:
        return metrics.value("crosscloud_listener_failures_total", {"listener": broken.__qualname__}) or 0.0

    counted = failures()

    first = state.refresh_now()
    assert seen == [first] and order == ["broken", "recorder"]
    assert failures() == counted + 1
    assert first.error is None and state.last_error is None

    same = state.refresh_now()  # nothing new: a fresher snapshot, but no call
    assert same.commit == first.commit and same.refreshed_at >= first.refreshed_at
    assert same.insight == first.insight and len(seen) == 1

    writer.write([night("failed", at=2.0, run=2)])
    second = state.refresh_now()
    assert seen == [first, second] and second.insight[E2E].consecutive_failures == 1
    assert failures() == counted + 2


def test_a_failed_refresh_calls_no_listener(state: StatusState, status_repo: Path, writer_for: Writer) -> None:
    writer_for(status_repo).write([night("success", at=3.0, run=1)])
    seen: list[Snapshot] = []
    state.refresh_now()
    state.add_listener(seen.append)
    gone = status_repo.with_name("gone.git")
    status_repo.rename(gone)
    try:
        kept = state.refresh_now()
    finally:
        gone.rename(status_repo)
    assert kept.error is not None and seen == []
    assert kept.insight[E2E].green


def test_a_history_window_serves_every_cell_from_the_last_days_only(status_repo: Path, tmp_path: Path) -> None:
    """``HISTORY_DAYS``: the mirror is a shallow copy of the window and the index forgets what falls out of it;
    what every cell shows now is still served, and its insight counts only the window's runs."""
    from datetime import UTC, datetime, timedelta

    from flask import Flask

    from crosscloud import layout
    from crosscloud.errors import BadInputError
    from crosscloud.status_repo.git import Git
    from crosscloud_app.web import settings

    now = datetime.now(UTC)
    g = Git(status_repo)
    for run, days_ago in enumerate((40, 20, 2, 1), start=1):  # failed long ago, green in the window
        record = night("failed" if days_ago > 10 else "success", at=24.0 * days_ago, run=run)
        when = int((now - timedelta(days=days_ago)).timestamp())
        g.commit_files("refs/heads/main", {layout.cell_path(record.key): record.to_json().encode()}, message="n\n",
                       identity=("N", "n@example.org"), when=when, parent=g.text("rev-parse", "main"))  # fmt: skip
    windowed = StatusState(Remote.parse(str(status_repo)), tmp_path / "mirror", refresh_seconds=0, history_days=7)
    try:
        snap = windowed.refresh_now()
        assert snap.current[E2E].status == "success" and snap.commit == git(status_repo, "rev-parse", "main")
        with windowed.query() as index:
            assert len(index.cell_history(E2E)) == 2
        assert snap.insight[E2E].consecutive_failures == 0
    finally:
        windowed.close()

    app = Flask(__name__)
    for value, expected in ((None, None), ("", None), (30, 30.0), ("7.5", 7.5)):
        app.config["HISTORY_DAYS"] = value
        assert settings.history_days(app) == expected
    for value in ("a week", 0, -3):
        app.config["HISTORY_DAYS"] = value
        with pytest.raises(BadInputError, match="HISTORY_DAYS"):
            settings.history_days(app)


def test_a_worker_follows_a_peers_new_commit_and_counts_it_as_peer(
    status_repo: Path, tmp_path: Path, writer_for: Writer
) -> None:
    """Two workers of one server share a tip file: when one serves a new commit, the other refreshes within
    ``TIP_POLL_SECONDS``, and its refresh is counted under its own reason (not ``other``)."""
    tip = tmp_path / "tip"
    one, two = (
        StatusState(Remote.parse(str(status_repo)), tmp_path / name, refresh_seconds=0, shared_tip=tip)
        for name in ("one", "two")
    )
    try:
        one.refresh_now("startup")
        two.refresh_now("startup")
        two.start()
        before = metrics.value("crosscloud_refreshes_total", {"reason": "peer"}) or 0.0
        writer_for(status_repo).write([night("success", at=1.0, run=1)])
        commit = one.refresh_now("push").commit
        deadline = time.monotonic() + 10 * TIP_POLL_SECONDS
        while two.snapshot().commit != commit and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.snapshot().commit == commit
        assert (metrics.value("crosscloud_refreshes_total", {"reason": "peer"}) or 0.0) == before + 1
        assert "peer" in REFRESH_REASONS
    finally:
        one.close()
        two.close()
