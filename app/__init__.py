"""The Cross-Cloud CI GitHub App (package ``crosscloud_app``): dashboard, badges, history API and webhooks,
served from the status repository. It never runs a stage.

``create_app`` builds the app: settings from ``CROSSCLOUD_*`` variables, the ``StatusState`` (mirror,
index, background refresh) and one blueprint per surface listed in ``SURFACES``."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from crosscloud.status_repo.git import Remote
from crosscloud_app import metrics, settings
from crosscloud_app.state import EXTENSION, NotReadyError, StatusState

SURFACES: tuple[str, ...] = (
    "dashboard",
    "projects",
    "api",
    "badges",
    "ops",
    "webhooks",
    "trigger",
    "alerts",
    "check_runs",
    "feed",
    "submit",
)
"""Modules under ``crosscloud_app`` with ``init_app(app)``, each registering its blueprint."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

metrics.describe("crosscloud_http_requests_total", "HTTP requests answered, by endpoint and status.")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app, serving the status repository named by ``CROSSCLOUD_STATUS_REPO`` (or ``test_config``).

    The first refresh runs here, synchronously; when it fails the app still starts and answers 503
    until a later refresh succeeds."""
    app = Flask(__name__)
    app.config.from_prefixed_env(settings.ENV_PREFIX)
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings.apply_defaults(app)

    remote = Remote.parse(settings.status_repo(app), app.config.get("TOKEN") or None)
    state = StatusState(remote, settings.mirror_dir(app), refresh_seconds=settings.refresh_seconds(app))
    app.extensions[EXTENSION] = state
    with contextlib.suppress(NotReadyError):  # served as 503 (/healthz says why) until a refresh succeeds
        state.refresh_now("startup")
    state.start()

    _register_errors(app)
    _register_hooks(app)
    for name in SURFACES:
        importlib.import_module(f"crosscloud_app.{name}").init_app(app)
    return app


def wants_json() -> bool:
    """API paths answer errors as JSON, everything else as an HTML page."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str) -> ResponseReturnValue:
    if wants_json():
        return jsonify({"error": {"message": message}}), status
    return render_template("error.html", status=status, message=message), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if exc.response is not None:
            return exc.response
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(NotReadyError)
    def not_ready(exc: NotReadyError) -> ResponseReturnValue:
        return error_response(503, str(exc))


def _register_hooks(app: Flask) -> None:
    @app.after_request
    def finish(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unknown"
        metrics.inc("crosscloud_http_requests_total", {"endpoint": endpoint, "status": str(response.status_code)})
        return response
