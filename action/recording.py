"""Where stage results go: straight into the status repository (direct mode), as files for one fan-in
recorder job to commit a whole matrix at once (``crosscloud record --repo R DIR/*.json``), or to the
app's ``POST /api/v1/results`` with the job's GitHub Actions OIDC token (oidc mode: no secret at all)."""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

from crosscloud import layout
from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud.records import Record
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from crosscloud_action import gha


class Recorder(Protocol):
    def record(self, records: Sequence[Record]) -> None: ...


class DirectRecorder:
    """Commits each batch through the status repository writer (one commit per batch)."""

    def __init__(self, writer: StatusRepoWriter):
        self.writer = writer
        self.commits: list[str] = []
        self._lock = threading.Lock()

    def record(self, records: Sequence[Record]) -> None:
        result = self.writer.write(records)
        if result.commit:
            with self._lock:
                self.commits.append(result.commit)


class FanInRecorder:
    """Writes each record as ``<dir>/<cell path with / as __>``; the last one of a cell wins."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_of(self, record: Record) -> Path:
        return self.directory / layout.cell_path(record.key).removeprefix("results/").replace("/", "__")

    def record(self, records: Sequence[Record]) -> None:
        for record in records:
            target = self.path_of(record)
            partial = target.with_suffix(".partial")
            partial.write_text(record.to_json(), encoding="utf-8")
            partial.replace(target)  # atomic: a reader never sees half a record


DEFAULT_AUDIENCE: Final = "cross-cloud-ci"
"""The app's default ``OIDC_AUDIENCE``: both ends must agree."""
TOKEN_REFRESH_MARGIN: Final = 60.0
"""Seconds: a token closer than this to its expiry is not reused."""
MAX_ANSWER_BYTES: Final = 1024 * 1024


class SubmitError(CrossCloudError):
    """The app refused the records (4xx) or could not be reached after every retry."""


def _token_expiry(token: str) -> float:
    """The ``exp`` of a JWT, read without verifying it (only to know when to ask for a new one)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return 0.0


class OidcRecorder:
    """Posts each batch to ``<app-url>/api/v1/results`` with the job's OIDC token as the bearer.

    The token comes from the Actions token service (``$ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>`` with
    ``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, present only with ``permissions: id-token:
    write``); it is masked in the log and reused until a minute before it expires. A 5xx answer or a
    connection failure is retried with full-jitter backoff (the app answers 503 while the status
    repository or the issuer is unreachable); a 4xx is final and fails with the app's own words."""

    def __init__(
        self,
        app_url: str,
        *,
        request_url: str,
        request_token: str,
        audience: str = DEFAULT_AUDIENCE,
        backoff: Backoff | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ):
        if urlsplit(app_url).scheme not in ("https", "http") or not urlsplit(app_url).netloc:
            raise BadInputError(f"input 'app-url' must be the app's http(s) URL, not {app_url!r}")
        self.endpoint = app_url.rstrip("/") + "/api/v1/results"
        self.audience = audience
        self.backoff = backoff or Backoff(attempts=6, base=2.0, cap=60.0)
        self.timeout = timeout
        self.answers: list[dict[str, Any]] = []
        self._request_url = request_url
        self._request_token = request_token
        self._sleep = sleep
        self._rng = rng
        self._token: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, app_url: str | None, audience: str | None, env: Mapping[str, str]) -> OidcRecorder:
        """The recorder of a job, or ``BadInputError`` saying what the workflow lacks."""
        if not app_url:
            raise BadInputError("input 'app-url' is required for mode oidc (the app that records the results)")
        request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not request_url or not request_token:
            raise BadInputError(
                "mode oidc needs an OIDC token: add 'permissions: id-token: write' to this job "
                "(ACTIONS_ID_TOKEN_REQUEST_URL is not set)"
            )
        return cls(app_url, request_url=request_url, request_token=request_token, audience=audience or DEFAULT_AUDIENCE)

    def record(self, records: Sequence[Record]) -> None:
        if not records:
            return
        body = json.dumps([r.data for r in records]).encode()
        last_problem = ""
        for attempt in range(self.backoff.attempts):
            if attempt:
                self._sleep(self.backoff.delay(attempt - 1, self._rng))
            try:
                status, answer = self._post(body)
            except OSError as exc:  # URLError, a refused connection, a timeout: worth another try
                last_problem = str(exc) if isinstance(exc, ConnectionError) else f"cannot reach {self.endpoint}: {exc}"
                continue
            if status < 300:
                with self._lock:
                    self.answers.append(answer)
                return
            message = (answer.get("error") or {}).get("message") if isinstance(answer, dict) else None
            last_problem = f"{self.endpoint} answered {status}: {message or 'no reason given'}"
            if status < 500 and status != 429:
                raise SubmitError(f"{last_problem}{self._hint(status)}")
        raise SubmitError(f"gave up after {self.backoff.attempts} attempts; last: {last_problem}")

    def _hint(self, status: int) -> str:
        if status == 401:
            return f" (the app's OIDC_AUDIENCE must equal this action's 'audience' input, {self.audience!r})"
        if status == 403:
            return " (the project's 'repository' in cross-cloud.yml must be this workflow's repository)"
        return ""

    def _post(self, body: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.endpoint,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self._oidc_token()}", "Content-Type": "application/json",
                     "Accept": "application/json", "User-Agent": "cross-cloud-ci-action"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _json(response.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _json(exc.read(MAX_ANSWER_BYTES))
        except urllib.error.URLError as exc:
            raise ConnectionError(f"cannot reach {self.endpoint}: {exc.reason}") from None

    def _oidc_token(self) -> str:
        with self._lock:
            if self._token is None or _token_expiry(self._token) - time.time() < TOKEN_REFRESH_MARGIN:
                self._token = self._request_token_now()
                gha.mask(self._token)
            return self._token

    def _request_token_now(self) -> str:
        separator = "&" if "?" in self._request_url else "?"
        url = f"{self._request_url}{separator}audience={quote(self.audience, safe='')}"
        request = urllib.request.Request(url, headers={"Authorization": f"bearer {self._request_token}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = _json(response.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as exc:
            with exc:
                problem = f"the Actions token service answered {exc.code} to the OIDC token request"
                if exc.code >= 500:
                    raise ConnectionError(problem) from None
                raise SubmitError(f"{problem} (does the job have 'permissions: id-token: write'?)") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"cannot reach the Actions token service: {exc.reason}") from None
        value = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(value, str) or not value:
            raise SubmitError("the Actions token service answered without a token")
        return value


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
