"""``POST /api/v1/results`` with GitHub Actions OIDC tokens, against a real bare status repository.

``LocalIssuer`` stands in for ``https://token.actions.githubusercontent.com``, GitHub's OIDC issuer, which
this machine cannot reach: a real HTTP server on 127.0.0.1 serving the OpenID discovery document and a
JWKS with RSA keys the test generates, and tokens signed with them carrying the claims GitHub puts in
its tokens. Everything after the token (verification, the writer, git) is the real thing."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud import layout
from crosscloud.config import load_config
from crosscloud.records import Record
from crosscloud_app.api.oidc_submit import MAX_RECORDS, authorise
from crosscloud_app.api.oidc_tokens import (
    EXTENSION,
    FAILED_RETRY,
    JWKS_TTL,
    Claims,
    IssuerUnavailableError,
    JwksCache,
    TokenVerifier,
)
from crosscloud_app.web.http_errors import HttpError
from tests.helpers.oidc_issuer import AUDIENCE, ETCD_CELL, LocalIssuer
from tests.helpers.servers import free_port, wait_until_answering
from tests.helpers.status_repos import git, record_data, snapshot

ROUTE = "/api/v1/results"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.close()


@pytest.fixture
def submit_app(make_app: Callable[..., Flask], status_repo: Path, issuer: LocalIssuer) -> Flask:
    return make_app(status_repo, OIDC_ISSUER=issuer.url, OIDC_AUDIENCE=AUDIENCE, REFRESH_SECONDS=0)


@pytest.fixture
def client(submit_app: Flask) -> FlaskClient:
    return submit_app.test_client()


def post(client: FlaskClient, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(ROUTE, data=json.dumps(body), headers=headers, content_type="application/json")


def stored(repo: Path, path: str = ETCD_CELL) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(git(repo, "show", f"{layout.BRANCH}:{path}"))
    return data


# -- a valid token -------------------------------------------------------------------------------------------


def test_valid_token_lands_the_records_once_with_provenance_from_the_token(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    forged_run = {"repository": "someone/else", "id": 1, "attempt": 9, "job": "cross-cloud", "workflow": "forged"}
    body = [
        record_data(run=forged_run, url="https://evil.example/phish"),
        record_data(stage="e2e", status="failed", reason="2 of 3 checks failed", run=forged_run),
    ]
    before = git(status_repo, "rev-parse", layout.BRANCH)
    answer = post(client, body, issuer.token())
    assert answer.status_code == 201, answer.get_json()
    data = answer.get_json()
    assert sorted(data["written"]) == [ETCD_CELL, ETCD_CELL.replace("deploy", "e2e")]
    assert data["unchanged"] == [] and data["superseded"] == []
    assert git(status_repo, "rev-parse", f"{layout.BRANCH}~1") == before  # one commit for both records
    run_url = "https://github.com/etcd-io/etcd/actions/runs/7012345678"
    assert stored(status_repo)["run"] == {
        "repository": "etcd-io/etcd",
        "id": 7012345678,
        "attempt": 2,
        "job": "cross-cloud",
        "workflow": "etcd-io/etcd/.github/workflows/cross-cloud.yml@refs/heads/main",
        "url": run_url,
    }
    assert stored(status_repo)["url"] == run_url  # a link outside the run is not kept

    tip = snapshot(status_repo)
    again = post(client, body, issuer.token())  # a retry of the same run: exactly once
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["written"] == [] and len(again.get_json()["unchanged"]) == 2
    assert snapshot(status_repo) == tip


def test_one_record_as_an_object_and_the_repository_compared_case_insensitively(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    job = "https://github.com/Etcd-IO/etcd/actions/runs/7012345678/job/99"
    answer = post(client, record_data(url=job), issuer.token(repository="Etcd-IO/etcd"))
    assert answer.status_code == 201, answer.get_json()
    assert stored(status_repo)["run"]["repository"] == "Etcd-IO/etcd"
    assert stored(status_repo)["url"] == job  # the job's own page, inside the token's run, is kept


def test_an_older_result_arriving_late_is_superseded(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    assert post(client, record_data(started_at="2026-11-02T08:00:00Z", finished_at="2026-11-02T08:05:00Z"),
                issuer.token()).status_code == 201  # fmt: skip
    tip = snapshot(status_repo)
    late = post(client, record_data(status="failed", reason="late"), issuer.token())
    assert late.status_code == 200 and late.get_json()["superseded"] == [ETCD_CELL]
    assert snapshot(status_repo) == tip


# -- who may write what --------------------------------------------------------------------------------------


def test_another_projects_repository_is_403_and_nothing_is_written(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    tip = snapshot(status_repo)
    own = record_data(project="prometheus", ref="v2.42.0")
    answer = post(client, [own, record_data()], issuer.token(repository="prometheus/prometheus"))
    assert answer.status_code == 403
    error = answer.get_json()["error"]
    assert error["project"] == "etcd" and "etcd-io/etcd" in error["message"]
    assert snapshot(status_repo) == tip  # not even the prometheus record: all or nothing


def test_a_pinned_repository_id_must_match_too(status_repo: Path) -> None:
    """``repository_id`` in ``cross-cloud.yml`` pins the repository by its id, which survives a rename and
    differs for a re-created repository of the same name."""
    config = load_config_of(status_repo)
    etcd = dataclasses.replace(config.projects["etcd"], repository_id=11225014)
    pinned = dataclasses.replace(config, projects={**config.projects, "etcd": etcd})
    record = Record.from_dict(record_data())

    def claims(repository_id: str) -> Claims:
        return Claims("etcd-io/etcd", repository_id, 1, 1, None, "https://token.actions.githubusercontent.com", {})

    authorise([record], claims("11225014"), pinned)
    with pytest.raises(HttpError) as caught:  # same name, another repository (deleted and re-created)
        authorise([record], claims("99999999"), pinned)
    assert caught.value.status == 403 and caught.value.fields == {"project": "etcd"}
    authorise([record], claims("99999999"), config)  # not pinned: the name decides


def load_config_of(repo: Path) -> Any:
    target = repo.parent / "pinned-cross-cloud.yml"
    target.write_text(git(repo, "show", f"{layout.BRANCH}:{layout.CONFIG_PATH}"), encoding="utf-8")
    return load_config(target)


# -- tokens that are refused ---------------------------------------------------------------------------------


def _hs256_with_the_public_key(issuer: LocalIssuer) -> str:
    """The classic algorithm confusion: HMAC "signed" with the issuer's public key as the secret."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    payload = _b64(json.dumps(issuer.claims()).encode())
    signature = hmac.new(issuer.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _tampered(issuer: LocalIssuer) -> str:
    """A valid token whose payload was edited afterwards (another repository, same signature)."""
    header, _, signature = issuer.token(repository="prometheus/prometheus").split(".")
    payload = _b64(json.dumps(issuer.claims(repository="etcd-io/etcd")).encode())
    return f"{header}.{payload}.{signature}"


def _with_header(issuer: LocalIssuer, **header: Any) -> str:
    """A token signed with the issuer's key whose header carries ``header`` as given (PyJWT would refuse to
    write some of these: a number or a list as the key id, a ``crit`` member)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    head = _b64(json.dumps({"alg": "RS256", "typ": "JWT", **header}).encode())
    payload = _b64(json.dumps(issuer.claims()).encode())
    signature = issuer.keys["key-1"].sign(f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{payload}.{_b64(signature)}"


REFUSED: dict[str, tuple[Callable[[LocalIssuer], str | None], str]] = {
    "no header": (lambda i: None, "token"),
    "not a JWT": (lambda i: "not.a.token", "token"),
    "expired": (lambda i: i.token(exp=int(time.time()) - 600, iat=int(time.time()) - 900), "exp"),
    "not yet valid": (lambda i: i.token(nbf=int(time.time()) + 600), "nbf"),
    "wrong audience": (lambda i: i.token(aud="https://someone-else.example"), "aud"),
    "wrong issuer": (lambda i: i.token(iss="https://token.actions.githubusercontent.com"), "iss"),
    "unknown key id": (lambda i: i.token(kid="key-never-published", signing_kid="key-1"), "kid"),
    "signed by another key": (lambda i: i.token(kid="key-1", signing_kid="key-other"), "signature"),
    "alg none": (lambda i: jwt.encode(i.claims(), None, algorithm="none", headers={"kid": "key-1"}), "alg"),
    "HS256 with the public key": (_hs256_with_the_public_key, "alg"),
    "tampered payload": (_tampered, "signature"),
    "no repository_id claim": (lambda i: i.token(repository_id=None), "repository_id"),
    "no expiry": (lambda i: i.token(exp=None), "exp"),
    "kid a number": (lambda i: _with_header(i, kid=5), "kid"),
    "kid a list": (lambda i: _with_header(i, kid=["a"]), "kid"),
    "kid an object": (lambda i: _with_header(i, kid={"a": 1}), "kid"),
    "crit member": (lambda i: _with_header(i, kid="key-1", crit=["exp"]), "crit"),
    "crit not a list": (lambda i: _with_header(i, kid="key-1", crit="b64"), "crit"),
    "header not an object": (lambda i: _b64(b"[1]") + "." + _b64(b"{}") + ".c2ln", "token"),
    "alg a list": (lambda i: _with_header(i, alg=["RS256"], kid="key-1"), "alg"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_tokens_are_401_naming_the_claim(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path, case: str
) -> None:
    issuer.add_key("key-other")
    make, claim = REFUSED[case]
    tip = snapshot(status_repo)
    answer = post(client, [record_data()], make(issuer))
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json()["error"]["claim"] == claim, answer.get_json()
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="crosscloud", error="invalid_token"')
    assert snapshot(status_repo) == tip


def test_key_rotation_refetches_once_and_unknown_keys_do_not_hammer_the_issuer(
    client: FlaskClient, submit_app: Flask, issuer: LocalIssuer
) -> None:
    assert post(client, record_data(), issuer.token()).status_code == 201
    jwks_fetches = issuer.paths.count("/.well-known/jwks")
    assert jwks_fetches == 1
    issuer.add_key("key-2")  # GitHub rotates: a new key id appears in the JWKS
    answer = post(client, record_data(status="failed", reason="rotated"), issuer.token(kid="key-2"))
    assert answer.status_code == 201, answer.get_json()
    assert issuer.paths.count("/.well-known/jwks") == 2
    for n in range(3):  # forged key ids right after: no more fetches within UNKNOWN_KID_REFETCH
        refused = post(client, record_data(), issuer.token(kid=f"forged-{n}", signing_kid="key-2"))
        assert refused.status_code == 401
    assert issuer.paths.count("/.well-known/jwks") == 2
    verifier: TokenVerifier = submit_app.extensions[EXTENSION]
    assert verifier.keys.fetches == 2


def test_an_unreachable_issuer_is_503_to_retry(
    make_app: Callable[..., Flask], status_repo: Path, issuer: LocalIssuer
) -> None:
    token = issuer.token()
    url = issuer.url
    issuer.close()
    app = make_app(status_repo, OIDC_ISSUER=url, OIDC_AUDIENCE=AUDIENCE, REFRESH_SECONDS=0)
    answer = post(app.test_client(), record_data(), token)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "cannot fetch" in answer.get_json()["error"]["message"]


def test_expired_keys_keep_verifying_while_the_issuer_is_down(issuer: LocalIssuer) -> None:
    now = [1000.0]
    keys = JwksCache(issuer.url, clock=lambda: now[0])
    verifier = TokenVerifier(issuer.url, AUDIENCE, keys)
    assert verifier.verify(issuer.token()).repository == "etcd-io/etcd"
    token = issuer.token()
    issuer.close()
    now[0] += JWKS_TTL + 1  # the cache is due for a refresh, and the refresh fails
    assert verifier.verify(token).run_id == 7012345678
    assert keys.fetches == 1


def test_a_failing_issuer_is_tried_once_per_retry_period_however_many_tokens_come(issuer: LocalIssuer) -> None:
    """No key ever cached and the issuer failing: forged tokens must not each cause a fetch."""
    calls: list[str] = []

    def failing(url: str) -> Any:
        calls.append(url)
        raise IssuerUnavailableError(f"cannot fetch {url}: connection refused")

    now = [1000.0]
    keys = JwksCache(issuer.url, fetch=failing, clock=lambda: now[0])
    verifier = TokenVerifier(issuer.url, AUDIENCE, keys)
    for n in range(100):
        with pytest.raises(IssuerUnavailableError, match="cannot fetch"):
            verifier.verify(issuer.token(kid=f"forged-{n}", signing_kid="key-1"))
    assert len(calls) == 1
    now[0] += FAILED_RETRY
    with pytest.raises(IssuerUnavailableError):
        verifier.verify(issuer.token())
    assert len(calls) == 2


def test_forged_tokens_against_a_slow_issuer_never_hold_up_a_badge(
    status_repo: Path, issuer: LocalIssuer, tmp_path: Path
) -> None:
    """The app under the production server (``crosscloud serve --workers 1``: granian, one worker process and its
    threads) on 127.0.0.1; the issuer stand-in takes 3 s per answer. Eight forged tokens at once: at most one
    request waits on the issuer, the others are answered at once, and a badge requested meanwhile answers fast."""
    issuer.add_key("key-other")
    issuer.delay = 3.0
    port = free_port()
    env = {**os.environ, "CROSSCLOUD_OIDC_ISSUER": issuer.url, "CROSSCLOUD_OIDC_AUDIENCE": AUDIENCE,
           "CROSSCLOUD_REFRESH_SECONDS": "0", "CROSSCLOUD_PUBLIC_URL": "https://ci.example.org"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "crosscloud", "serve", "--repo", str(status_repo), "--mirror-dir", str(tmp_path / "m"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/healthz", server, 60)
        forged = issuer.token(kid="key-1", signing_kid="key-other")
        body = json.dumps([record_data()]).encode()

        def submit() -> tuple[int, float]:
            began = time.monotonic()
            request = urllib.request.Request(f"{base}{ROUTE}", data=body, method="POST", headers={  # noqa: S310
                "Authorization": f"Bearer {forged}", "Content-Type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                    return answer.status, time.monotonic() - began
            except urllib.error.HTTPError as refused:
                return refused.code, time.monotonic() - began

        with ThreadPoolExecutor(8) as pool:
            submitted = [pool.submit(submit) for _ in range(8)]
            time.sleep(0.5)
            began = time.monotonic()
            with urllib.request.urlopen(f"{base}/badge/etcd/stable/local.svg", timeout=60) as badge:  # noqa: S310
                assert badge.status == 200
            badge_seconds = time.monotonic() - began
            answers = [f.result() for f in submitted]
        assert badge_seconds < 1.5, (badge_seconds, answers)
        assert all(status in (401, 503) for status, _ in answers), answers
        assert sum(1 for _, seconds in answers if seconds < 1.5) >= 7, answers  # only one waited on the issuer
        assert issuer.paths.count("/.well-known/openid-configuration") == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # granian and its worker process
        server.communicate(timeout=30)


# -- bodies that are refused ---------------------------------------------------------------------------------


def test_a_record_dated_ahead_of_the_clock_is_400_naming_its_index_and_field(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    tip = snapshot(status_repo)
    future = record_data(started_at="2099-01-01T00:00:00Z", finished_at="2099-01-01T00:05:00Z")
    answer = post(client, [record_data(), future], issuer.token())
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert (error["record"], error["field"]) == (1, "started_at")
    assert "ahead of the clock" in error["message"]
    assert snapshot(status_repo) == tip


def test_a_bad_record_is_400_naming_its_index_and_field(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path
) -> None:
    tip = snapshot(status_repo)
    answer = post(client, [record_data(), record_data(status="great")], issuer.token())
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert (error["record"], error["field"]) == (1, "status")
    assert error["message"].startswith("records[1]: status:")
    assert snapshot(status_repo) == tip


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "empty list"),
        (json.dumps([record_data()] * (MAX_RECORDS + 1)).encode(), 413, f"at most {MAX_RECORDS}"),
        (json.dumps([record_data(cloud="mars")]).encode(), 400, "unknown cloud 'mars'"),
        (json.dumps([record_data(project="kubernetes")]).encode(), 400, "unknown project 'kubernetes'"),
    ],
    ids=["not JSON", "empty", "too many", "unknown cloud", "unknown project"],
)
def test_bodies_that_are_refused(
    client: FlaskClient, issuer: LocalIssuer, status_repo: Path, body: bytes, status: int, words: str
) -> None:
    tip = snapshot(status_repo)
    answer = client.post(ROUTE, data=body, headers={"Authorization": f"Bearer {issuer.token()}"})
    assert answer.status_code == status, answer.get_json()
    assert words in answer.get_json()["error"]["message"]
    assert snapshot(status_repo) == tip


def test_the_token_is_checked_before_the_body_is_read(client: FlaskClient) -> None:
    answer = client.post(ROUTE, data=b"{not json", headers={"Authorization": "Bearer x"})
    assert answer.status_code == 401
