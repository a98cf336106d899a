"""Verifying a GitHub Actions OIDC token: who is submitting results, without a shared secret.

A workflow job with ``permissions: id-token: write`` can ask GitHub for a short-lived JWT that names its
repository, run and workflow, signed by the issuer ``https://token.actions.githubusercontent.com``. The
app trusts exactly what that signature covers, so the checks are strict and all in one place:

- the header's algorithm must be RS256 (``none`` and HMAC are refused before any key is looked at: an
  HS256 token "signed" with the public key as the secret must not verify);
- the signature is checked against the issuer's published keys (JWKS), found through
  ``<issuer>/.well-known/openid-configuration`` (or a configured JWKS URL), cached for ``JWKS_TTL``
  seconds and refetched once when a token names a key id the cache does not know (key rotation);
  repeated unknown key ids refetch at most every ``UNKNOWN_KID_REFETCH`` seconds, a failed fetch is not
  retried for ``FAILED_RETRY`` seconds, and only one fetch runs at a time, outside any lock, so a stream
  of forged tokens can neither hammer the issuer nor queue requests behind a slow one;
- ``iss`` must be the configured issuer, ``aud`` the configured audience, and ``exp``/``nbf``/``iat``
  hold with ``LEEWAY`` seconds of clock skew;
- the claims the app acts on (``repository``, ``repository_id``, ``run_id``, ``run_attempt``) must be
  present and well-formed.

Settings (``CROSSCLOUD_`` + key): ``OIDC_ISSUER`` (default GitHub's), ``OIDC_JWKS_URL`` (default: from the
issuer's discovery document), ``OIDC_AUDIENCE`` (default ``cross-cloud-ci``; the action's ``audience``
input must match it)."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
from flask import Flask

DEFAULT_ISSUER: Final = "https://token.actions.githubusercontent.com"
DEFAULT_AUDIENCE: Final = "cross-cloud-ci"
ALGORITHM: Final = "RS256"
LEEWAY: Final = 60
"""Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
JWKS_TTL: Final = 3600.0
UNKNOWN_KID_REFETCH: Final = 30.0
FAILED_RETRY: Final = 30.0
"""Seconds after a failed fetch before the next is tried, whatever the tokens ask for."""
STALE_RETRY: Final = 60.0
"""Seconds between attempts to refresh expired keys while the issuer is unreachable (the old ones serve)."""
FETCH_TIMEOUT: Final = 10.0
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
MAX_TOKEN_BYTES: Final = 16 * 1024
EXTENSION: Final = "crosscloud.oidc"

log = logging.getLogger(__name__)
_DIGITS = re.compile(r"[0-9]{1,20}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


class TokenError(Exception):
    """The token is not acceptable; ``claim`` names the part at fault (``aud``, ``exp``, ``signature`` ...)."""

    def __init__(self, message: str, claim: str):
        super().__init__(message)
        self.message = message
        self.claim = claim


class IssuerUnavailableError(Exception):
    """The issuer's keys could not be fetched: nothing can be verified until they can (answer 503)."""


@dataclass(frozen=True)
class Claims:
    """What the app uses of a verified token."""

    repository: str
    repository_id: str
    run_id: int
    run_attempt: int
    workflow: str | None
    """``workflow_ref`` (``owner/repo/.github/workflows/ci.yml@refs/heads/main``) or the workflow's name."""
    issuer: str
    raw: Mapping[str, Any]


def fetch_json(url: str) -> Any:
    """GET ``url`` as JSON (at most ``MAX_DOCUMENT_BYTES``); ``IssuerUnavailableError`` saying why not."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise IssuerUnavailableError(f"{url}: only http(s) URLs are fetched")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise IssuerUnavailableError(f"cannot fetch {url}: {exc}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise IssuerUnavailableError(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise IssuerUnavailableError(f"{url}: not JSON") from None


class JwksCache:
    """The issuer's signing keys by key id, fetched lazily, kept ``ttl`` seconds; thread-safe."""

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None = None,
        *,
        ttl: float = JWKS_TTL,
        unknown_kid_refetch: float = UNKNOWN_KID_REFETCH,
        failed_retry: float = FAILED_RETRY,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = issuer.rstrip("/")
        self.jwks_url = jwks_url
        self.ttl = ttl
        self.unknown_kid_refetch = unknown_kid_refetch
        self.fetches = 0
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._unknown_refetch_at: float | None = None
        self.failed_retry = failed_retry
        self._failed_at: float | None = None
        self._last_error: str | None = None
        self._fetching = False
        self.attempts = 0
        """Fetches tried, failed ones included (``fetches`` counts those that succeeded)."""

    def key(self, kid: str) -> jwt.PyJWK | None:
        """The key ``kid``, refetching when the cache is old or does not know it; None when the issuer
        does not publish it.

        Fetches are rate-limited in every state: at most one at a time (single flight), none within
        ``failed_retry`` seconds of a failed one, unknown key ids at most every ``unknown_kid_refetch``
        seconds. The lock guards only the cache, never the network: a caller that may not fetch answers at
        once from the keys held (``IssuerUnavailableError`` when there are none), so a stream of forged
        tokens against a slow or failing issuer holds at most one request thread and one connection."""
        with self._lock:
            now = self._clock()
            due = self._fetched_at is None or now - self._fetched_at >= self.ttl
            unknown = kid not in self._keys and (
                self._unknown_refetch_at is None or now - self._unknown_refetch_at >= self.unknown_kid_refetch
            )
            resting = self._failed_at is not None and now - self._failed_at < self.failed_retry
            fetch = (due or unknown) and not self._fetching and not resting
            if not fetch:
                if not self._keys and self._fetched_at is None:
                    why = "the issuer's keys are being fetched" if self._fetching else self._last_error
                    raise IssuerUnavailableError(why or "the issuer's keys are not available yet")
                return self._keys.get(kid)
            self._fetching = True
            self.attempts += 1
            if not due:
                self._unknown_refetch_at = now
            held = bool(self._keys)
        try:
            found = self._download()  # outside the lock: other requests go on meanwhile
        except IssuerUnavailableError as exc:
            with self._lock:
                self._fetching = False
                self._failed_at = self._clock()
                self._last_error = str(exc)
                if self._fetched_at is not None and due:  # keys do not change often: keep the ones held
                    self._fetched_at = now - self.ttl + min(STALE_RETRY, self.ttl)
            if not held:
                raise
            log.warning("keeping the issuer's cached keys: %s", exc)
            return self._keys.get(kid)
        with self._lock:
            self._keys = found
            self._fetched_at = now
            self._failed_at = None
            self._last_error = None
            self._fetching = False
            self.fetches += 1
            return self._keys.get(kid)

    def _download(self) -> dict[str, jwt.PyJWK]:
        """The issuer's current signing keys (network I/O: never called under the lock)."""
        url = self.jwks_url or self._discover()
        document = self._fetch(url)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise IssuerUnavailableError(f"{url}: no 'keys' list")
        found: dict[str, jwt.PyJWK] = {}
        for entry in keys:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                found[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
            except (jwt.PyJWKError, ValueError, TypeError, KeyError):
                continue  # one malformed key does not take the others down
        return found

    def _discover(self) -> str:
        url = f"{self.issuer}/.well-known/openid-configuration"
        document = self._fetch(url)
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IssuerUnavailableError(f"{url}: no jwks_uri")
        return jwks_uri


def _text_claim(payload: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = payload.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise TokenError(f"the token's {name!r} claim is missing or malformed", name)
    return value


def _header(token: str) -> dict[str, Any]:
    """The token's header, unverified, as a JSON object; ``TokenError`` for anything that is not one. (Read
    here, not by PyJWT alone: its checks of ``kid`` and ``crit`` raise errors that say nothing of the claim.)"""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise TokenError("not a JSON Web Token (its header is not base64url JSON)", "token") from None
    if not isinstance(header, dict) or token.count(".") != 2:
        raise TokenError("not a JSON Web Token", "token")
    return header


class TokenVerifier:
    """Checks tokens of one issuer for one audience (see the module doc)."""

    def __init__(self, issuer: str, audience: str, keys: JwksCache, *, leeway: int = LEEWAY):
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.leeway = leeway

    def verify(self, token: str) -> Claims:
        """The token's claims; ``TokenError`` naming the claim at fault, ``IssuerUnavailableError`` when
        the keys cannot be fetched."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise TokenError("no token, or one too large to be a GitHub Actions OIDC token", "token")
        header = _header(token)
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise TokenError(f"algorithm {alg!r} is not accepted: tokens must be signed with {ALGORITHM}", "alg")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("the token's header names no key id (a non-empty string)", "kid")
        if "crit" in header:  # RFC 7515 4.1.11: extensions a recipient does not understand must be refused
            raise TokenError("the token's header has a 'crit' member: no critical extension is accepted", "crit")
        key = self.keys.key(kid)
        if key is None:
            raise TokenError(f"the issuer publishes no key {kid!r}", "kid")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat"], "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired", "exp") from None
        except jwt.ImmatureSignatureError as exc:
            claim = "iat" if "(iat)" in str(exc) else "nbf"
            raise TokenError(f"the token is not valid yet (its {claim!r} is in the future)", claim) from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"the token's audience is not {self.audience!r}", "aud") from None
        except jwt.InvalidIssuerError:
            raise TokenError(f"the token's issuer is not {self.issuer!r}", "iss") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the token has no {exc.claim!r} claim", exc.claim) from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify", "signature") from None
        except jwt.InvalidIssuedAtError:
            raise TokenError("the token's 'iat' claim is malformed", "iat") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"not a valid token: {exc}", "token") from None
        workflow = payload.get("workflow_ref") or payload.get("workflow")
        return Claims(
            repository=_text_claim(payload, "repository", _REPOSITORY),
            repository_id=_text_claim(payload, "repository_id", _DIGITS),
            run_id=int(_text_claim(payload, "run_id", _DIGITS)),
            run_attempt=int(_text_claim(payload, "run_attempt", _DIGITS)),
            workflow=workflow if isinstance(workflow, str) else None,
            issuer=self.issuer,
            raw=payload,
        )


def server_url(issuer: str) -> str:
    """The GitHub web server whose runs an issuer signs for: github.com for GitHub's issuer, the host of
    ``https://HOST/_services/token`` on GitHub Enterprise Server."""
    parts = urlsplit(issuer)
    if issuer.rstrip("/") != DEFAULT_ISSUER and parts.path.rstrip("/").endswith("/_services/token"):
        return f"{parts.scheme}://{parts.netloc}"
    return "https://github.com"


def verifier_from_settings(app: Flask) -> TokenVerifier:
    """The app's verifier (one per app: its key cache is shared by every request)."""
    existing = app.extensions.get(EXTENSION)
    if isinstance(existing, TokenVerifier):
        return existing
    issuer = str(app.config.get("OIDC_ISSUER") or DEFAULT_ISSUER).rstrip("/")
    jwks_url = app.config.get("OIDC_JWKS_URL") or None
    audience = str(app.config.get("OIDC_AUDIENCE") or DEFAULT_AUDIENCE)
    verifier = TokenVerifier(issuer, audience, JwksCache(issuer, str(jwks_url) if jwks_url else None))
    app.extensions[EXTENSION] = verifier
    return verifier
