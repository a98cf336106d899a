"""The machine API: ``/api/v1`` (projects, clouds, the current cells, insight and every result ever recorded,
as JSON; submitting results; starting the nightly matrix) and ``/alerts.json``, for machines what the
dashboard is for people, from the same snapshot and the same cell rules.

Every route is an entry of one table, ``openapi.OPERATIONS``: ``register`` adds exactly those routes, and the
OpenAPI document is generated from the same entries. The views: ``configuration`` (projects, clouds), ``cells``
(cells, insight), ``history`` (pages of results), ``junit_submit`` and ``oidc_submit`` (with ``oidc_tokens``)
which record results through ``crosscloud_app.web.status_writes``, ``nightly_refresh`` and ``alerts``; what a
request asks is checked in ``query`` and reads are answered with ETags by ``answers``. Errors are
``crosscloud_app.web.http_errors.HttpError``, answered as JSON."""

from __future__ import annotations

from flask import Blueprint, Flask, request
from werkzeug.wrappers import Response

from crosscloud_app.api import index_page, query
from crosscloud_app.api.components import PREFIX, json_alias
from crosscloud_app.api.openapi import OPERATIONS

NAME = "api"


def _no_cache(response: Response) -> Response:
    """Nothing under ``/api/v1`` is cached without revalidation: the app-wide answers (no such route, wrong
    method, not ready) included."""
    if request.path.startswith(f"{PREFIX}/"):
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def register(app: Flask) -> None:
    """Every route of ``OPERATIONS`` (endpoint ``api.<view name>``) and the query parameters each accepts, and
    ``/api/v1/``, their index for people (``index_page``)."""
    bp = Blueprint(NAME, __name__)
    for op in OPERATIONS:
        bp.add_url_rule(op.rule, op.endpoint, op.view, methods=[op.method.upper()])
        if json_alias(op.method, op.rule):  # after the path itself: url_for builds the path
            bp.add_url_rule(f"{op.rule}.json", op.endpoint, op.view, methods=["GET"])
    bp.add_url_rule(f"{PREFIX}/", "index_page", index_page.index_page)  # the table as a page for people
    app.register_blueprint(bp)
    app.extensions[query.EXTENSION] = {f"{NAME}.{op.endpoint}": frozenset(op.query) for op in OPERATIONS}
    app.after_request(_no_cache)
