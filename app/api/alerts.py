"""``GET /alerts.json``: what the failure alerts keep, for operators (whether they are on, and every issue
they opened or adopted, with its state); see ``crosscloud_app.github_app.failure_issues``."""

from __future__ import annotations

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from crosscloud_app.api.query import query_args
from crosscloud_app.github_app.failure_issues import alerter


def alerts_json() -> Response:
    query_args()
    found = alerter(current_app._get_current_object())  # type: ignore[attr-defined]
    rows = found.store.all() if found is not None else []
    response = jsonify(
        {
            "enabled": found is not None,
            "alerts": [
                {
                    "cell": a.cell,
                    "repository": a.repository,
                    "issue": a.issue,
                    "url": a.url,
                    "state": a.state,
                    "opened_at": a.opened_at.isoformat(),
                    "reported_failures": a.reported_failures,
                    "closed_at": a.closed_at.isoformat() if a.closed_at else None,
                }
                for a in rows
            ],
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response
