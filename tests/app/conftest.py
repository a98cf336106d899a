"""Fixtures of the app tests: a status repository seeded with real commits, the app over it, a client.

``seeded_repo`` is built with the same writer the GitHub Action uses, so the app reads real history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import ALL_GREEN, Writer, pipeline, result
from tests.helpers.servers import Served


@pytest.fixture
def seeded_repo(status_repo: Path, writer_for: Writer) -> Path:
    """The default configuration with a night of results:

    - prometheus stable: all green (an older night failed its deploy, so it has history);
    - etcd stable: deploy failed (e2e then n/a);
    - nats stable: all green but 72 h old (stale); nats head: the build is running."""
    writer = writer_for(status_repo)
    writer.write(pipeline("prometheus", "stable", {**ALL_GREEN, "deploy": "failed"}, at=30.0, run=90))
    writer.write(
        pipeline("prometheus", "stable", ALL_GREEN, run=100)
        + pipeline("etcd", "stable", {"build": "success", "provision": "success", "deploy": "failed"})
        + pipeline("nats", "stable", ALL_GREEN, at=72.0, run=50)
        + [result("nats", "head", "build", "running", at=0.1, ref="v2.15.1", run=101)]
    )
    return status_repo


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps over a repository (each with its own mirror directory); their refresh threads are stopped."""
    apps: list[Flask] = []

    def make(repo: Path | str, **config: Any) -> Flask:
        app = create_app(
            {"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(tmp_path / f"mirror{len(apps)}"), **config}
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        state: StatusState = app.extensions[EXTENSION]
        state.close()


@pytest.fixture
def app(make_app: Callable[..., Flask], seeded_repo: Path) -> Flask:
    return make_app(seeded_repo)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def served(seeded_repo: Path, tmp_path: Path) -> Iterator[Served]:
    server = Served(seeded_repo, tmp_path / "served-mirror")
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.communicate()
