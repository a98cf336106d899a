"""The badge routes against a real status repository (``seeded_repo``: prometheus green, etcd's deploy
failed, nats stable green but 72 h old, nats head building)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crosscloud.layout import cell_path
from crosscloud.records import CellKey
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import default_config_text, init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.badges import routes as badges
from crosscloud_app.badges.shields import render_svg
from crosscloud_app.web.status_state import EXTENSION
from tests.helpers import dashboard_scenario
from tests.helpers.app_results import ALL_GREEN, Writer, pipeline, result
from tests.helpers.status_repos import git


def seed(writer: StatusRepoWriter) -> None:
    """The night of conftest's ``seeded_repo``, for a module-scoped repository."""
    writer.write(pipeline("prometheus", "stable", {**ALL_GREEN, "deploy": "failed"}, at=30.0, run=90))
    writer.write(pipeline("prometheus", "stable", ALL_GREEN, run=100))
    writer.write(pipeline("etcd", "stable", {"build": "success", "provision": "success", "deploy": "failed"}))
    writer.write(pipeline("nats", "stable", ALL_GREEN, at=72.0, run=50))
    writer.write([result("nats", "head", "build", "running", at=0.1, ref="v2.15.1", run=101)])


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """A client over the same repository as ``seeded_repo``, made once for the tests that only read it
    (an app over a fresh repository takes seconds)."""
    root = tmp_path_factory.mktemp("badges")
    repo = root / "status.git"
    init_status_repo(repo)
    seed(StatusRepoWriter(Remote.parse(str(repo)), backoff=Backoff(attempts=30, base=0.01, cap=0.5)))
    app = create_app({"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(root / "mirror")})
    yield app.test_client()
    app.extensions[EXTENSION].close()


def said(response: TestResponse) -> str:
    """The badge's accessible text, ``label: message``."""
    root = ET.fromstring(response.get_data(as_text=True))  # noqa: S314 - our own output
    return root.get("aria-label", "")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/badge/prometheus.svg", "cross-cloud: success"),
        ("/badge/etcd.svg", "cross-cloud: failed"),
        ("/badge/etcd/stable.svg", "cross-cloud stable: failed"),
        ("/badge/etcd/stable/local.svg", "local stable: failed"),
        ("/badge/etcd/stable/local.svg?stage=build", "local stable build: success"),
        ("/badge/etcd/stable/local.svg?stage=provision", "local stable provision: success"),
        ("/badge/etcd/stable/local.svg?stage=deploy", "local stable deploy: failed"),
        (
            "/badge/etcd/stable/local.svg?stage=e2e",
            "local stable e2e: N/A",
        ),  # the cascade: deploy failed, e2e never ran
        ("/badge/nats/stable.svg", "cross-cloud stable: success (stale)"),
        ("/badge/nats/head.svg", "cross-cloud head: running"),
        ("/badge/nats.svg", "cross-cloud: running"),  # running beats success; the running build is fresh
        ("/badge/nats/head/local.svg?stage=e2e", "local head e2e: N/A"),
        (
            "/badge/nats/stable/kind.svg",
            "kind stable: N/A",
        ),  # an inactive cloud with no results: not the build's success
        ("/badge/prometheus.svg?label=metrics", "metrics: success"),
        ("/badge/prometheus.svg?label=", "success"),
        ("/badge/prometheus.svg?kubernetes=head", "cross-cloud: success"),  # the local cloud has no Kubernetes
    ],
)
def test_badge_says(shared: FlaskClient, path: str, text: str) -> None:
    response = shared.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert said(response) == text


def test_svg_is_the_shields_badge_with_headers(shared: FlaskClient) -> None:
    response = shared.get("/badge/etcd.svg")
    assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_data(as_text=True) == render_svg("cross-cloud", "failed", "red")
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/"')


def test_stale_badge_is_grey(shared: FlaskClient) -> None:
    body = shared.get("/badge/nats/stable.svg").get_data(as_text=True)
    assert body == render_svg("cross-cloud stable", "success (stale)", "lightgrey")


def test_endpoint_json(shared: FlaskClient) -> None:
    response = shared.get("/badge/etcd/stable.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-cache"
    assert json.loads(response.data) == {
        "schemaVersion": 1,
        "label": "cross-cloud stable",
        "message": "failed",
        "color": "red",
        "cacheSeconds": badges.ENDPOINT_CACHE_SECONDS,
    }
    unknown = shared.get("/badge/etcd/head.json")
    assert unknown.status_code == 404
    assert json.loads(unknown.data)["isError"] is True


def test_304_when_nothing_changed(shared: FlaskClient) -> None:
    first = shared.get("/badge/prometheus.svg")
    etag = first.headers["ETag"]
    again = shared.get("/badge/prometheus.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "no-cache"
    other = shared.get("/badge/prometheus.svg?stage=e2e", headers={"If-None-Match": etag})
    assert other.status_code == 200, "the query is part of the ETag"
    assert shared.get("/badge/prometheus.svg", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_new_commit_changes_the_etag_and_the_badge(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Callable[..., object]
) -> None:
    first = client.get("/badge/etcd.svg")
    writer = writer_for(seeded_repo)
    writer.write(pipeline("etcd", "stable", ALL_GREEN, at=0.5, run=200))  # type: ignore[attr-defined]
    app.extensions[EXTENSION].refresh_now("test")
    second = client.get("/badge/etcd.svg", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert said(second) == "cross-cloud: success"
    assert second.headers["ETag"] != first.headers["ETag"]


def test_the_etag_moves_with_the_clock(shared: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staleness depends on the time, so the ETag must not outlive its window even without a commit."""
    first = shared.get("/badge/nats/stable.svg").headers["ETag"]
    real = badges.time.time
    monkeypatch.setattr(badges.time, "time", lambda: real() + badges.ETAG_WINDOW_SECONDS)
    later = shared.get("/badge/nats/stable.svg", headers={"If-None-Match": first})
    assert later.status_code == 200 and later.headers["ETag"] != first


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/badge/nope.svg", "cross-cloud"),
        ("/badge/nope/stable.svg", "cross-cloud"),
        ("/badge/prometheus/head.svg", "cross-cloud head"),  # prometheus tests its stable release only
        ("/badge/etcd/stable/aws.svg", "aws stable"),
        ("/badge/etcd/nightly/local.svg", "local nightly"),
        ("/badge/etcd.png", "cross-cloud"),
        ("/badge/.svg", "cross-cloud"),
    ],
)
def test_unknown_is_a_grey_404_badge(shared: FlaskClient, path: str, label: str) -> None:
    response = shared.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    # light grey, as crosscloud.presentation says: legible, unlike grey (#555) on the grey label
    assert response.get_data(as_text=True) == render_svg(label, "unknown", "lightgrey")
    assert "ETag" not in response.headers


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("stage=lint", "bad stage"),
        ("stage=", "bad stage"),
        ("kubernetes=1.30", "bad kubernetes"),
        ("arch=riscv", "bad arch"),
    ],
)
def test_bad_parameter_is_a_red_400_badge(shared: FlaskClient, query: str, message: str) -> None:
    response = shared.get(f"/badge/etcd/stable/local.svg?{query}")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == render_svg("local stable", message, "red")


def test_label_override_is_escaped_cleaned_and_limited(shared: FlaskClient) -> None:
    response = shared.get("/badge/prometheus.svg", query_string={"label": "<b>&\"'\x07" + "x" * 100})
    body = response.get_data(as_text=True)
    assert "<b>" not in body and "\x07" not in body
    assert said(response) == "<b>&\"'" + "x" * (badges.MAX_LABEL - 6) + ": success"


def test_kubernetes_has_no_deploy_stage(make_app: Callable[..., Flask], cncf_repo: Path) -> None:
    client = make_app(cncf_repo).test_client()
    response = client.get("/badge/kubernetes/stable/aws.svg?stage=deploy")
    assert response.status_code == 400
    assert said(response) == "aws stable deploy: bad stage"
    ok = client.get("/badge/kubernetes/stable/aws.svg?stage=provision")
    assert ok.status_code == 200 and said(ok) == "aws stable provision: N/A"


def test_a_broken_cell_file_makes_an_error_badge(
    make_app: Callable[..., Flask], seeded_repo: Path, tmp_path: Path
) -> None:
    """A result file that is not a record (pushed by hand, bypassing the writer) breaks its badge only."""
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(seeded_repo), str(work)], check=True)
    path = work / cell_path(CellKey("prometheus", "stable", "amd64", "build"))
    path.write_text('{"status": "success"')
    for args in (
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "break it"],
        ["push", "-q", "origin", "HEAD:main"],
    ):
        subprocess.run(["git", "-C", str(work), *args], check=True)
    assert git(seeded_repo, "log", "-1", "--format=%s") == "break it"
    client = make_app(seeded_repo).test_client()
    broken = client.get("/badge/prometheus.svg")
    assert broken.status_code == 200
    assert said(broken) == "cross-cloud: error"
    assert broken.get_data(as_text=True) == render_svg("cross-cloud", "error", "red")
    assert json.loads(client.get("/badge/prometheus.json").data)["isError"] is True
    assert said(client.get("/badge/prometheus.svg?stage=e2e")) == "cross-cloud e2e: success"
    assert said(client.get("/badge/etcd.svg")) == "cross-cloud: failed"


@pytest.mark.parametrize(
    "path", ["/badge/etcd.svg", "/badge/etcd/stable.json", "/badge/nats/stable/local.svg?stage=e2e"]
)
def test_an_answer_already_rendered_is_served_in_front_of_flask_exactly_as_flask_serves_it(
    shared: FlaskClient, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    badges._answers.clear()
    rendered = shared.get(path)  # rendered by the blueprint
    assert rendered.status_code == 200
    # From here on Flask's view must not run: the WSGI layer in front answers from what was rendered.
    monkeypatch.setattr(badges, "_serve", lambda segments: pytest.fail(f"the blueprint rendered {segments}"))
    again = shared.get(path)
    assert (again.status_code, again.data) == (rendered.status_code, rendered.data)
    assert sorted(again.headers.items()) == sorted(rendered.headers.items())
    head = shared.head(path)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == rendered.headers["ETag"]
    revalidated = shared.get(path, headers={"If-None-Match": rendered.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.data == b""
    assert revalidated.headers["ETag"] == rendered.headers["ETag"]
    assert revalidated.headers["Cache-Control"] == "no-cache"


def test_answers_that_are_not_200_are_never_served_in_front(shared: FlaskClient) -> None:
    assert shared.get("/badge/nosuch.svg").status_code == 404
    assert shared.get("/badge/nosuch.svg").status_code == 404  # the blueprint answers again, never a stale 200
    assert shared.post("/badge/etcd.svg").status_code == 405


@pytest.mark.parametrize("ignore", [False, True])
def test_overall_badges_can_leave_out_infrastructure_failures(
    make_app: Callable[..., Flask], seeded_repo: Path, writer_for: Writer, ignore: bool
) -> None:
    """prometheus's deploy fails for lack of quota (the cloud's fault); etcd's deploy failed on its own.
    ``settings.ignore_infra_failures`` decides whether the overall badges show the first."""
    writer = writer_for(seeded_repo)
    writer.write([result("prometheus", "stable", "deploy", "failed", at=0.5, run=201, reason="CPU quota exceeded")])
    if ignore:
        text = default_config_text().decode().replace("settings:\n", "settings:\n  ignore_infra_failures: true\n", 1)
        writer.update_config(text.encode(), "cross-cloud.yml")
    client = make_app(seeded_repo).test_client()
    expected = {
        "/badge/prometheus.svg": "cross-cloud: success" if ignore else "cross-cloud: failed",
        "/badge/prometheus/stable.svg": "cross-cloud stable: success" if ignore else "cross-cloud stable: failed",
        "/badge/prometheus/stable.svg?stage=deploy": f"cross-cloud stable deploy: {'N/A' if ignore else 'failed'}",
        "/badge/prometheus/stable/local.svg": "local stable: failed",  # the cloud's own badge names the cloud
        "/badge/etcd.svg": "cross-cloud: failed",  # the project's own failure counts either way
    }
    for path, text in expected.items():
        response = client.get(path)
        assert response.status_code == 200 and (path, said(response)) == (path, text)


@pytest.mark.parametrize("path", ["/badge/a/b/c/d.svg", "/badge/..%2f..%2fx.svg", "/badge/etcd/stable/local/x.json"])
def test_anything_else_under_badge_is_still_a_badge(shared: FlaskClient, path: str) -> None:
    """A README never shows a broken image: paths no badge route matches answer the grey "unknown" badge."""
    response = shared.get(path)
    assert response.status_code == 404 and response.headers["Cache-Control"] == "no-cache"
    if path.endswith(".json"):
        assert response.get_json()["message"] == "unknown"
    else:
        assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        assert 'aria-label="cross-cloud: unknown"' in response.get_data(as_text=True)


def test_badges_people_paste_over_the_december_2018_grid(
    make_app: Callable[..., Flask], cncf_repo: Path, writer_for: Writer
) -> None:
    """The 8 clouds of December 2018 with the scenario of ``tests/helpers/dashboard_scenario.py``: labels say
    what a badge measures, a partial result says how many clouds pass, a run in progress does not hide the last
    finished result."""
    writer = writer_for(cncf_repo)
    dashboard_scenario.seed(writer)
    again = dashboard_scenario.Night(datetime.now(UTC))
    again.add("prometheus", "stable", "deploy", "running", cloud="aws", hours=0.1)  # running again after a success
    again.write(writer)
    client = make_app(cncf_repo).test_client()
    expected = {
        "/badge/fluentd/stable.svg": ("cross-cloud stable: 7/8 clouds", "yellow"),  # Azure's deploy failed
        "/badge/coredns/stable.svg": ("cross-cloud stable: 6/8 clouds", "yellow"),  # infra failed, timed out
        "/badge/kubernetes/stable.svg": ("cross-cloud stable: 7/8 clouds", "yellow"),  # kubeadm on Packet
        "/badge/prometheus/head.svg": ("cross-cloud head: failed", "red"),  # the build failed: no cloud counts
        "/badge/prometheus/stable/aws.svg": ("aws stable: success", "brightgreen"),  # not "running"
        "/badge/prometheus/stable.svg": ("cross-cloud stable: success", "brightgreen"),
        "/badge/fluentd/stable/azure.svg": ("azure stable: failed", "red"),
        "/badge/fluentd/stable/azure.svg?label=Fluentd%20on%20Azure": ("Fluentd on Azure: failed", "red"),
        "/badge/envoy.svg": ("cross-cloud: success", "brightgreen"),
    }
    for path, (text, colour) in expected.items():
        response = client.get(path)
        label, message = text.split(": ")
        assert (path, said(response)) == (path, text)
        assert response.get_data(as_text=True) == render_svg(label, message, colour), path
    assert said(client.get("/badge/prometheus/stable/aws.svg?stage=deploy")) == "aws stable deploy: success"
