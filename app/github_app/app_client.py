"""Talking to GitHub as the Cross-Cloud CI GitHub App.

The App signs a short JWT with its private key (``github.Auth.AppAuth``) to find the installation of a
repository and to mint installation tokens; everything else is done with an installation token. Tokens
live an hour: PyGithub's ``AppInstallationAuth`` keeps the one it has and mints a new one only when it
is within ``ACCESS_TOKEN_REFRESH_THRESHOLD_SECONDS`` (20 s) of expiring (see ``github/Auth.py``,
``AppInstallationAuth.token``). So the one thing to get right here is to keep *one* client per
installation: a new client per request would mint a new token per request and burn the rate limit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from flask import Flask, current_app

from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud_app.web import settings

if TYPE_CHECKING:
    from github import Github

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.github.com"
EXTENSION: Final = "crosscloud.github_app"


class GitHubApp:
    """The App's identity and a cache of one authenticated client per installation (thread-safe)."""

    def __init__(
        self,
        app_id: int | str,
        private_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        installation_id: int | None = None,
        client_options: Mapping[str, Any] | None = None,
    ):
        from github import Auth, GithubIntegration

        self.app_id = str(app_id)
        self.api_url = api_url.rstrip("/")
        self.installation_id = installation_id
        self._options = dict(client_options or {})
        if "retry" not in self._options:
            from github.GithubRetry import GithubRetry
            from urllib3.util.retry import Retry

            # PyGithub retries POST on a 5xx by default: a POST that GitHub carried out but answered 502 would
            # then open a second issue or pull request. Only idempotent methods are retried here; our callers
            # retry a failed POST themselves, after checking whether it happened.
            self._options["retry"] = GithubRetry(allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET"})
        self._auth = Auth.AppAuth(self.app_id, private_key)
        self.integration = GithubIntegration(auth=self._auth, base_url=self.api_url, **self._options)
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._clients: dict[int, Github] = {}

    def installation_for(self, repository: str) -> int:
        """The id of the installation that covers ``repository`` (owner/name): the configured one, else
        asked once per repository (``GET /repos/{owner}/{repo}/installation``, authenticated by JWT)."""
        if self.installation_id is not None:
            return self.installation_id
        with self._lock:
            known = self._installations.get(repository)
        if known is not None:
            return known
        owner, _, name = repository.partition("/")
        found = int(self.integration.get_repo_installation(owner, name).id)
        with self._lock:
            self._installations[repository] = found
        return found

    def client(self, installation_id: int) -> Github:
        """The client of one installation, made once: its token is reused until shortly before it expires."""
        from github import Github

        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                auth = self._auth.get_installation_auth(installation_id)
                client = Github(auth=auth, base_url=self.api_url, **self._options)
                self._clients[installation_id] = client
            return client

    def for_repository(self, repository: str) -> Github:
        """A client authenticated as the installation that covers ``repository``."""
        return self.client(self.installation_for(repository))


def from_settings(app: Flask) -> GitHubApp:
    """The app's ``GitHubApp`` (made on first use from ``APP_ID``, ``PRIVATE_KEY(_FILE)``,
    ``INSTALLATION_ID`` and ``GITHUB_API_URL``); ``BadInputError`` naming the missing setting."""
    existing: GitHubApp | None = app.extensions.get(EXTENSION)
    if existing is not None:
        return existing
    app_id = app.config.get("APP_ID")
    key = settings.private_key(app)
    if not app_id or not key:
        missing = "APP_ID" if not app_id else "PRIVATE_KEY or PRIVATE_KEY_FILE"
        raise BadInputError(f"the GitHub App is not configured: set {settings.ENV_PREFIX}_{missing}")
    installation = app.config.get("INSTALLATION_ID")
    try:
        installation_id = int(installation) if installation not in (None, "") else None
    except (TypeError, ValueError):
        raise BadInputError(f"{settings.ENV_PREFIX}_INSTALLATION_ID must be a number, not {installation!r}") from None
    made = GitHubApp(
        app_id,
        key,
        api_url=str(app.config.get("GITHUB_API_URL") or DEFAULT_API_URL),
        installation_id=installation_id,
        client_options=app.config.get("GITHUB_CLIENT_OPTIONS"),
    )
    return app.extensions.setdefault(EXTENSION, made)  # type: ignore[no-any-return]


def is_configured(app: Flask, feature: str) -> bool:
    """Whether the GitHub App is configured (``APP_ID`` and a private key), for ``feature`` (``alerts``,
    ``check runs``), which is off when it is not: the log says so, and why."""
    try:
        configured = bool(app.config.get("APP_ID")) and settings.private_key(app) is not None
    except CrossCloudError as exc:
        log.warning("%s are off: %s", feature, exc)
        return False
    if not configured:
        log.info("%s are off: the GitHub App is not configured (%s_APP_ID, private key)", feature, settings.ENV_PREFIX)
    return configured


def github_errors() -> tuple[type[Exception], ...]:
    """What a call to GitHub may raise that is GitHub's or the network's doing: logged and tried again later."""
    import requests
    from github import GithubException

    return (GithubException, requests.RequestException, OSError, CrossCloudError)


def current_github_app() -> GitHubApp:
    return from_settings(current_app._get_current_object())  # type: ignore[attr-defined]
