"""``POST /api/v1/refresh``: start the nightly matrix now, for machines (a release pipeline, a maintainer's
script). Authorised by ``Authorization: Bearer <REFRESH_TOKEN>``; dispatches ``NIGHTLY_WORKFLOW`` on
``NIGHTLY_REPOSITORY`` as the GitHub App (``crosscloud_app.github_app.workflow_dispatch``, which
``crosscloud trigger`` uses too). The optional JSON body sets the ``ref`` and the workflow's ``inputs``;
202 names what was dispatched."""

from __future__ import annotations

import json
from typing import Any, Final

from flask import Flask, current_app, jsonify
from werkzeug.wrappers import Response

from crosscloud.errors import BadInputError
from crosscloud_app.api.query import query_args
from crosscloud_app.github_app.app_client import from_settings
from crosscloud_app.github_app.workflow_dispatch import (
    DEFAULT_REF,
    DEFAULT_WORKFLOW,
    DispatchError,
    check_dispatch,
    dispatch,
)
from crosscloud_app.web import settings
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.request_input import check_bearer, read_body

MAX_BODY_BYTES: Final = 64 * 1024
"""A ref and at most ten inputs: far less than this."""
NOT_AN_OBJECT: Final = "the body must be a JSON object with optional 'ref' and 'inputs'"


def _body() -> dict[str, Any]:
    data = read_body(MAX_BODY_BYTES)
    if not data:
        return {}
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise HttpError(400, NOT_AN_OBJECT) from None
    if not isinstance(body, dict):
        raise HttpError(400, NOT_AN_OBJECT)
    return body


def refresh() -> Response:
    """Dispatch the nightly workflow on ``NIGHTLY_REPOSITORY``; the body may set ``ref`` and ``inputs``."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    check_bearer(str(app.config.get("REFRESH_TOKEN") or ""), "the refresh token")
    query_args()
    repository = app.config.get("NIGHTLY_REPOSITORY")
    if not repository:
        raise HttpError(503, f"nothing to dispatch: set {settings.ENV_PREFIX}_NIGHTLY_REPOSITORY")
    body = _body()
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise HttpError(400, "inputs must be an object of strings")
    try:
        wanted = check_dispatch(
            str(repository), str(app.config.get("NIGHTLY_WORKFLOW") or DEFAULT_WORKFLOW),
            str(body.get("ref") or DEFAULT_REF), inputs,
        )  # fmt: skip
        done = dispatch(from_settings(app).for_repository(wanted.repository), wanted)
    except BadInputError as exc:
        raise HttpError(400, str(exc)) from None
    except DispatchError as exc:
        raise HttpError(502, str(exc)) from None
    response = jsonify({"dispatched": done.as_dict()})
    response.status_code = 202
    return response
