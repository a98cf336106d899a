"""The one HTTP error path (``crosscloud_app.web.http_errors``): whoever raises, the answer takes the face of
its route (JSON for machine routes, the badge under ``/badge/``, a page elsewhere), carries the headers the
error asks for, and a 405 says which methods are allowed; over a real seeded status repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud_app.badges.shields import render_svg
from tests.helpers.status_repos import git


@pytest.mark.parametrize(
    ("method", "path", "mimetype"),
    [
        ("DELETE", "/api/v1/projects", "application/json"),
        ("GET", "/webhooks/github", "application/json"),
        ("POST", "/alerts.json", "application/json"),
        ("POST", "/", "text/html"),
        ("PUT", "/feed.xml", "text/html"),
        ("POST", "/badge/etcd.svg", "image/svg+xml"),
        ("POST", "/badge/etcd/stable.json", "application/json"),
    ],
)
def test_a_method_the_route_does_not_allow_is_a_405_in_the_routes_face(
    client: FlaskClient, method: str, path: str, mimetype: str
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405 and response.mimetype == mimetype, response.data[:200]
    assert set(response.headers["Allow"].split(", ")) >= {"OPTIONS"}
    assert method not in response.headers["Allow"]


def test_machine_errors_are_json_with_what_is_at_fault_and_never_cached(client: FlaskClient) -> None:
    missing = client.get("/api/v1/no/such/route")
    assert missing.status_code == 404 and set(missing.get_json()) == {"error"}
    assert missing.headers["Cache-Control"] == "no-cache"
    bad = client.get("/api/v1/history?limit=0")
    assert bad.get_json() == {
        "error": {"message": "bad limit '0': use a whole number from 1 to 1000", "parameter": "limit"}
    }
    assert bad.headers["Cache-Control"] == "no-cache"


def test_a_badge_error_stays_a_badge(client: FlaskClient) -> None:
    bad = client.get("/badge/etcd.svg?kubernetes=nightly")
    assert bad.status_code == 400 and bad.get_data(as_text=True) == render_svg("cross-cloud", "bad kubernetes", "red")
    unknown = client.get("/badge/nope/stable.json")
    assert unknown.status_code == 404
    assert unknown.get_json() == {
        "schemaVersion": 1, "label": "cross-cloud", "message": "unknown", "color": "lightgrey", "isError": True,
        "cacheSeconds": 300,
    }  # fmt: skip


def test_no_state_yet_is_503_with_retry_after_in_every_face(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    empty = tmp_path / "empty.git"
    git(empty.parent, "init", "--quiet", "--bare", str(empty))  # no branch main: the first refresh fails
    client = make_app(empty).test_client()
    for path, mimetype in (
        ("/", "text/html"),
        ("/api/v1/projects", "application/json"),
        ("/badge/etcd.svg", "image/svg+xml"),
    ):
        response = client.get(path)
        assert (response.status_code, response.mimetype) == (503, mimetype), path
        assert response.headers["Retry-After"] == "30", path
    assert render_svg("cross-cloud", "unavailable", "lightgrey") == client.get("/badge/etcd.svg").get_data(as_text=True)
