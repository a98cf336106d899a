"""Check runs on the project's own commits, from a real status repository's history.

The status repository, its mirror, the index, the refresh (which calls the check runs as its listener) and
the store are real (temporary directories). GitHub cannot be reached from here: its API is replayed from
betamax cassettes (``tests/app/cassettes/check_runs_*.json``), built by ``tests/helpers/check_run_cassettes.py``
from GitHub's documented check-run answers (the REST reference's requests with the exact bodies the code
must send, answers shaped like the ``check_run`` object of GitHub's webhook example), as the other
cassettes were built from documented shapes. Each recorded answer is used once, so a duplicated check run,
an extra request or a different body fails the test; the ``empty`` cassette answers nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crosscloud.records import Record
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app.github_app import app_client
from crosscloud_app.github_app.check_runs import EXTENSION, Action, CheckRunPoster, Group, check_name, wanted
from crosscloud_app.web.status_state import EXTENSION as STATE
from crosscloud_app.web.status_state import StatusState
from tests.helpers.check_run_cassettes import BUILD, JOB, LOCAL, PUBLIC_URL, REPOSITORY, SHA
from tests.helpers.github_keys import make_key
from tests.helpers.github_replay import Seen, replaying
from tests.helpers.status_repos import make_record

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REASON = "etcd did not answer on 127.0.0.1:2379"


@pytest.fixture(scope="module")
def app_key() -> str:
    return make_key()[0]


@pytest.fixture
def settings(tmp_path: Path, app_key: str) -> dict[str, Any]:
    return {
        "APP_ID": 4242,
        "PRIVATE_KEY": app_key,  # no INSTALLATION_ID: each repository's installation is looked up
        "PUBLIC_URL": PUBLIC_URL,
        "REFRESH_SECONDS": 0,
        "MIRROR_DIR": str(tmp_path / "mirror"),
        "GITHUB_CLIENT_OPTIONS": {"seconds_between_requests": None, "seconds_between_writes": None, "retry": None},
    }


def results(*, attempt: int, deploy: str) -> list[Record]:
    """etcd stable of run 100 (attempt ``attempt``): its build, and provision, deploy, e2e on local."""
    run = {"repository": REPOSITORY, "id": 100, "attempt": attempt, "job": "cross-cloud", "workflow": "Cross-Cloud CI",
           "url": "https://github.com/etcd-io/etcd/actions/runs/100"}  # fmt: skip
    common = {"sha": SHA, "url": JOB, "run": run, "started_at": "2026-11-01T08:00:00Z",
              "finished_at": "2026-11-01T08:05:00Z"}  # fmt: skip
    failed = deploy != "success"
    return [
        make_record(stage="build", status="success", **{**common, "run": {**run, "attempt": 1, "job": "build"}}),
        make_record(stage="provision", status="success", **common),
        make_record(stage="deploy", status=deploy, reason=REASON if failed else None, **common),
        make_record(
            stage="e2e", status="n/a" if failed else "success", reason="deploy failed" if failed else None, **common
        ),
    ]


def poster(app: Flask) -> CheckRunPoster:
    found: CheckRunPoster = app.extensions[EXTENSION]
    return found


def refresh(app: Flask) -> list[Action]:
    """A refresh of the app (whose listener posts the check runs), and what that pass did."""
    state: StatusState = app.extensions[STATE]
    actions: list[Action] = []
    original = poster(app).check

    def spy(snapshot: Any) -> list[Action]:
        done = original(snapshot)
        actions.extend(done)
        return done

    poster(app).check = spy  # type: ignore[method-assign]
    try:
        state.refresh_now("test")
    finally:
        del poster(app).check
    return actions


@contextmanager
def github(app: Flask, cassette: str) -> Iterator[Seen]:
    """Replay ``cassette``; the app's GitHub clients are made again inside it (see test_alerts.github)."""
    app.extensions.pop(app_client.EXTENSION, None)
    with replaying(cassette) as seen:
        yield seen


def start(make_app: Callable[..., Flask], repo: Path, settings: dict[str, Any]) -> Flask:
    app = make_app(repo, **settings)
    assert poster(app).wait(30)
    poster(app).clock = lambda: NOW
    return app


def kinds(actions: list[Action]) -> list[tuple[str, str, int | None]]:
    return [(a.kind, a.group, a.check_run) for a in actions]


BUILD_GROUP = "results/etcd/stable/amd64"
LOCAL_GROUP = "results/etcd/stable/amd64/local/host"


def test_results_become_check_runs_updated_in_place_for_a_rerun_and_never_twice(
    make_app: Callable[..., Flask], status_repo: Path, writer_for: Callable[..., StatusRepoWriter],
    settings: dict[str, Any],
) -> None:  # fmt: skip
    writer = writer_for(status_repo)
    with replaying("empty"):
        app = start(make_app, status_repo, settings)  # nothing recorded yet: nothing to post
    writer.write(results(attempt=1, deploy="failed"))
    with github(app, "check_runs_create") as seen:
        assert kinds(refresh(app)) == [("created", BUILD_GROUP, 11), ("created", LOCAL_GROUP, 12)]
    assert seen.paths() == [
        f"GET /repos/{REPOSITORY}/installation",
        "POST /app/installations/1234/access_tokens",
        f"GET /repos/{REPOSITORY}",
        f"GET /repos/{REPOSITORY}/commits/{SHA}",
        f"GET /repos/{REPOSITORY}/commits/{SHA}/check-runs",
        f"POST /repos/{REPOSITORY}/check-runs",
        f"GET /repos/{REPOSITORY}/commits/{SHA}",
        f"GET /repos/{REPOSITORY}/commits/{SHA}/check-runs",
        f"POST /repos/{REPOSITORY}/check-runs",
    ]

    # The same commit again (a webhook redelivered, the timer): nothing to say, no request.
    with replaying("empty"):
        assert poster(app).check(app.extensions[STATE].snapshot()) == []

    # Attempt 2 of the same run: the cloud's check run is found by its external id and updated; the build
    # (its file unchanged) is not touched.
    writer.write(results(attempt=2, deploy="success")[1:])
    with github(app, "check_runs_rerun") as seen:
        assert kinds(refresh(app)) == [("updated", LOCAL_GROUP, 12)]
    assert seen.paths()[-1] == f"PATCH /repos/{REPOSITORY}/check-runs/12"
    stored = {row["group"]: row for row in app.test_client().get("/check-runs.json").get_json()["groups"]}
    assert stored[LOCAL_GROUP]["check_run"] == 12 and stored[LOCAL_GROUP]["outcome"] == "posted"


def test_a_lost_store_finds_the_check_runs_instead_of_posting_them_again(
    make_app: Callable[..., Flask], status_repo: Path, writer_for: Callable[..., StatusRepoWriter],
    settings: dict[str, Any], tmp_path: Path,
) -> None:  # fmt: skip
    writer = writer_for(status_repo)
    writer.write(results(attempt=1, deploy="failed"))
    writer.write(results(attempt=2, deploy="success")[1:])
    with replaying("empty"):
        app = make_app(status_repo, **{**settings, "MIRROR_DIR": str(tmp_path / "fresh")})
        assert poster(app).wait(30)
    # The startup pass ran with the real clock, to which results of 2026-11-01 are old: it posted nothing and
    # noted them as old. Forget that, as a lost store would, and pass again with the clock of that day:
    poster(app).clock = lambda: NOW
    poster(app).store.handled(BUILD_GROUP, "-", "reset")
    poster(app).store.handled(LOCAL_GROUP, "-", "reset")
    with github(app, "check_runs_found"):
        assert kinds(poster(app).check(app.extensions[STATE].snapshot())) == [
            ("updated", BUILD_GROUP, 11),
            ("updated", LOCAL_GROUP, 12),
        ]


def test_not_installed_is_skipped_with_a_log_line_and_not_asked_again(
    make_app: Callable[..., Flask], status_repo: Path, writer_for: Callable[..., StatusRepoWriter],
    settings: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    writer = writer_for(status_repo)
    with replaying("empty"):
        app = start(make_app, status_repo, settings)
    writer.write(results(attempt=1, deploy="success"))
    caplog.set_level(logging.INFO, logger="crosscloud_app.github_app.check_runs")
    with github(app, "check_runs_not_installed"):
        assert [a.kind for a in refresh(app)] == ["not-installed", "not-installed"]
    assert (f"check runs: not-installed {REPOSITORY} for {BUILD_GROUP}: the GitHub App is not installed there: "
            "skipped") in caplog.text  # fmt: skip
    with replaying("empty"):
        assert poster(app).check(app.extensions[STATE].snapshot()) == []


def test_old_results_and_results_without_a_commit_are_not_posted(
    make_app: Callable[..., Flask], status_repo: Path, writer_for: Callable[..., StatusRepoWriter],
    settings: dict[str, Any],
) -> None:  # fmt: skip
    writer = writer_for(status_repo)
    with replaying("empty"):
        app = start(make_app, status_repo, settings)
        writer.write([make_record(stage="build", status="success", sha=None)])  # a reuse build: no commit
        assert [(a.kind, a.detail) for a in refresh(app)] == [("no-commit", "the results name no commit")]
        poster(app).clock = lambda: datetime(2026, 12, 1, tzinfo=UTC)  # a month later
        writer.write([make_record(stage="deploy", status="failed", reason="late", sha=SHA)])
        assert refresh(app) == []  # older than stale_after_hours: an old commit is left alone


# -- the words, without GitHub ---------------------------------------------------------------------------------


def group_of(records: list[Record]) -> Group:
    key = records[0].key
    return Group("results/etcd/stable/amd64/local/host", key.project, key.release, key.arch, key.cloud,
                 key.environment, ())  # fmt: skip


def test_conclusions_follow_the_worst_stage_and_n_a_is_neutral(status_repo: Path) -> None:
    from crosscloud.status_repo.seed import default_config

    config = default_config()
    stages = ("provision", "deploy", "e2e")

    def check(*statuses: str) -> tuple[str, str | None, str]:
        records = [make_record(stage=s, status=st, reason=None if st == "success" else "why", sha=SHA,
                               finished_at=None if st == "running" else "2026-11-01T08:05:00Z")
                   for s, st in zip(stages, statuses, strict=True)]  # fmt: skip
        found = wanted(group_of(records), records, config, PUBLIC_URL)
        assert found is not None
        return found.status, found.conclusion, found.title

    assert check("success", "success", "success") == ("completed", "success", "success: provision, deploy, e2e")
    assert check("n/a", "n/a", "n/a") == ("completed", "neutral", "provision: n/a: why")
    assert check("infra_failed", "n/a", "n/a") == ("completed", "failure", "provision: infra_failed: why")
    assert check("success", "timed_out", "n/a") == ("completed", "timed_out", "deploy: timed_out: why")
    assert check("success", "cancelled", "n/a") == ("completed", "cancelled", "deploy: cancelled: why")
    assert check("success", "running", "n/a")[:2] == ("in_progress", None)


def test_names_say_release_cloud_and_only_what_differs() -> None:
    from crosscloud.config import parse_config

    config = parse_config(
        "clouds: {aws: {}}\nprojects:\n  etcd: {arch: [amd64, arm64], repository: etcd-io/etcd}\n"
        "  nats: {repository: nats-io/nats-server}\n",
        "x.yml",
    )
    group = Group("g", "etcd", "stable", "arm64", "aws", "head", ())
    assert check_name(group, config.project("etcd")) == "cross-cloud / stable / aws / arm64 / kubernetes head"
    assert check_name(Group("g", "nats", "head", "amd64", "aws", "stable", ()), config.project("nats")) == (
        "cross-cloud / head / aws"
    )
    assert check_name(Group("g", "nats", "stable", "amd64", None, None, ()), config.project("nats")) == BUILD
    assert LOCAL == "cross-cloud / stable / local"
