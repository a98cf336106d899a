"""Failure alerts: GitHub issues opened, commented on and closed as a real status repository's history grows.

The status repository, its mirror, the index, the insight and the alert store are real (temporary
directories); each night is a real commit and a real refresh, which calls the alerts as its listener.
GitHub cannot be reached from here: its API is replayed from betamax cassettes
(``tests/app/cassettes/alerts_*.json``, built from the shapes of GitHub's REST answers: octokit's recorded
issue listing with its ``Link`` pagination, the repository and issue objects of the REST reference). Each
recorded answer is used once, so a second issue, an extra comment or a missing close fails the test; the
``empty`` cassette answers nothing, so any GitHub call under it fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app.github_app import app_client
from crosscloud_app.github_app.failure_issue_store import CLOSED, OPEN, AlertStore
from crosscloud_app.github_app.failure_issues import EXTENSION, LABEL, Action, Alerter, dashboard_url, marker
from crosscloud_app.web.status_state import EXTENSION as STATE
from crosscloud_app.web.status_state import StatusState
from tests.helpers.app_results import night
from tests.helpers.github_keys import make_key
from tests.helpers.github_replay import Seen, replaying
from tests.helpers.status_repos import git

REPOSITORY = "etcd-io/etcd"
CELL = "results/etcd/stable/amd64/local/host/deploy.json"
ISSUE_URL = "https://github.com/etcd-io/etcd/issues/42"
PUBLIC_URL = "https://ci.example.org"
FAILED = {"build": "success", "deploy": "failed"}
GREEN = {"build": "success", "deploy": "success"}


class Clock:
    """The alerts' clock, moved by the test."""

    def __init__(self, now: str):
        self.now = datetime.fromisoformat(now).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: str) -> None:
        self.now = datetime.fromisoformat(now).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def app_key() -> str:
    return make_key()[0]


@pytest.fixture
def settings(tmp_path: Path, app_key: str) -> dict[str, Any]:
    return {
        "APP_ID": 4242,
        "PRIVATE_KEY": app_key,
        "INSTALLATION_ID": 1234,
        "PUBLIC_URL": PUBLIC_URL,
        "REFRESH_SECONDS": 0,
        "MIRROR_DIR": str(tmp_path / "mirror"),
        # no waiting between requests, and no retries inside PyGithub: a 5xx reaches the alerts at once
        "GITHUB_CLIENT_OPTIONS": {"seconds_between_requests": None, "seconds_between_writes": None, "retry": None},
    }


@pytest.fixture
def writer(status_repo: Path, writer_for: Callable[..., StatusRepoWriter]) -> StatusRepoWriter:
    return writer_for(status_repo)


def alerter(app: Flask) -> Alerter:
    found: Alerter = app.extensions[EXTENSION]
    return found


def refresh(app: Flask) -> list[Action]:
    """A refresh of the app (whose listener runs the alerts), and what that alert pass did."""
    state: StatusState = app.extensions[STATE]
    actions: list[Action] = []
    original = alerter(app).check

    def spy(snapshot: Any) -> list[Action]:
        done = original(snapshot)
        actions.extend(done)
        return done

    alerter(app).check = spy  # type: ignore[method-assign]
    try:
        state.refresh_now("test")
    finally:
        del alerter(app).check
    return actions


@contextmanager
def github(app: Flask, cassette: str) -> Iterator[Seen]:
    """Replay ``cassette`` for the app's alerts. The app's GitHub clients are made again inside it (a client
    keeps the connection class it was made with, so one made under an earlier cassette would go to the
    network): each cassette starts with the installation token it mints."""
    app.extensions.pop(app_client.EXTENSION, None)
    with replaying(cassette) as seen:
        yield seen


def kinds(actions: list[Action]) -> list[tuple[str, str, int | None]]:
    return [(a.kind, a.cell, a.issue) for a in actions]


def start(make_app: Callable[..., Flask], repo: Path, settings: dict[str, Any], clock: Clock) -> Flask:
    """An app whose startup check is done, with the test's clock."""
    app = make_app(repo, **settings)
    assert alerter(app).wait(30)
    alerter(app).clock = clock
    return app


def failed_twice(
    make_app: Callable[..., Flask], repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> tuple[Flask, Clock]:
    """Nights 1-3 green, failed, failed, and an app started on them whose clock is at night 4."""
    clock = Clock("2026-11-04T04:00:00")
    for n, statuses in enumerate([GREEN, FAILED, FAILED], start=1):
        night(writer, n, statuses)
    with replaying("empty"):
        app = start(make_app, repo, settings, clock)
    return app, clock


def third_failure_opens_42(app: Flask, writer: StatusRepoWriter) -> None:
    """Night 4 fails too: the third failure in a row opens issue #42."""
    night(writer, 4, FAILED)
    with github(app, "alerts_open"):
        assert kinds(refresh(app)) == [("opened", CELL, 42)]


def test_three_failures_open_one_issue_then_comment_daily_then_close(
    make_app: Callable[..., Flask], status_repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> None:
    clock = Clock("2026-11-01T04:00:00")
    night(writer, 1, GREEN)
    with replaying("empty"):
        app = start(make_app, status_repo, settings, clock)
        night(writer, 2, FAILED)
        night(writer, 3, FAILED)
        assert refresh(app) == []  # two failures: not yet
    store = alerter(app).store

    clock.set("2026-11-04T04:00:00")
    night(writer, 4, FAILED)
    with github(app, "alerts_open") as seen:
        assert kinds(refresh(app)) == [("opened", CELL, 42)]
    assert seen.paths() == [
        "POST /app/installations/1234/access_tokens",
        f"GET /repos/{REPOSITORY}",
        f"GET /repos/{REPOSITORY}/issues",
        f"POST /repos/{REPOSITORY}/issues",
    ]
    (alert,) = store.all()
    assert (alert.cell, alert.repository, alert.issue, alert.url, alert.state) == (
        CELL,
        REPOSITORY,
        42,
        ISSUE_URL,
        OPEN,
    )
    assert alert.reported_failures == 3

    clock.set("2026-11-04T20:00:00")  # a 4th failure the same day: no comment
    night(writer, 5, FAILED)
    with replaying("empty"):
        assert refresh(app) == []

    clock.set("2026-11-05T04:30:00")  # a day later: one comment (about failures 4 and 5)
    night(writer, 6, FAILED)
    with github(app, "alerts_comment") as seen:
        assert kinds(refresh(app)) == [("commented", CELL, 42)]
    assert seen.paths() == [
        "POST /app/installations/1234/access_tokens",
        f"GET /repos/{REPOSITORY}",
        f"GET /repos/{REPOSITORY}/issues/42",
        f"POST /repos/{REPOSITORY}/issues/42/comments",
    ]
    assert store.all()[0].reported_failures == 5

    clock.set("2026-11-07T04:00:00")  # green again: a closing comment and the issue is closed
    night(writer, 7, GREEN)
    with github(app, "alerts_close") as seen:
        assert kinds(refresh(app)) == [("closed", CELL, 42)]
    assert seen.paths()[-2:] == [f"POST /repos/{REPOSITORY}/issues/42/comments", f"PATCH /repos/{REPOSITORY}/issues/42"]
    assert store.all()[0].state == CLOSED

    night(writer, 8, GREEN)  # green and nothing open: nothing to do
    with replaying("empty"):
        assert refresh(app) == []


def test_a_restart_with_the_same_store_does_nothing_new(
    make_app: Callable[..., Flask], status_repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> None:
    first, clock = failed_twice(make_app, status_repo, writer, settings)
    third_failure_opens_42(first, writer)

    # the same mirror dir, so the same store: the startup check of the same commit calls nobody
    with replaying("empty"):
        second = start(make_app, status_repo, settings, clock)
        assert alerter(second).check(second.extensions[STATE].snapshot()) == []
    assert [a.issue for a in AlertStore(Path(settings["MIRROR_DIR"]) / "alerts.sqlite3").all()] == [42]


def test_a_lost_store_finds_the_open_issue_by_its_marker(
    make_app: Callable[..., Flask], status_repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> None:
    for n, statuses in enumerate([GREEN, FAILED, FAILED, FAILED], start=1):
        night(writer, n, statuses)
    clock = Clock("2026-11-04T04:00:00")
    # a fresh mirror dir: no store; the startup check lists the open alert issues (two pages: a pull
    # request, an issue of another cell and one without a marker first) and adopts the one with the marker
    with replaying("alerts_found") as seen:
        app = make_app(status_repo, **settings)
        assert alerter(app).wait(30)
    assert f"POST /repos/{REPOSITORY}/issues" not in seen.paths()
    assert seen.paths().count("GET /repositories/1000/issues") == 1  # the second page, from the Link header
    (alert,) = alerter(app).store.all()
    assert (alert.cell, alert.issue, alert.state, alert.reported_failures) == (CELL, 42, OPEN, 3)

    alerter(app).clock = clock
    night(writer, 5, FAILED)  # the same day as the adoption: no comment
    with replaying("empty"):
        assert refresh(app) == []


def test_a_github_5xx_is_retried_on_the_next_snapshot(
    make_app: Callable[..., Flask], status_repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> None:
    app, clock = failed_twice(make_app, status_repo, writer, settings)
    night(writer, 4, FAILED)
    with github(app, "alerts_5xx"):
        actions = refresh(app)  # the refresh itself goes on
    assert [(a.kind, a.cell) for a in actions] == [("failed", CELL)]
    assert "502" in actions[0].detail
    assert alerter(app).store.all() == []
    assert app.extensions[STATE].snapshot().error is None

    clock.set("2026-11-05T04:00:00")
    night(writer, 5, {"build": "success"})  # a new commit that does not touch the deploy cell
    with github(app, "alerts_retry"):
        assert kinds(refresh(app)) == [("opened", CELL, 42)]
    assert alerter(app).store.all()[0].reported_failures == 3


def test_an_issue_closed_by_hand_is_not_reopened_for_its_streak(
    make_app: Callable[..., Flask], status_repo: Path, writer: StatusRepoWriter, settings: dict[str, Any]
) -> None:
    app, clock = failed_twice(make_app, status_repo, writer, settings)
    third_failure_opens_42(app, writer)

    clock.set("2026-11-05T04:30:00")  # somebody closed #42 by hand meanwhile; the cell still fails
    night(writer, 5, FAILED)
    with github(app, "alerts_closed_by_hand") as seen:
        assert kinds(refresh(app)) == [("dismissed", CELL, 42)]
    assert f"POST /repos/{REPOSITORY}/issues/42/comments" not in seen.paths()
    assert alerter(app).store.all()[0].state == "dismissed"

    clock.set("2026-11-07T04:30:00")  # the same streak goes on: neither reopened nor opened again
    night(writer, 6, FAILED)
    night(writer, 7, FAILED)
    with replaying("empty"):
        assert refresh(app) == []


@pytest.mark.parametrize(
    ("change", "cassette", "why"),
    [
        (lambda text: text.replace("  etcd:\n    order: 2\n    active: true", "  etcd:\n    order: 2\n"
                                   "    active: false"), "alerts_close_deactivated", "project etcd was deactivated"),
        (lambda text: text.replace('    repository: "etcd-io/etcd"\n', ""), "alerts_close_no_repository",
         "project etcd names no repository"),
    ],
    ids=["project-deactivated", "repository-removed"],
)  # fmt: skip
def test_the_issue_of_a_cell_no_longer_followed_is_closed_saying_why(
    make_app: Callable[..., Flask],
    status_repo: Path,
    writer: StatusRepoWriter,
    settings: dict[str, Any],
    change: Callable[[str], str],
    cassette: str,
    why: str,
) -> None:
    app, _ = failed_twice(make_app, status_repo, writer, settings)
    third_failure_opens_42(app, writer)

    text = git(status_repo, "show", "main:cross-cloud.yml") + "\n"
    changed = change(text)
    assert changed != text
    writer.update_config(changed.encode(), "cross-cloud.yml")
    with github(app, cassette) as seen:
        actions = refresh(app)
    assert kinds(actions) == [("closed", CELL, 42)] and why in actions[0].detail
    assert seen.paths()[-2:] == [f"POST /repos/{REPOSITORY}/issues/42/comments", f"PATCH /repos/{REPOSITORY}/issues/42"]
    assert alerter(app).store.all()[0].state == CLOSED
    with replaying("empty"):
        night(writer, 5, FAILED)
        assert refresh(app) == []  # closed once: nothing more


def test_alerts_are_off_without_the_github_app(make_app: Callable[..., Flask], status_repo: Path) -> None:
    app = make_app(status_repo)
    assert EXTENSION not in app.extensions
    assert app.test_client().get("/alerts.json").json == {"enabled": False, "alerts": []}


def test_words_and_links() -> None:
    from crosscloud.records import CellKey

    assert marker(CELL) == f"<!-- cross-cloud-ci cell: {CELL} -->"
    assert LABEL == "cross-cloud-ci"
    key = CellKey("etcd", "stable", "arm64", "deploy", "aws", "head")
    assert dashboard_url("https://ci.example.org/", key) == (
        "https://ci.example.org/projects/etcd/stable/aws?kubernetes=head&arch=arm64"
    )
    assert dashboard_url(None, key) is None
    assert dashboard_url(PUBLIC_URL, CellKey("etcd", "stable", "amd64", "build")) == f"{PUBLIC_URL}/projects/etcd"
