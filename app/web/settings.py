"""The app's settings: their names, defaults and how a missing one is reported.

Every key is read from the environment as ``CROSSCLOUD_<KEY>`` (Flask's ``from_prefixed_env``, which parses
JSON values, so ``CROSSCLOUD_REFRESH_SECONDS=60`` is a number) and may be overridden by ``test_config``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from flask import Flask

from crosscloud.errors import BadInputError

ENV_PREFIX: Final = "CROSSCLOUD"

DEFAULTS: Final[dict[str, Any]] = {
    "STATUS_REPO": None,
    "MIRROR_DIR": None,
    "REFRESH_SECONDS": 300,
    # Days of history the mirror keeps (a shallow mirror, docs/SCALE.md); unset, all of it.
    "HISTORY_DAYS": None,
    "WEBHOOK_SECRET": None,
    "APP_ID": None,
    "PRIVATE_KEY": None,
    "PRIVATE_KEY_FILE": None,
    "INSTALLATION_ID": None,
    "REFRESH_TOKEN": None,
    "NIGHTLY_REPOSITORY": None,
    "NIGHTLY_WORKFLOW": "nightly.yml",
    "CONFIG_REPOSITORY": None,
    "TOKEN": None,
    # Bearer token that authorises POST /api/v1/results/junit (results from other CI systems); unset, the
    # route answers 503.
    "SUBMIT_TOKEN": None,
    # The dashboard's public address, for links in alert issues, check runs and the feed. Required in
    # production unless ALLOWED_HOSTS names the hosts whose requests may supply the feed's links (see
    # crosscloud_app.web.public_url); LOCAL is set by `crosscloud serve` on a loopback address.
    "PUBLIC_URL": None,
    "ALLOWED_HOSTS": [],
    "LOCAL": False,
    # Keyless submission (POST /api/v1/results): the GitHub Actions OIDC issuer (default
    # https://token.actions.githubusercontent.com), its JWKS (default: from the issuer's discovery document) and
    # the audience tokens must carry (default cross-cloud-ci; in production, the app's URL).
    "OIDC_ISSUER": None,
    "OIDC_JWKS_URL": None,
    "OIDC_AUDIENCE": None,
    # GitHub: where the status repository lives there (default: from an https STATUS_REPO), the API's URL
    # (GitHub Enterprise), projects whose own CI runs are their builds ({"etcd": "release.yml"}), and extra
    # PyGithub options.
    "STATUS_REPOSITORY": None,
    "GITHUB_API_URL": "https://api.github.com",
    "CI_WORKFLOWS": {},
    "GITHUB_CLIENT_OPTIONS": {},
    # Webhook work happens off the request on this many threads, with at most this many waiting.
    "WEBHOOK_WORKERS": 2,
    "WEBHOOK_QUEUE": 16,
    # What "now" is for answers that depend on the clock (staleness, "3 minutes ago"): "wall", or "commit" (the
    # status repository commit's time: the same commit gives the same bytes; what `crosscloud publish` uses).
    "CLOCK": "wall",
    # Several worker processes over one MIRROR_DIR (`crosscloud serve --workers`): each keeps its mirror and index
    # in a slot of its own (worker-<k>/) and they follow each other's new commits through a shared tip file.
    "MIRROR_PER_WORKER": False,
}


def apply_defaults(app: Flask) -> None:
    """Fill in every setting that neither the environment nor ``test_config`` gave."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)


def status_repo(app: Flask) -> str:
    value = app.config.get("STATUS_REPO")
    if not value:
        raise BadInputError(f"no status repository: set {ENV_PREFIX}_STATUS_REPO to its path or URL")
    return str(value)


def mirror_dir(app: Flask) -> Path:
    """Where the mirror and its index live (default: the app's instance folder)."""
    return Path(app.config.get("MIRROR_DIR") or app.instance_path)


def refresh_seconds(app: Flask) -> float:
    value: Any = app.config.get("REFRESH_SECONDS")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{ENV_PREFIX}_REFRESH_SECONDS must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise BadInputError(f"{ENV_PREFIX}_REFRESH_SECONDS must not be negative (0 turns the timer off)")
    return seconds


def history_days(app: Flask) -> float | None:
    """``HISTORY_DAYS``: the mirror's history window in days, or None for the whole history."""
    value: Any = app.config.get("HISTORY_DAYS")
    if value is None or value == "":
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{ENV_PREFIX}_HISTORY_DAYS must be a number of days, not {value!r}") from None
    if days <= 0:
        raise BadInputError(f"{ENV_PREFIX}_HISTORY_DAYS must be more than 0 (unset it to keep all history)")
    return days


def clock(app: Flask) -> str:
    value = app.config.get("CLOCK") or "wall"
    if value not in ("wall", "commit"):
        raise BadInputError(f"{ENV_PREFIX}_CLOCK must be wall or commit, not {value!r}")
    return str(value)


def private_key(app: Flask) -> str | None:
    """The GitHub App's private key (PEM text), from ``PRIVATE_KEY`` or the file ``PRIVATE_KEY_FILE``."""
    if app.config.get("PRIVATE_KEY"):
        return str(app.config["PRIVATE_KEY"])
    path = app.config.get("PRIVATE_KEY_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise BadInputError(f"{ENV_PREFIX}_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from None


def submit_token(app: Flask) -> str | None:
    """The bearer token of ``POST /api/v1/results/junit``, or None when results may not be submitted."""
    value = app.config.get("SUBMIT_TOKEN")
    return str(value) if value else None
