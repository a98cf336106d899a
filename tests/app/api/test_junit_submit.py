"""``POST /api/v1/results/junit``: JUnit XML from other CI systems recorded in a real status repository, the
same record ``crosscloud import junit`` makes; its token, its limits and its errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from crosscloud.cli import main
from crosscloud.status_repo.seed import init_status_repo
from crosscloud_app.api import junit_submit, openapi
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.paths import ROOT
from tests.helpers.status_repos import git, snapshot

DATA = ROOT / "tests" / "data" / "junit"
TOKEN = "s3cret-submit-token"
ROUTE = "/api/v1/results/junit"
CELL = "?project=etcd&release=stable&cloud=local"
"""A cell without any result in ``seeded_repo``."""
JOB = "https://ci.example.org/job/e2e/41/"
DOCUMENT = openapi.document()
REGISTRY = Registry().with_resource("urn:api", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))


@pytest.fixture
def submitting(make_app: Callable[..., Flask], seeded_repo: Path) -> Flask:
    return make_app(seeded_repo, SUBMIT_TOKEN=TOKEN)


def post(client: FlaskClient, query: str, body: bytes, token: str | None = TOKEN, **headers: str) -> TestResponse:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(ROUTE + query, data=body, headers={"Content-Type": "application/xml", **headers})


def conforms(response: TestResponse) -> Any:
    """The JSON body, checked against what the document says the route answers with this status."""
    assert response.mimetype == "application/json", response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-cache"
    pointer = (
        f"/paths/{ROUTE.replace('/', '~1')}/post/responses/{response.status_code}/content/application~1json/schema"
    )
    schema = {"$ref": f"urn:api#{pointer}"}
    body = response.get_json()
    Draft202012Validator(schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    return body


def error_of(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error: dict[str, Any] = conforms(response)["error"]
    return error


def test_a_junit_body_becomes_the_record_crosscloud_import_junit_makes(
    submitting: Flask, seeded_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = submitting.test_client()
    xml = (DATA / "pytest.xml").read_bytes()
    response = post(client, f"{CELL}&url={JOB}", xml)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = conforms(response)
    assert body["outcome"] == "written" and body["path"] == "results/etcd/stable/amd64/local/host/e2e.json"
    assert body["commit"] == git(seeded_repo, "rev-parse", "main")
    assert response.headers["Location"] == "/api/v1/history/etcd/stable/local/e2e?arch=amd64"
    stored = json.loads(git(seeded_repo, "show", f"main:{body['path']}"))
    assert stored == body["record"]
    assert stored["status"] == "failed" and stored["url"] == JOB and stored["ref"] == "v3.4.23"
    assert stored["reason"].startswith("2 of 5 tests failed (1 error; 1 skipped)")

    # the command line, on another repository with the same configuration, writes the very same record
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    other = tmp_path / "other.git"
    init_status_repo(other)
    code = main(["import", "junit", str(DATA / "pytest.xml"), "--repo", str(other), "--project", "etcd",
                 "--release", "stable", "--cloud", "local", "--url", JOB])  # fmt: skip
    assert code == 0
    assert json.loads(git(other, "show", f"main:{body['path']}")) == stored

    # a refresh was asked for: the new result shows, with its insight
    state: StatusState = submitting.extensions[EXTENSION]
    deadline = time.monotonic() + 30
    while state.snapshot().commit != body["commit"] and time.monotonic() < deadline:
        time.sleep(0.05)
    cell = client.get("/api/v1/cells?project=etcd&stage=e2e").get_json()["cells"][0]
    assert (cell["stored_status"], cell["insight"]["latest_status"]) == ("failed", "failed")
    assert cell["insight"]["consecutive_failures"] == 1 and cell["insight"]["failure_kind"] == "project"

    again = post(client, f"{CELL}&url={JOB}", xml)  # the same run once more: nothing new
    assert again.status_code == 200 and conforms(again)["outcome"] == "unchanged"
    assert conforms(again)["commit"] is None
    assert git(seeded_repo, "rev-parse", "main") == body["commit"]

    # prometheus has a newer e2e result (an hour old) than this 2024 run: it stays
    late = post(client, "?project=prometheus&release=stable&cloud=local", xml)
    assert late.status_code == 200 and conforms(late)["outcome"] == "superseded"
    assert git(seeded_repo, "rev-parse", "main") == body["commit"]


def test_the_test_environment_and_the_release_come_from_the_query(submitting: Flask, seeded_repo: Path) -> None:
    client = submitting.test_client()
    response = post(client, "?project=nats&release=head&cloud=local&arch=amd64&ref=v2.15.1&sha=" + "c" * 40,
                    (DATA / "all-passed.xml").read_bytes())  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    record = conforms(response)["record"]
    assert (record["project"], record["release"], record["arch"], record["kubernetes"]) == (
        "nats",
        "head",
        "amd64",
        None,
    )
    assert (record["status"], record["ref"], record["sha"], record["url"]) == ("success", "v2.15.1", "c" * 40, None)


@pytest.mark.parametrize(
    ("headers", "token"),
    [({}, None), ({}, "wrong-token"), ({"Authorization": f"Basic {TOKEN}"}, None), ({}, TOKEN[:-1])],
)
def test_only_the_submit_token_may_write(
    submitting: Flask, seeded_repo: Path, headers: dict[str, str], token: str | None
) -> None:
    before = snapshot(seeded_repo)
    response = post(submitting.test_client(), CELL, (DATA / "all-passed.xml").read_bytes(), token, **headers)
    assert "Bearer" in error_of(response, 401)["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(seeded_repo) == before


def test_without_a_submit_token_the_route_is_off(make_app: Callable[..., Flask], seeded_repo: Path) -> None:
    before = snapshot(seeded_repo)
    client = make_app(seeded_repo).test_client()
    response = post(client, CELL, (DATA / "all-passed.xml").read_bytes(), token="")
    assert "CROSSCLOUD_SUBMIT_TOKEN" in error_of(response, 503)["message"]
    assert snapshot(seeded_repo) == before


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("truncated.xml", "the request body:7: not well-formed XML"),
        ("doctype-bomb.xml", "the request body:2: a DOCTYPE is not allowed"),
        ("external-entity.xml", "a DOCTYPE is not allowed"),
        ("wrong-root.xml", "the root element is <html>"),
    ],
)
def test_xml_that_is_not_junit_is_400_naming_the_line(
    submitting: Flask, seeded_repo: Path, name: str, words: str
) -> None:
    before = snapshot(seeded_repo)
    error = error_of(post(submitting.test_client(), CELL, (DATA / name).read_bytes()), 400)
    assert error["parameter"] == "body" and words in error["message"], error
    assert snapshot(seeded_repo) == before


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("?release=stable&cloud=local", "project", "'project' is required"),
        ("?project=prometheus&cloud=local", "release", "'release' is required"),
        ("?project=coredns&release=stable&cloud=local", "project", "unknown project 'coredns'"),
        ("?project=etcd&release=stable&cloud=mars", "cloud", "unknown cloud 'mars'"),
        ("?project=etcd&release=nightly&cloud=local", "release", "bad release"),
        ("?project=etcd&release=stable&cloud=local&kubernetes=head", "kubernetes", "runs projects on the host"),
        ("?project=etcd&release=stable&cloud=local&arch=s390x", "arch", "does not run on s390x"),
        ("?project=etcd&release=stable&cloud=local&stage=deploy", "stage", "unknown query parameter"),
        (f"{CELL}&url=not%20a%20url", None, "url"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    submitting: Flask, seeded_repo: Path, query: str, parameter: str | None, words: str
) -> None:
    before = snapshot(seeded_repo)
    error = error_of(post(submitting.test_client(), query, (DATA / "all-passed.xml").read_bytes()), 400)
    assert error["parameter"] == parameter and words in error["message"], error
    assert snapshot(seeded_repo) == before


def test_the_body_is_size_limited_and_must_not_be_empty(
    submitting: Flask, seeded_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(seeded_repo)
    client = submitting.test_client()
    xml = (DATA / "all-passed.xml").read_bytes()
    monkeypatch.setattr(junit_submit, "SUBMIT_MAX_BYTES", len(xml) - 1)
    assert "larger than" in error_of(post(client, CELL, xml), 413)["message"]
    monkeypatch.setattr(junit_submit, "SUBMIT_MAX_BYTES", len(xml))
    assert error_of(post(client, CELL, b"  \n"), 400)["parameter"] == "body"
    assert snapshot(seeded_repo) == before
    assert post(client, CELL, xml).status_code == 201  # exactly the limit is fine


def test_only_post_is_allowed(submitting: Flask) -> None:
    response = submitting.test_client().get(ROUTE + CELL)
    assert response.status_code == 405 and response.headers["Allow"] == "OPTIONS, POST"
    assert response.get_json()["error"]["message"]
