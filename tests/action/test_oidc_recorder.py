"""The action's oidc mode: ``OidcRecorder`` against the real app served by werkzeug on 127.0.0.1, over a
real bare status repository, and one build run end to end through ``python -m crosscloud_action``.

Two stand-ins at the GitHub boundary, both real HTTP servers on 127.0.0.1, since neither is reachable
outside a GitHub-hosted runner: ``LocalIssuer`` (from ``tests.app.api.test_oidc_submit``) for GitHub's OIDC
issuer ``token.actions.githubusercontent.com``, and ``TokenService`` for the Actions token service a job reaches
through ``ACTIONS_ID_TOKEN_REQUEST_URL``: it checks the job's request token and mints an issuer-signed
token for the requested audience."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from crosscloud import layout
from crosscloud.errors import BadInputError
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff
from crosscloud_action.recording import OidcRecorder, SubmitError
from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.act import FIXTURE_CONFIG
from tests.helpers.oidc_issuer import AUDIENCE, ETCD_CELL, LocalIssuer
from tests.helpers.servers import JsonServer, free_port
from tests.helpers.status_repos import git, make_record, snapshot

REQUEST_TOKEN = "actions-request-token-for-the-test"  # searched for in the output
FAST = Backoff(attempts=3, base=0.01, cap=0.05)


class TokenService:
    """Stands in for the Actions token service (see the module doc); ``audiences`` lists what was asked."""

    def __init__(self, issuer: LocalIssuer, repository: str = "etcd-io/etcd"):
        self.issuer = issuer
        self.repository = repository
        self.audiences: list[str] = []
        self.minted: list[str] = []
        self.http = JsonServer(self._answer)
        # GitHub's request URL already carries a query; the action appends &audience=...
        self.url = f"{self.http.url}/_apis/distributedtask/token?api-version=2.0"

    def _answer(self, path: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        if headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
            return 401, None
        audience = parse_qs(urlsplit(path).query).get("audience", [""])[0]
        self.audiences.append(audience)
        token = self.issuer.token(repository=self.repository, aud=audience)
        self.minted.append(token)
        return 200, {"count": 1, "value": token}

    def close(self) -> None:
        self.http.close()


class FailFirst:
    """WSGI layer in front of the real app: the first ``n`` POSTs answer 503 (an app that cannot reach the
    status repository for a moment). ``posts`` counts every POST that reached it."""

    def __init__(self, app: Flask, n: int = 0):
        self.app = app
        self.n = n
        self.posts = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            self.posts += 1
            if self.posts <= self.n:
                start_response("503 Service Unavailable", [("Content-Type", "application/json")])
                return [b'{"error": {"message": "the status repository cannot be written now"}}']
        return self.app.wsgi_app(environ, start_response)


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.close()


@pytest.fixture
def tokens(issuer: LocalIssuer) -> Iterator[TokenService]:
    service = TokenService(issuer)
    yield service
    service.close()


@pytest.fixture
def serve(tmp_path: Path, issuer: LocalIssuer) -> Iterator[Callable[..., tuple[str, FailFirst]]]:
    """Serve the real app over a repository on 127.0.0.1 (werkzeug, threaded); (URL, its front layer)."""
    started: list[tuple[Any, threading.Thread, Flask]] = []

    def start(repo: Path, fail_first: int = 0) -> tuple[str, FailFirst]:
        app = create_app({"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(tmp_path / f"m{len(started)}"),
                          "REFRESH_SECONDS": 0, "OIDC_ISSUER": issuer.url, "OIDC_AUDIENCE": AUDIENCE})  # fmt: skip
        front = FailFirst(app, fail_first)
        server = make_server("127.0.0.1", 0, front, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread, app))
        return f"http://127.0.0.1:{server.server_port}", front

    yield start
    for server, thread, app in started:
        server.shutdown()
        server.server_close()
        thread.join(5)
        state: StatusState = app.extensions[EXTENSION]
        state.close()


def recorder(app_url: str, tokens: TokenService, **kwargs: Any) -> OidcRecorder:
    kwargs.setdefault("backoff", FAST)
    return OidcRecorder(app_url, request_url=tokens.url, request_token=REQUEST_TOKEN, audience=AUDIENCE, **kwargs)


def test_records_land_through_the_app_with_one_token_per_job(
    serve: Callable[..., tuple[str, FailFirst]], tokens: TokenService, status_repo: Path
) -> None:
    url, _ = serve(status_repo)
    oidc = recorder(url, tokens)
    oidc.record([make_record(status="running", finished_at=None, reason=None)])
    oidc.record([make_record(), make_record(stage="e2e")])
    stored = json.loads(git(status_repo, "show", f"{layout.BRANCH}:{ETCD_CELL}"))
    assert stored["status"] == "success"
    assert stored["run"]["id"] == 7012345678 and stored["run"]["repository"] == "etcd-io/etcd"
    e2e_cell = ETCD_CELL.replace("deploy", "e2e")
    assert [a["written"] for a in oidc.answers] == [[ETCD_CELL], [ETCD_CELL, e2e_cell]]
    assert tokens.audiences == [AUDIENCE]  # asked once, reused while it is valid


def test_5xx_is_retried_with_backoff(
    serve: Callable[..., tuple[str, FailFirst]], tokens: TokenService, status_repo: Path
) -> None:
    url, front = serve(status_repo, fail_first=2)
    slept: list[float] = []
    recorder(url, tokens, sleep=slept.append).record([make_record()])
    assert front.posts == 3 and len(slept) == 2
    assert json.loads(git(status_repo, "show", f"{layout.BRANCH}:{ETCD_CELL}"))["status"] == "success"


def test_an_unreachable_app_is_retried_then_fails_clearly(tokens: TokenService) -> None:
    slept: list[float] = []
    oidc = recorder(f"http://127.0.0.1:{free_port()}", tokens, sleep=slept.append)
    with pytest.raises(SubmitError, match=r"gave up after 3 attempts; last: cannot reach http://127\.0\.0\.1:\d+/api"):
        oidc.record([make_record()])
    assert len(slept) == 2


def test_4xx_fails_at_once_with_the_apps_words(
    serve: Callable[..., tuple[str, FailFirst]], tokens: TokenService, status_repo: Path
) -> None:
    url, front = serve(status_repo)
    tokens.repository = "prometheus/prometheus"
    tip = snapshot(status_repo)
    slept: list[float] = []
    with pytest.raises(SubmitError) as caught:
        recorder(url, tokens, sleep=slept.append).record([make_record()])
    assert "answered 403: project etcd reports from etcd-io/etcd, not from prometheus/prometheus" in str(caught.value)
    assert "'repository' in cross-cloud.yml" in str(caught.value)
    assert front.posts == 1 and slept == [] and snapshot(status_repo) == tip


def test_a_wrong_audience_says_which_setting_to_align(
    serve: Callable[..., tuple[str, FailFirst]], tokens: TokenService, status_repo: Path
) -> None:
    url, _ = serve(status_repo)
    oidc = OidcRecorder(url, request_url=tokens.url, request_token=REQUEST_TOKEN, audience="cross-cloud-ci")
    with pytest.raises(SubmitError, match=r"answered 401: the token's audience is not .*OIDC_AUDIENCE"):
        oidc.record([make_record()])


def test_without_id_token_permission_the_job_is_told_what_to_add() -> None:
    with pytest.raises(BadInputError, match=r"permissions: id-token: write"):
        OidcRecorder.from_env("https://cross-cloud.example.org", None, {})
    with pytest.raises(BadInputError, match=r"input 'app-url' is required"):
        OidcRecorder.from_env(None, None, {"ACTIONS_ID_TOKEN_REQUEST_URL": "x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "y"})
    with pytest.raises(BadInputError, match=r"app's http\(s\) URL"):
        OidcRecorder.from_env("cross-cloud.example.org", None, {"ACTIONS_ID_TOKEN_REQUEST_URL": "x",
                                                                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "y"})  # fmt: skip


def test_a_refused_token_request_fails_at_once(tokens: TokenService) -> None:
    oidc = OidcRecorder("http://127.0.0.1:9", request_url=tokens.url, request_token="wrong", backoff=FAST)
    with pytest.raises(SubmitError, match=r"token service answered 401 .*id-token: write"):
        oidc.record([make_record()])


def test_the_action_records_a_build_end_to_end_in_mode_oidc(
    serve: Callable[..., tuple[str, FailFirst]], tokens: TokenService, tmp_path: Path
) -> None:
    """``python -m crosscloud_action`` as the composite step runs it, with the runner's variables."""
    config = tmp_path / "cross-cloud.yml"
    config.write_text(FIXTURE_CONFIG + '    repository: "octo-org/fixture"\n', encoding="utf-8")
    repo = tmp_path / "status.git"
    init_status_repo(repo, config)
    url, _ = serve(repo)
    tokens.repository = "octo-org/fixture"
    output = tmp_path / "github_output"
    output.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CROSSCLOUD_", "ACTIONS_"))}
    env.update({
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path / "runner"),
        "GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "octo-org/fixture",
        "GITHUB_JOB": "build", "GITHUB_WORKFLOW": "Cross-Cloud CI",
        "ACTIONS_ID_TOKEN_REQUEST_URL": tokens.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "CROSSCLOUD_STAGE": "build", "CROSSCLOUD_PROJECT": "fixture", "CROSSCLOUD_RELEASE": "stable",
        "CROSSCLOUD_STATUS_REPO": str(repo), "CROSSCLOUD_MODE": "oidc", "CROSSCLOUD_APP_URL": url,
        "CROSSCLOUD_AUDIENCE": AUDIENCE,
    })  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "crosscloud_action"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    stored = json.loads(git(repo, "show", f"{layout.BRANCH}:results/fixture/stable/amd64/build.json"))
    assert stored["status"] == "success"
    assert stored["run"]["repository"] == "octo-org/fixture" and stored["run"]["id"] == 7012345678  # the token's
    assert stored["run"]["workflow"] == "octo-org/fixture/.github/workflows/cross-cloud.yml@refs/heads/main"
    # The OIDC token is masked before it is used, and the request token appears nowhere.
    (token,) = tokens.minted
    assert f"::add-mask::{token}" in result.stdout
    everything = result.stdout.replace(f"::add-mask::{token}", "") + result.stderr + output.read_text()
    assert token not in everything and REQUEST_TOKEN not in everything
    assert re.search(r"^fixture stable v1\.0\.0 build: success$", result.stdout, re.MULTILINE), result.stdout
