"""Starting the nightly matrix with ``POST /api/v1/refresh`` (as the GitHub App). GitHub's answers come from
betamax cassettes standing in for github.com, in process (``crosscloud trigger``, the same dispatch with a
token, is tested in ``tests/app/github_app/test_trigger_command.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers.github_keys import make_key
from tests.helpers.github_replay import replaying

REFRESH_TOKEN = "refresh token for the tests"
NIGHTLY = "octo-org/nightly"


@pytest.fixture
def refresher(make_app: Callable[..., Flask], status_repo: Path) -> FlaskClient:
    app = make_app(
        status_repo,
        REFRESH_SECONDS=0,
        REFRESH_TOKEN=REFRESH_TOKEN,
        NIGHTLY_REPOSITORY=NIGHTLY,
        APP_ID=4242,
        PRIVATE_KEY=make_key()[0],
        GITHUB_CLIENT_OPTIONS={"seconds_between_requests": None, "seconds_between_writes": None},
    )
    return app.test_client()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {REFRESH_TOKEN}", f"Bearer {REFRESH_TOKEN}x"])
def test_refresh_needs_the_bearer_token(refresher: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with replaying("empty"):  # no GitHub call
        response = refresher.post("/api/v1/refresh", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization" in response.json["error"]["message"]


def test_refresh_dispatches_the_nightly_workflow(refresher: FlaskClient) -> None:
    with replaying("refresh_dispatch") as github:
        response = refresher.post(
            "/api/v1/refresh",
            headers={"Authorization": f"Bearer {REFRESH_TOKEN}"},
            json={"inputs": {"reason": "release v3.4.24"}},
        )
    assert response.status_code == 202, response.json
    assert response.json == {
        "dispatched": {
            "repository": NIGHTLY,
            "workflow": "nightly.yml",
            "ref": "main",
            "inputs": {"reason": "release v3.4.24"},
        }
    }
    assert github.paths()[-1] == f"POST /repos/{NIGHTLY}/actions/workflows/161335/dispatches"


def test_refresh_rejects_bad_inputs(refresher: FlaskClient) -> None:
    with replaying("empty"):
        response = refresher.post(
            "/api/v1/refresh", headers={"Authorization": f"Bearer {REFRESH_TOKEN}"}, json={"inputs": ["x"]}
        )
    assert response.status_code == 400
    assert "inputs" in response.json["error"]["message"]
