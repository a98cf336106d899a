"""Fixtures of the app tests: a status repository seeded with real commits, the app over it, a client.

``seeded_repo`` is built with the same writer the GitHub Action uses, so the app reads real history."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud.records import format_time
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.conftest import make_record

Writer = Callable[..., StatusRepoWriter]


def hours_ago(hours: float) -> str:
    return format_time(datetime.now(UTC) - timedelta(hours=hours))


def result(
    project: str, release: str, stage: str, status: str, *, at: float = 1.0, run: int = 100, **extra: Any
) -> Any:
    """A record of the default configuration on the ``local`` cloud, started ``at`` hours ago."""
    fields: dict[str, Any] = {
        "project": project,
        "release": release,
        "stage": stage,
        "status": status,
        "started_at": hours_ago(at),
        "finished_at": None if status == "running" else hours_ago(at - 0.05),
        "url": f"https://github.com/example/{project}/actions/runs/{run}/job/{run}{len(stage)}",
        "run": {
            "repository": f"example/{project}",
            "id": run,
            "attempt": 1,
            "job": "cross-cloud",
            "workflow": "Cross-Cloud CI",
            "url": f"https://github.com/example/{project}/actions/runs/{run}",
        },
        "reason": None if status in ("success", "running") else f"{stage} {status} in the test",
        "ref": {"prometheus": "v2.42.0", "etcd": "v3.4.23", "nats": "v2.9.10"}[project],
        "sha": {"prometheus": "a", "etcd": "b", "nats": "c"}[project] * 40,
    }
    if stage != "build":
        fields["cloud"] = "local"
    fields.update(extra)
    return make_record(**fields)


def pipeline(project: str, release: str, statuses: dict[str, str], **kwargs: Any) -> list[Any]:
    """One record per stage, started in pipeline order (later stages a little later)."""
    at = float(kwargs.pop("at", 1.0))
    return [
        result(project, release, stage, status, at=at - i * 0.01, **kwargs)
        for i, (stage, status) in enumerate(statuses.items())
    ]


ALL_GREEN = {"build": "success", "provision": "success", "deploy": "success", "e2e": "success"}


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


class Cells(HTMLParser):
    """The status cells of a page (``td`` with ``data-stage``), each with its attributes, its text and
    the link inside it, keyed by (project, release, stage, cloud)."""

    def __init__(self, html: str):
        super().__init__()
        self.cells: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._open: dict[str, Any] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-stage" in values:
            self._open = {**values, "text": "", "href": None, "aria-label": None}
            key = (values["data-project"], values["data-release"], values["data-stage"], values["data-cloud"])
            self.cells[key] = self._open
        elif self._open is not None and tag in ("a", "span") and "badge" in values.get("class", ""):
            self._open["href"] = values.get("href")
            self._open["aria-label"] = values.get("aria-label")
            self._open["title"] = values.get("title")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def __getitem__(self, key: tuple[str, str, str, str]) -> dict[str, Any]:
        return self.cells[key]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """``crosscloud serve`` as a real subprocess on a free 127.0.0.1 port."""

    def __init__(self, repo: Path, mirror_dir: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crosscloud", "serve", "--repo", str(repo), "--port", str(self.port),
             "--mirror-dir", str(mirror_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline().strip()
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


@pytest.fixture
def served(seeded_repo: Path, tmp_path: Path) -> Iterator[Served]:
    server = Served(seeded_repo, tmp_path / "served-mirror")
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.communicate()
