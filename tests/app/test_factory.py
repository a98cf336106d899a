"""The app factory: settings from the environment and test_config, the state, the surfaces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud.errors import BadInputError
from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION, NotReadyError, StatusState
from tests.helpers.status_repos import git


def test_test_config_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask], seeded_repo: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("CROSSCLOUD_REFRESH_SECONDS", "60")
    monkeypatch.setenv("CROSSCLOUD_NIGHTLY_WORKFLOW", "cron.yml")
    app = make_app(seeded_repo, NIGHTLY_WORKFLOW="night.yml")
    assert app.config["REFRESH_SECONDS"] == 60  # parsed as JSON by from_prefixed_env
    assert app.config["NIGHTLY_WORKFLOW"] == "night.yml"
    assert app.config["WEBHOOK_SECRET"] is None  # every documented setting has a default
    state = app.extensions[EXTENSION]
    assert isinstance(state, StatusState)
    assert state.refresh_seconds == 60


def test_the_first_refresh_happens_in_the_factory(app: Flask, seeded_repo: Path) -> None:
    snapshot = app.extensions[EXTENSION].snapshot()
    assert snapshot.commit == git(seeded_repo, "rev-parse", "main")
    assert snapshot.error is None
    assert set(snapshot.config.projects) == {"prometheus", "etcd", "nats"}
    assert len(snapshot.current) == 4 + 3 + 4 + 1


def test_every_surface_registers_its_blueprint(app: Flask) -> None:
    assert set(app.blueprints) == {"dashboard", "projects", "feed", "badges", "api", "ops", "webhooks"}


def test_a_status_repository_is_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CROSSCLOUD_STATUS_REPO", raising=False)
    with pytest.raises(BadInputError, match="CROSSCLOUD_STATUS_REPO"):
        create_app({"MIRROR_DIR": str(tmp_path)})


def test_production_needs_a_public_url_or_allowed_hosts(tmp_path: Path, status_repo: Path) -> None:
    """Production (neither TESTING nor ``crosscloud serve`` on loopback) must not take links from Host."""
    base = {"STATUS_REPO": str(status_repo), "MIRROR_DIR": str(tmp_path / "m"), "REFRESH_SECONDS": 0}
    with pytest.raises(BadInputError, match="CROSSCLOUD_PUBLIC_URL"):
        create_app(base)
    with pytest.raises(BadInputError, match="CROSSCLOUD_PUBLIC_URL must be the dashboard's http"):
        create_app({**base, "PUBLIC_URL": "javascript:alert(1)"})
    with pytest.raises(BadInputError, match="CROSSCLOUD_ALLOWED_HOSTS must be a list"):
        create_app({**base, "ALLOWED_HOSTS": 5})
    for good in ({"PUBLIC_URL": "https://ci.example.org"}, {"ALLOWED_HOSTS": "ci.example.org"}, {"LOCAL": True}):
        app = create_app({**base, **good})
        app.extensions[EXTENSION].close()


def test_an_app_without_a_good_state_answers_503_until_a_refresh_succeeds(
    make_app: Callable[..., Flask], tmp_path: Path, status_repo: Path
) -> None:
    empty = tmp_path / "empty.git"
    git(empty.parent, "init", "--quiet", "--bare", str(empty))  # a git repository without a main branch
    app = make_app(empty)
    state: StatusState = app.extensions[EXTENSION]
    with pytest.raises(NotReadyError, match="has no branch main"):
        state.snapshot()
    client: FlaskClient = app.test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert "has no branch main" in page.get_data(as_text=True)
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert set(missing.get_json()) == {"error"}
    assert "not found" in missing.get_json()["error"]["message"].lower()


def test_html_responses_carry_a_content_security_policy(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    # Nothing runs but the app's own files (no inline script); images may be https logos; no framing.
    assert directives["default-src"] == "'self'" and "script-src" not in directives
    assert directives["img-src"] == "'self' https:" and directives["frame-ancestors"] == "'none'"
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["Content-Security-Policy"] == policy
    assert "<html" in missing.get_data(as_text=True)
