"""The GitHub App's authentication: JWT for the installation lookup, one installation token per client,
reused until it is about to expire. GitHub's answers come from betamax cassettes standing in for
github.com (``tests/helpers/github_replay.py``); the App's key is made here, never committed."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crosscloud_app.github_app.app_client import GitHubApp
from tests.helpers.github_keys import make_key
from tests.helpers.github_replay import replaying

APP_ID = 4242
REPOSITORY = "octo-org/cross-cloud-config"
NO_THROTTLE = {"seconds_between_requests": None, "seconds_between_writes": None}


@pytest.fixture(scope="module")
def app_key() -> tuple[str, rsa.RSAPublicKey]:
    return make_key()


def test_one_token_for_many_calls(app_key: tuple[str, rsa.RSAPublicKey]) -> None:
    pem, public = app_key
    with replaying("app_token_cached") as seen:
        github_app = GitHubApp(APP_ID, pem, client_options=NO_THROTTLE)
        first = github_app.for_repository(REPOSITORY)
        assert first.get_repo(REPOSITORY).full_name == REPOSITORY
        again = github_app.for_repository(REPOSITORY)
        assert again is first
        assert again.get_repo(REPOSITORY).default_branch == "main"
    # the cassette has one installation lookup and one token: a second of either would not match
    assert seen.paths() == [
        f"GET /repos/{REPOSITORY}/installation",
        "POST /app/installations/1234/access_tokens",
        f"GET /repos/{REPOSITORY}",
        f"GET /repos/{REPOSITORY}",
    ]
    lookup, mint, *calls = (headers["Authorization"] for _, _, headers in seen.requests)
    claims = jwt.decode(lookup.removeprefix("Bearer "), public, algorithms=["RS256"])
    assert claims["iss"] == str(APP_ID)
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert mint.startswith("Bearer ")
    assert calls == ["token " + "ghs_" + "1" * 36] * 2


def test_expired_token_is_replaced(app_key: tuple[str, rsa.RSAPublicKey]) -> None:
    pem, _ = app_key
    with replaying("app_token_refreshed") as seen:
        github_app = GitHubApp(APP_ID, pem, client_options=NO_THROTTLE)
        gh = github_app.for_repository(REPOSITORY)
        gh.get_repo(REPOSITORY)
        gh.get_repo(REPOSITORY)
    tokens = [h["Authorization"] for m, u, h in seen.requests if m == "GET" and u.endswith(REPOSITORY)]
    assert tokens == ["token ghs_" + "1" * 36, "token ghs_" + "2" * 36]


def test_configured_installation_skips_the_lookup(app_key: tuple[str, rsa.RSAPublicKey]) -> None:
    github_app = GitHubApp(APP_ID, app_key[0], installation_id=99)
    assert github_app.installation_for(REPOSITORY) == 99
    assert github_app.client(99) is github_app.for_repository("other/repo")


def test_post_is_never_retried_blindly() -> None:
    """A POST GitHub carried out but answered with a 5xx must not be sent again by the client (a second issue or
    pull request); GETs and other idempotent calls still are."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from crosscloud_app.github_app.app_client import GitHubApp

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    retry = GitHubApp(1, pem)._options["retry"]
    assert "GET" in retry.allowed_methods and "PUT" in retry.allowed_methods
    assert "POST" not in retry.allowed_methods and "PATCH" not in retry.allowed_methods
