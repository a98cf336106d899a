"""/healthz, /metrics and the background refresh, over a real seeded status repository."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import Writer, result
from tests.helpers.status_repos import git


def test_healthz_names_the_commit_and_the_mirror_age(client: FlaskClient, seeded_repo: Path) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["commit"] == git(seeded_repo, "rev-parse", "main")
    assert 0 <= body["mirror_age_seconds"] < 60
    assert body["error"] is None


def test_healthz_is_503_when_there_never_was_a_good_state(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(tmp_path / "missing.git")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["commit"] is None
    assert "no status repository at" in response.get_json()["error"]


def test_metrics_in_prometheus_text_format(app: Flask, client: FlaskClient, seeded_repo: Path) -> None:
    client.get("/")
    client.get("/projects/nope")
    seeded_repo.rename(seeded_repo.with_name("gone.git"))
    app.extensions[EXTENSION].refresh_now()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert re.search(r'^crosscloud_http_requests_total\{endpoint="dashboard.index",status="200"\} [1-9]', text, re.M)
    assert re.search(
        r'^crosscloud_http_requests_total\{endpoint="projects.project_page",status="404"\} [1-9]', text, re.M
    )
    assert re.search(r"^crosscloud_mirror_age_seconds [0-9.e+-]+$", text, re.M)
    assert re.search(r"^crosscloud_refresh_duration_seconds [0-9.e+-]+$", text, re.M)
    assert re.search(r"^crosscloud_index_entries 16$", text, re.M)  # every seeded version of every cell
    assert re.search(r"^crosscloud_refresh_failures_total [1-9]", text, re.M)
    assert "# TYPE crosscloud_http_requests_total counter" in text


def test_request_refresh_runs_in_the_background_and_coalesces(
    app: Flask, seeded_repo: Path, writer_for: Writer
) -> None:
    state: StatusState = app.extensions[EXTENSION]
    before = state.snapshot()
    writer_for(seeded_repo).write([result("etcd", "stable", "deploy", "success", at=0.2, run=200)])
    for _ in range(20):
        state.request_refresh("push")  # returns at once; many requests make at most one more refresh
    deadline = time.monotonic() + 20
    while state.snapshot().commit == before.commit and time.monotonic() < deadline:
        time.sleep(0.05)
    after = state.snapshot()
    assert after.commit == git(seeded_repo, "rev-parse", "main")
    assert after.grid() is not before.grid()
    assert [
        c.status for _, rows in after.grid().sections for r in rows for c in r.clouds if r.project.name == "etcd"
    ] == ["success"]
