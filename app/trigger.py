"""``POST /api/v1/refresh``: start the nightly matrix now, for machines (a release pipeline, a maintainer's
script). Authorised by ``Authorization: Bearer <REFRESH_TOKEN>``; dispatches ``NIGHTLY_WORKFLOW`` on
``NIGHTLY_REPOSITORY`` as the GitHub App (``crosscloud_app.github_app.workflow_dispatch``)."""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from crosscloud.errors import BadInputError
from crosscloud_app.github_app.workflow_dispatch import DEFAULT_REF, DispatchError, check_dispatch, dispatch
from crosscloud_app.web import settings

bp = Blueprint("trigger", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": {"message": message}}), status


def _authorised(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8"))


@bp.post("/api/v1/refresh")
def refresh() -> ResponseReturnValue:
    """Dispatch the nightly workflow on ``NIGHTLY_REPOSITORY``; the body may set ``ref`` and ``inputs``."""
    from crosscloud_app.github_app.app_client import from_settings

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    expected = app.config.get("REFRESH_TOKEN")
    if not expected or not _authorised(str(expected)):
        response = jsonify({"error": {"message": "a valid 'Authorization: Bearer <token>' header is required"}})
        response.headers["WWW-Authenticate"] = 'Bearer realm="crosscloud"'
        return response, 401
    repository = app.config.get("NIGHTLY_REPOSITORY")
    if not repository:
        return _error(503, f"nothing to dispatch: set {settings.ENV_PREFIX}_NIGHTLY_REPOSITORY")
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object with optional 'ref' and 'inputs'")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        return _error(400, "inputs must be an object of strings")
    try:
        wanted = check_dispatch(
            str(repository), str(app.config.get("NIGHTLY_WORKFLOW") or "nightly.yml"),
            str(body.get("ref") or DEFAULT_REF), inputs,
        )  # fmt: skip
        done = dispatch(from_settings(app).for_repository(wanted.repository), wanted)
    except BadInputError as exc:
        return _error(400, str(exc))
    except DispatchError as exc:
        return _error(502, str(exc))
    return jsonify({"dispatched": done.as_dict()}), 202
