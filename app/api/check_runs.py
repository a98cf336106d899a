"""``GET /check-runs.json``: what the check runs did, for operators (whether they are on, and per cell group
the last outcome); see ``crosscloud_app.github_app.check_runs``."""

from __future__ import annotations

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from crosscloud_app.api.query import query_args
from crosscloud_app.github_app.check_runs import poster


def check_runs_json() -> Response:
    query_args()
    found = poster(current_app._get_current_object())  # type: ignore[attr-defined]
    response = jsonify({"enabled": found is not None, "groups": found.store.all() if found is not None else []})
    response.headers["Cache-Control"] = "no-cache"
    return response
