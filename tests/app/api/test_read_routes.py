"""The history API: every route against a real seeded status repository, its filters, pagination, ETags,
errors, and the OpenAPI document, which every response is validated against."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import openapi_spec_validator
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

import crosscloud_app.web.status_state as state_module
from crosscloud.records import format_time
from crosscloud.status_repo.git import Git, Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.api import history, openapi, query
from crosscloud_app.api.components import json_alias
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import ALL_GREEN, Writer, pipeline, result
from tests.helpers.paths import ROOT

DOCUMENT = openapi.document()
REGISTRY = Registry().with_resource("urn:api", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
SEEDED_ENTRIES = 16
"""Versions in ``seeded_repo``: prometheus 4 + 4, etcd 3, nats stable 4, nats head 1."""


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """A client of an app over the same night of results as ``seeded_repo``, shared by the tests that only
    read (building the repository takes seconds)."""
    base = tmp_path_factory.mktemp("api")
    repo = base / "status.git"
    init_status_repo(repo)
    writer = StatusRepoWriter(Remote.parse(str(repo)))
    writer.write(pipeline("prometheus", "stable", {**ALL_GREEN, "deploy": "failed"}, at=30.0, run=90))
    writer.write(pipeline("prometheus", "stable", ALL_GREEN, run=100))
    writer.write(pipeline("etcd", "stable", {"build": "success", "provision": "success", "deploy": "failed"}))
    writer.write(pipeline("nats", "stable", ALL_GREEN, at=72.0, run=50))
    writer.write([result("nats", "head", "build", "running", at=0.1, ref="v2.15.1", run=101)])
    app = create_app({"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(base / "mirror")})
    yield app.test_client()
    app.extensions[EXTENSION].close()


def conforms(response: TestResponse, path: str) -> Any:
    """The JSON body, after checking it against the document's schema for ``path`` and this status code."""
    pointer = "/".join(
        ["/paths", path.replace("~", "~0").replace("/", "~1"), "get", "responses", str(response.status_code)]
    )
    spec: Any = DOCUMENT
    for part in pointer.split("/")[1:]:
        spec = spec[part.replace("~1", "/").replace("~0", "~")]  # the document describes this answer
    assert response.mimetype == "application/json", response.get_data(as_text=True)
    body = response.get_json()
    schema = {"$ref": f"urn:api#{pointer}/content/application~1json/schema"}
    Draft202012Validator(schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    return body


def get(client: FlaskClient, url: str, path: str, status: int = 200, **headers: str) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-cache"
    return conforms(response, path)


def refresh(app: Flask) -> None:
    state: StatusState = app.extensions[EXTENSION]
    state.refresh_now("test")


def commit_file(repo: Path, path: str, content: bytes, when: int) -> None:
    """Put a file on main by hand, as a person with push access could, to break one cell."""
    g = Git(repo)
    g.commit_files(
        "refs/heads/main", {path: content}, message="manual edit\n", identity=("A", "a@b"), when=when,
        parent=g.text("rev-parse", "main"),
    )  # fmt: skip


def walk(client: FlaskClient, url: str, path: str) -> tuple[list[dict[str, Any]], int]:
    """Every entry behind ``url``, following ``next`` links (checked against the Link header)."""
    entries: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = conforms(response, path)
        entries += body["entries"]
        pages += 1
        link = response.headers.get("Link")
        assert link == (f'<{body["next"]}>; rel="next"' if body["next"] else None)
        next_url = body["next"]
        assert pages <= 100
    return entries, pages


# -- projects and clouds ------------------------------------------------------------------------------
def test_projects_come_from_the_configuration_with_links_that_work(reader: FlaskClient) -> None:
    body = get(reader, "/api/v1/projects", "/api/v1/projects")
    assert [p["name"] for p in body["projects"]] == ["prometheus", "etcd", "nats"]
    nats = body["projects"][2]
    assert nats["refs"] == {"stable": "v2.9.10", "head": "v2.15.1"}
    assert nats["releases"] == ["stable", "head"]
    assert (nats["cncf_relation"], nats["sub_title"], nats["app_layer"]) == ("Incubating", "Messaging", True)
    assert nats["repository_url"] == "https://github.com/nats-io/nats-server"
    assert nats["links"] == {
        "self": "/api/v1/projects/nats",
        "cells": "/api/v1/cells?project=nats",
        "history": "/api/v1/history?project=nats",
    }
    assert get(reader, nats["links"]["self"], "/api/v1/projects/{project}")["project"] == nats
    assert {c["project"] for c in get(reader, nats["links"]["cells"], "/api/v1/cells")["cells"]} == {"nats"}
    assert len(get(reader, nats["links"]["history"], "/api/v1/history")["entries"]) == 5


def test_an_unknown_project_is_404(reader: FlaskClient) -> None:
    body = get(reader, "/api/v1/projects/coredns", "/api/v1/projects/{project}", 404)
    assert body["error"]["parameter"] == "project"
    assert "coredns" in body["error"]["message"]


def test_clouds_come_from_the_configuration(reader: FlaskClient) -> None:
    body = get(reader, "/api/v1/clouds", "/api/v1/clouds")
    assert body["commit"] == Git(Path(reader.application.config["STATUS_REPO"])).text("rev-parse", "main")
    local, kind = body["clouds"]
    assert (local["name"], local["active"], local["kubernetes"]) == ("local", True, False)
    assert (kind["name"], kind["active"], kind["kubernetes"]) == ("kind", False, True)


# -- cells --------------------------------------------------------------------------------------------
def test_the_cells_agree_with_crosscloud_status_json(reader: FlaskClient) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "crosscloud", "status", "--repo", reader.application.config["STATUS_REPO"], "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    grid = json.loads(cli.stdout)
    expected = [
        cell
        for section in grid["sections"]
        for row in section["rows"]
        for cell in (row["build"], *row["clouds"], *row["e2e"])
    ]
    body = get(reader, "/api/v1/cells", "/api/v1/cells")
    assert body["commit"] == grid["commit"]
    assert len(body["cells"]) == len(expected) == 4 * 3  # 4 rows (prometheus, etcd, nats x2) x build, local, e2e
    for ours, theirs in zip(body["cells"], expected, strict=True):
        assert {k: ours[k] for k in theirs} == theirs


def test_cells_show_the_cell_rules(reader: FlaskClient) -> None:
    cells = get(reader, "/api/v1/cells", "/api/v1/cells")["cells"]
    by = {(c["project"], c["release"], c["stage"]): c for c in cells}
    green = by["prometheus", "stable", "deploy"]
    assert (green["status"], green["stored_status"], green["stale"], green["cloud"]) == (
        "success",
        "success",
        False,
        "local",
    )
    assert green["url"] == "https://github.com/example/prometheus/actions/runs/100/job/1006"
    assert (green["ref"], green["sha"], green["environment"]) == ("v2.42.0", "a" * 40, "host")
    assert green["history"] == "/api/v1/history/prometheus/stable/local/deploy?arch=amd64"
    etcd_e2e = by["etcd", "stable", "e2e"]
    assert (etcd_e2e["status"], etcd_e2e["note"], etcd_e2e["stored_status"]) == ("n/a", "deploy failed", None)
    stale = by["nats", "stable", "build"]
    assert stale["status"] == "success" and stale["stale"] and "older than 48 h" in stale["note"]
    running = by["nats", "head", "build"]
    assert (running["status"], running["ref"], running["finished_at"]) == ("running", "v2.15.1", None)
    assert running["history"] == "/api/v1/history/nats/head/build?arch=amd64"
    follow = get(reader, running["history"], "/api/v1/history/{project}/{release}/build")
    assert follow["cell"] == running


def test_every_cell_carries_its_insight(reader: FlaskClient) -> None:
    cells = get(reader, "/api/v1/cells", "/api/v1/cells")["cells"]
    by = {(c["project"], c["release"], c["stage"]): c for c in cells}
    # prometheus stable deploy: F (run 90), then S (run 100)
    deploy = by["prometheus", "stable", "deploy"]["insight"]
    assert {k: deploy[k] for k in ("project", "stage", "cloud", "environment")} == {
        "project": "prometheus", "stage": "deploy", "cloud": "local", "environment": "host",
    }  # fmt: skip
    assert (deploy["latest_status"], deploy["consecutive_failures"], deploy["failing_since"]) == ("success", 0, None)
    assert deploy["last_success"]["url"] == "https://github.com/example/prometheus/actions/runs/100/job/1006"
    assert (deploy["flakiness"], deploy["window_runs"], deploy["trend"]) == (0.0, 2, None)
    assert deploy["failures_by_kind"] == {"infrastructure": 0, "project": 1, "unknown": 0}
    # etcd stable deploy failed at its first run: failing since then, never green, the project's fault
    etcd = by["etcd", "stable", "deploy"]["insight"]
    assert etcd["consecutive_failures"] == 1 and etcd["last_success"] is None
    assert etcd["failing_since"]["status"] == "failed" and etcd["failure_kind"] == "project"
    assert by["etcd", "stable", "e2e"]["insight"] is None  # no result at all
    running = by["nats", "head", "build"]["insight"]
    assert (running["latest_status"], running["window_runs"], running["flakiness"]) == ("running", 0, None)
    # the history of one cell carries the same
    history = get(
        reader, "/api/v1/history/prometheus/stable/local/deploy", "/api/v1/history/{project}/{release}/{cloud}/{stage}"
    )
    assert history["cell"]["insight"] == deploy


def test_the_insight_route_over_a_history_whose_answers_are_known(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    """prometheus stable e2e: S (run 90) S (run 100) from the seed, then F F F for lack of quota, one commit
    each; etcd's deploy failed once, the project's fault."""
    writer = writer_for(seeded_repo)
    for run, at in ((201, 0.8), (202, 0.6), (203, 0.4)):
        writer.write([result("prometheus", "stable", "e2e", "failed", at=at, run=run, reason="CPU quota exceeded")])
    refresh(app)
    path = "/api/v1/insight"
    body = get(client, path, path)
    assert (body["alert_after_failures"], body["flakiness_window"]) == (3, 30)
    assert len(body["cells"]) == SEEDED_ENTRIES - 4  # every current cell file
    e2e = get(client, f"{path}?project=prometheus&stage=e2e", path)["cells"]
    assert len(e2e) == 1
    found = e2e[0]
    assert found["consecutive_failures"] == 3 and found["alerting"] is True
    assert found["failing_since"]["url"].endswith("/runs/201/job/2013")  # the first F
    assert found["last_success"]["url"].endswith("/runs/100/job/1003")  # the second S: the rollback target
    assert found["last_success"]["ref"] == "v2.42.0" and found["failure_kind"] == "infrastructure"
    assert (found["flakiness"], found["window_runs"]) == (0.0, 5)  # a streak of three is broken, not flaky
    assert found["history"] == "/api/v1/history/prometheus/stable/local/e2e?arch=amd64"

    def keys(query: str) -> list[tuple[str, str, str]]:
        return [(c["project"], c["release"], c["stage"]) for c in get(client, f"{path}?{query}", path)["cells"]]

    assert keys("alerting=true") == [("prometheus", "stable", "e2e")]
    assert keys("kind=infrastructure") == [("prometheus", "stable", "e2e")]
    assert keys("kind=project") == [("etcd", "stable", "deploy")]
    assert keys("kind=project&alerting=true") == []
    assert ("prometheus", "stable", "e2e") not in keys("alerting=false") and len(keys("alerting=false")) == 11
    assert keys("release=head") == [("nats", "head", "build")]
    assert {c for _, _, c in keys("cloud=local&project=nats")} == {"provision", "deploy", "e2e"}
    assert keys("stage=provision&project=etcd") == [("etcd", "stable", "provision")]


def test_cells_filters(reader: FlaskClient) -> None:
    def keys(query: str) -> list[tuple[str, str, str, str | None]]:
        cells = get(reader, f"/api/v1/cells?{query}", "/api/v1/cells")["cells"]
        return [(c["project"], c["release"], c["stage"], c["cloud"]) for c in cells]

    assert keys("project=etcd&stage=deploy") == [("etcd", "stable", "deploy", "local")]
    assert keys("release=head") == [
        ("nats", "head", s, c) for s, c in [("build", None), ("deploy", "local"), ("e2e", "local")]
    ]
    assert all(cloud == "local" for *_, cloud in keys("cloud=local")) and len(keys("cloud=local")) == 8
    assert keys("cloud=kind") == []  # an inactive cloud has no column
    assert keys("stage=provision") == []  # the cloud columns of app projects are their deploys
    head = get(reader, "/api/v1/cells?kubernetes=head&project=prometheus", "/api/v1/cells")
    assert head["kubernetes"] == "head" and {c["environment"] for c in head["cells"]} == {None, "host"}
    arm = get(reader, "/api/v1/cells?arch=arm64&project=etcd", "/api/v1/cells")
    assert arm["arch"] == "arm64"
    assert {(c["arch"], c["status"], c["note"]) for c in arm["cells"]} == {("arm64", "n/a", "no result yet")}


# -- history ------------------------------------------------------------------------------------------
def test_history_is_newest_first_with_filters(reader: FlaskClient) -> None:
    everything = get(reader, "/api/v1/history", "/api/v1/history")
    assert len(everything["entries"]) == SEEDED_ENTRIES and everything["next"] is None
    first = everything["entries"][0]
    assert (first["project"], first["release"], first["stage"], first["status"]) == ("nats", "head", "build", "running")
    assert first["path"] == "results/nats/head/amd64/build.json"

    def count(query: str) -> int:
        return len(get(reader, f"/api/v1/history?{query}", "/api/v1/history")["entries"])

    assert count("project=prometheus") == 8
    assert count("project=prometheus&stage=deploy&cloud=local&environment=host&arch=amd64&release=stable") == 2
    failed = get(reader, "/api/v1/history?status=failed", "/api/v1/history")["entries"]
    assert [(e["project"], e["stage"]) for e in failed] == [("etcd", "deploy"), ("prometheus", "deploy")]
    assert failed[0]["reason"] == "deploy failed in the test"
    assert count("cloud=local") == SEEDED_ENTRIES - 5  # builds have no cloud
    assert count("environment=stable") == 0
    assert count("release=head&stage=build") == 1


def test_walking_every_page_gives_every_entry_once(reader: FlaskClient) -> None:
    everything = get(reader, "/api/v1/history?limit=1000", "/api/v1/history")["entries"]
    for limit in (1, 3, 16, 17):
        walked, pages = walk(reader, f"/api/v1/history?limit={limit}", "/api/v1/history")
        assert walked == everything
        assert pages == max(1, -(-SEEDED_ENTRIES // limit))
    walked, _ = walk(reader, "/api/v1/history?project=prometheus&limit=3", "/api/v1/history")
    assert walked == get(reader, "/api/v1/history?project=prometheus", "/api/v1/history")["entries"]


def test_a_next_link_keeps_the_query_and_survives_new_results(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    first = get(client, "/api/v1/history?project=prometheus&limit=5&stage=e2e", "/api/v1/history")
    assert first["next"] is None
    before = get(client, "/api/v1/history?project=prometheus", "/api/v1/history")["entries"]
    page_one = get(client, "/api/v1/history?project=prometheus&limit=4", "/api/v1/history")
    query = dict(parse_qsl(urlsplit(page_one["next"]).query))
    assert query.keys() == {"project", "limit", "cursor"} and query["project"] == "prometheus"
    writer_for(seeded_repo).write([result("prometheus", "stable", "build", "running", at=0.01, run=102)])
    refresh(app)
    page_two = get(client, page_one["next"], "/api/v1/history")
    assert page_one["entries"] + page_two["entries"] == before  # the new result is on page one, not here
    assert page_two["next"] is None
    assert len(get(client, "/api/v1/history?project=prometheus", "/api/v1/history")["entries"]) == len(before) + 1


def test_since_and_until_compare_the_start_time(reader: FlaskClient) -> None:
    ten_hours_ago = format_time(datetime.now(UTC) - timedelta(hours=10))
    recent = get(reader, f"/api/v1/history?since={ten_hours_ago}", "/api/v1/history")["entries"]
    older = get(reader, f"/api/v1/history?until={ten_hours_ago}", "/api/v1/history")["entries"]
    assert len(recent) == 4 + 3 + 1 and len(older) == 4 + 4
    assert {(e["project"], e["release"]) for e in older} == {("prometheus", "stable"), ("nats", "stable")}
    assert all(e["started_at"] >= ten_hours_ago for e in recent)
    offset = (
        (datetime.now(UTC) - timedelta(hours=10))
        .astimezone(timezone(timedelta(hours=-5)))
        .isoformat(timespec="seconds")
    )
    assert len(get(reader, f"/api/v1/history?since={offset.replace('+', '%2B')}", "/api/v1/history")["entries"]) == 8
    window = f"since={format_time(datetime.now(UTC) - timedelta(hours=40))}&until={ten_hours_ago}"
    assert len(get(reader, f"/api/v1/history?{window}", "/api/v1/history")["entries"]) == 4


def test_a_bounded_scan_still_pages_without_gaps(reader: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Time windows scan at most SCAN_ROWS index rows per page: pages may be short, never lossy."""
    since = format_time(datetime.now(UTC) - timedelta(hours=10))
    expected = get(reader, f"/api/v1/history?since={since}", "/api/v1/history")["entries"]
    monkeypatch.setattr(history, "SCAN_ROWS", 3)
    monkeypatch.setattr(history, "_SCAN_BATCH", 2)
    for limit in (1, 2, 5):
        walked, pages = walk(reader, f"/api/v1/history?since={since}&limit={limit}", "/api/v1/history")
        assert walked == expected
        assert pages >= SEEDED_ENTRIES // 3


def test_a_broken_file_is_an_entry_with_an_error_dated_by_its_commit(
    app: Flask, client: FlaskClient, seeded_repo: Path
) -> None:
    when = int(datetime(2027, 1, 15, tzinfo=UTC).timestamp())
    commit_file(seeded_repo, "results/etcd/stable/amd64/local/host/e2e.json", b"{not json", when)
    refresh(app)
    broken = get(client, "/api/v1/history?since=2027-01-01T00:00:00Z", "/api/v1/history")["entries"]
    assert len(broken) == 1
    assert broken[0]["status"] is None and "not JSON" in broken[0]["error"]
    assert broken[0]["committed_at"] == "2027-01-15T00:00:00Z" and broken[0]["started_at"] is None
    cell = get(client, "/api/v1/cells?project=etcd&stage=e2e", "/api/v1/cells")["cells"][0]
    # a broken file shows as an error even behind a failed deploy (it has no time to weigh: cell_rules.view)
    assert cell["status"] == "error" and "not JSON" in cell["note"]
    assert "not JSON" in cell["error"]
    # to the insight the broken version is no run: no failure, no success, nothing to measure
    found = cell["insight"]
    assert (found["latest_status"], found["consecutive_failures"], found["last_success"]) == (None, 0, None)
    assert (found["flakiness"], found["window_runs"]) == (None, 0)


def test_the_history_of_one_cell(reader: FlaskClient) -> None:
    path = "/api/v1/history/{project}/{release}/{cloud}/{stage}"
    body = get(reader, "/api/v1/history/prometheus/stable/local/deploy", path)
    assert (body["cell"]["status"], body["cell"]["environment"]) == ("success", "host")
    assert [e["status"] for e in body["entries"]] == ["success", "failed"]
    assert {e["path"] for e in body["entries"]} == {"results/prometheus/stable/amd64/local/host/deploy.json"}
    # the local cloud has no Kubernetes: both test environments are the host
    assert (
        get(reader, "/api/v1/history/prometheus/stable/local/deploy?kubernetes=head", path)["entries"]
        == body["entries"]
    )
    assert len(get(reader, "/api/v1/history/prometheus/stable/local/deploy?status=failed", path)["entries"]) == 1
    assert get(reader, "/api/v1/history/prometheus/stable/local/deploy?arch=arm64", path)["entries"] == []
    walked, pages = walk(reader, "/api/v1/history/prometheus/stable/local/e2e?limit=1", path)
    assert [e["status"] for e in walked] == ["success", "success"] and pages == 2
    build = get(reader, "/api/v1/history/etcd/stable/build", "/api/v1/history/{project}/{release}/build")
    assert [e["stage"] for e in build["entries"]] == ["build"] and build["cell"]["status"] == "success"


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/history/coredns/stable/local/deploy", "project"),
        ("/api/v1/history/etcd/nightly/local/deploy", "release"),
        ("/api/v1/history/etcd/stable/aws/deploy", "cloud"),
        ("/api/v1/history/etcd/stable/local/build", "stage"),
        ("/api/v1/history/etcd/stable/local/lint", "stage"),
        ("/api/v1/history/coredns/head/build", "project"),
    ],
)
def test_an_unknown_cell_is_404(reader: FlaskClient, url: str, parameter: str) -> None:
    path = "/api/v1/history/{project}/{release}/build" if url.endswith("/build") and url.count("/") == 6 else (
        "/api/v1/history/{project}/{release}/{cloud}/{stage}"
    )  # fmt: skip
    assert get(reader, url, path, 404)["error"]["parameter"] == parameter


# -- caching ------------------------------------------------------------------------------------------
ROUTES = [
    ("/api/v1/projects", "/api/v1/projects"),
    ("/api/v1/projects/etcd", "/api/v1/projects/{project}"),
    ("/api/v1/clouds", "/api/v1/clouds"),
    ("/api/v1/cells?project=etcd", "/api/v1/cells"),
    ("/api/v1/insight?project=etcd", "/api/v1/insight"),
    ("/api/v1/history?limit=2", "/api/v1/history"),
    ("/api/v1/history/etcd/stable/build", "/api/v1/history/{project}/{release}/build"),
    ("/api/v1/history/etcd/stable/local/deploy", "/api/v1/history/{project}/{release}/{cloud}/{stage}"),
    ("/api/v1/openapi.json", "/api/v1/openapi.json"),
]


def test_every_route_answers_if_none_match_with_304_until_a_new_commit(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    tags = {}
    for url, path in ROUTES:
        response = client.get(url)
        conforms(response, path)
        tag = response.headers["ETag"]
        assert tag.startswith('"') and not tag.startswith("W/"), tag  # strong
        again = client.get(url, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.get_data() == b""
        assert (again.headers["ETag"], again.headers["Cache-Control"]) == (tag, "no-cache")
        assert client.get(url, headers={"If-None-Match": '"other", ' + tag}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        tags[url] = tag
    assert len(set(tags.values())) == len(ROUTES)
    both = client.get("/api/v1/history?limit=2&project=etcd").headers["ETag"]
    assert client.get("/api/v1/history?project=etcd&limit=2").headers["ETag"] == both  # the order does not matter

    writer_for(seeded_repo).write([result("etcd", "stable", "e2e", "success", at=0.01, run=103)])
    refresh(app)
    for url, path in ROUTES:
        response = client.get(url, headers={"If-None-Match": tags[url]})
        if path.endswith("openapi.json"):
            assert response.status_code == 304  # the document does not depend on the status repository
        else:
            assert response.status_code == 200 and response.headers["ETag"] != tags[url], url
            conforms(response, path)


def test_a_cell_turning_stale_changes_the_etag(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staleness moves with the clock, not with commits: the cells' tag must follow what they show."""
    monkeypatch.setattr(state_module, "GRID_TTL", timedelta(0))  # no cached grid: see the clock move
    edge = datetime.now(UTC) - timedelta(hours=48)  # stale_after_hours: 48 in the default configuration
    started, finished = format_time(edge - timedelta(seconds=10)), format_time(edge + timedelta(seconds=3))
    writer_for(seeded_repo).write(
        [result("nats", "stable", "e2e", "success", started_at=started, finished_at=finished)]
    )
    refresh(app)
    url = "/api/v1/cells?project=nats&release=stable&stage=e2e"
    before = client.get(url)
    assert [c["stale"] for c in conforms(before, "/api/v1/cells")["cells"]] == [False]
    assert client.get(url, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    time.sleep(3.2)
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert [c["stale"] for c in conforms(after, "/api/v1/cells")["cells"]] == [True]


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "parameter", "words"),
    [
        ("/api/v1/history?status=green", "status", "bad status 'green'"),
        ("/api/v1/history?stage=lint", "stage", "bad stage"),
        ("/api/v1/history?environment=k8s-stable", "environment", "bad environment"),
        ("/api/v1/history?since=yesterday", "since", "RFC 3339"),
        ("/api/v1/history?until=2026-01-01T00:00:00", "until", "RFC 3339"),  # no time zone
        ("/api/v1/history?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since", "earlier than until"),
        ("/api/v1/history?cursor=abc", "cursor", "bad cursor"),
        (f"/api/v1/history?cursor={query.encode_cursor(5).replace('c2Vx', 'cm93')}", "cursor", "bad cursor"),
        ("/api/v1/history?cursor=c2VxOjA", "cursor", "bad cursor"),  # seq:0
        ("/api/v1/history?limit=0", "limit", "from 1 to 1000"),
        ("/api/v1/history?limit=1001", "limit", "from 1 to 1000"),
        ("/api/v1/history?limit=ten", "limit", "from 1 to 1000"),
        ("/api/v1/history?limit=%C2%B2", "limit", "from 1 to 1000"),  # a superscript two is a digit to Python
        ("/api/v1/history?project=coredns", "project", "unknown project 'coredns' in cross-cloud.yml"),
        ("/api/v1/history?cloud=aws", "cloud", "unknown cloud 'aws'"),
        ("/api/v1/history?kubernetes=head", "kubernetes", "unknown query parameter 'kubernetes'"),
        ("/api/v1/history?project=etcd&project=nats", "project", "more than once"),
        ("/api/v1/cells?status=failed", "status", "unknown query parameter"),
        ("/api/v1/cells?kubernetes=1.31", "kubernetes", "bad kubernetes"),
        ("/api/v1/cells?arch=x86_64", "arch", "bad arch"),
        ("/api/v1/cells?project=coredns", "project", "unknown project"),
        ("/api/v1/projects?page=2", "page", "this route takes: none"),
        ("/api/v1/insight?kind=cloud", "kind", "bad kind 'cloud'"),
        ("/api/v1/insight?alerting=yes", "alerting", "use one of true, false"),
        ("/api/v1/insight?project=coredns", "project", "unknown project"),
        ("/api/v1/insight?limit=3", "limit", "unknown query parameter"),
        ("/api/v1/history/etcd/stable/build?kubernetes=head", "kubernetes", "unknown query parameter"),
        ("/api/v1/openapi.json?format=yaml", "format", "unknown query parameter"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader: FlaskClient, url: str, parameter: str, words: str) -> None:
    path = next(p for u, p in ROUTES if urlsplit(u).path == urlsplit(url).path)
    error = get(reader, url, path, 400)["error"]
    assert error["parameter"] == parameter and words in error["message"], error


def test_unknown_routes_and_methods_answer_json(reader: FlaskClient) -> None:
    missing = reader.get("/api/v1/builds")
    assert missing.status_code == 404 and "not found" in missing.get_json()["error"]["message"].lower()
    assert missing.mimetype == "application/json" and missing.headers["Cache-Control"] == "no-cache"
    wrong = reader.post("/api/v1/projects")
    assert wrong.status_code == 405 and wrong.mimetype == "application/json"
    assert (wrong.headers["Allow"], wrong.headers["Cache-Control"]) == ("GET, HEAD, OPTIONS", "no-cache")
    assert reader.delete("/api/v1/history/etcd/stable/build").status_code == 405
    assert conforms(wrong, "/api/v1/projects")["error"]["message"]
    head = reader.head("/api/v1/projects")
    assert head.status_code == 200 and head.headers["ETag"] == reader.get("/api/v1/projects").headers["ETag"]


def test_an_app_that_has_not_read_its_repository_answers_503(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    empty = tmp_path / "empty.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(empty)], check=True)
    client = make_app(empty).test_client()
    for url, path in ROUTES[:-1]:
        response = client.get(url)
        assert response.status_code == 503
        conforms(response, path)
    assert client.get("/api/v1/openapi.json").status_code == 200


# -- the document -------------------------------------------------------------------------------------
def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    openapi_spec_validator.validate(DOCUMENT)


def test_the_document_describes_every_route_and_parameter(reader: FlaskClient) -> None:
    """Every JSON route the app serves (the machine API: under ``/api/`` or named ``*.json``) is in the
    document and every documented route is served, with its method and path parameters. Both come from one
    table (``openapi.OPERATIONS``); this is what keeps it the only way to add one. ``/healthz`` and
    ``/metrics`` (for load balancers and Prometheus), ``/webhooks/github`` (GitHub's contract) and the badges'
    endpoint JSON (shields' format, under ``/badge/<name>``) are described elsewhere; ``/api/v1/`` is the
    document itself as a page for people."""
    served = get(reader, "/api/v1/openapi.json", "/api/v1/openapi.json")
    assert served == DOCUMENT
    # a read without path parameters is also answered at <path>.json, the published site's file name
    for path in ("/api/v1/projects", "/api/v1/clouds", "/api/v1/cells", "/api/v1/insight", "/api/v1/history"):
        plain, aliased = reader.get(path), reader.get(f"{path}.json")
        assert aliased.status_code == 200 and aliased.get_json() == plain.get_json(), path
    assert reader.get("/api/v1/projects/etcd.json").status_code == 404
    every = {rule.rule for rule in reader.application.url_map.iter_rules()}
    aliases = {f"{rule}.json" for rule in every if json_alias("get", rule) and f"{rule}.json" in every}
    rules = {
        rule.rule.replace("<", "{").replace(">", "}"): rule.methods
        for rule in reader.application.url_map.iter_rules()
        if (rule.rule.startswith("/api/") or rule.rule.endswith(".json"))
        and rule.endpoint != "api.index_page"
        and rule.rule not in aliases
    }
    assert len(aliases) == 5, aliases
    assert set(rules) == set(DOCUMENT["paths"])
    assert {"/api/v1/refresh", "/alerts.json"} <= set(rules)
    for path, methods in rules.items():
        ((method, operation),) = DOCUMENT["paths"][path].items()  # one operation per path
        assert methods is not None and methods - {"HEAD", "OPTIONS"} == {method.upper()}, path
        declared = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert {name for kind, name in declared if kind == "path"} == {
            part[1:-1] for part in path.split("/") if part.startswith("{")
        }
        responses = set(operation["responses"])
        assert "405" in responses and any(code.startswith("2") for code in responses), path
        assert ("503" in responses) == path.startswith("/api/"), path  # /alerts.json needs no status repository
        # only reads of the status repository are revalidated (the alerts are read from their own store)
        assert ("304" in responses) == (method == "get" and path.startswith("/api/")), path
    assert sorted(p for p, item in DOCUMENT["paths"].items() if "get" not in item) == [
        "/api/v1/refresh",
        "/api/v1/results",
        "/api/v1/results/junit",
    ]


def test_the_record_schema_is_the_repositorys_own(reader: FlaskClient) -> None:
    """A stored record validates against the document's Record component: the two cannot drift apart."""
    text = Git(Path(reader.application.config["STATUS_REPO"])).text(
        "show", "main:results/etcd/stable/amd64/local/host/deploy.json"
    )
    schema = {"$ref": "urn:api#/components/schemas/Record"}
    validator = Draft202012Validator(schema, registry=REGISTRY)
    validator.validate(json.loads(text))
    assert not validator.is_valid({**json.loads(text), "status": "green"})
