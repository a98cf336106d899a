"""The one way the app answers an HTTP error, whoever finds it: a view raises ``HttpError`` (status, message
and optional fields naming what is at fault: the parameter, the claim, the record ...), and ``render`` answers
it in the face of the route it was raised on:

- **JSON** for machine routes (``/api/``, ``/webhooks/``, ``*.json``): ``{"error": {"message": ..., <fields>}}``
  with ``Cache-Control: no-cache`` (an error is never cached);
- the **badge** for badge routes (a README shows a badge, never a broken image): the badges package adds that
  face with ``add_face``;
- an **HTML page** (``error.html``) for everything else.

Werkzeug's own errors (no such route, a method the route does not allow) and ``NotReadyError`` (no good state
to serve yet: 503 with ``Retry-After``) become ``HttpError`` here, so they take the same path. A 405 says which
methods the route allows (``Allow``, RFC 9110)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response

from crosscloud_app.web.status_state import NotReadyError

EXTENSION: Final = "crosscloud.error_faces"
JSON_PREFIXES: Final = ("/api/", "/webhooks/")
JSON_SUFFIX: Final = ".json"
RETRY_AFTER_SECONDS: Final = 30
"""What a 503 asks the client to wait before trying again."""


class HttpError(Exception):
    """An answer other than success: ``status``, a message for people, and ``fields`` for machines that name
    what is at fault (``parameter``, ``claim``, ``record``, ``field``, ``project``, a badge's ``label`` ...).
    ``headers`` go on the answer whatever its face (``WWW-Authenticate``, ``Retry-After``, ``Allow``)."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None, **fields: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = dict(headers or {})


Face = Callable[[HttpError], Response]
"""How one kind of route shows an error."""


def json_face(error: HttpError) -> Response:
    response = jsonify({"error": {"message": error.message, **error.fields}})
    response.status_code = error.status
    response.headers["Cache-Control"] = "no-cache"
    response.headers.update(error.headers)
    return response


def html_face(error: HttpError) -> Response:
    response = Response(
        render_template("error.html", status=error.status, message=error.message),
        status=error.status,
        mimetype="text/html",
    )
    response.headers.update(error.headers)
    return response


def add_face(app: Flask, prefix: str, face: Face) -> None:
    """Answer errors on paths starting with ``prefix`` with ``face`` (checked before the built-in faces)."""
    app.extensions[EXTENSION].append((prefix, face))


def render(error: HttpError) -> Response:
    """``error`` in the face of the current request's route (see the module doc)."""
    path = request.path
    faces: list[tuple[str, Face]] = current_app.extensions[EXTENSION]
    for prefix, face in faces:
        if path.startswith(prefix):
            return face(error)
    if path.startswith(JSON_PREFIXES) or path.endswith(JSON_SUFFIX):
        return json_face(error)
    return html_face(error)


def _from_werkzeug(exc: HTTPException) -> HttpError:
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return HttpError(exc.code or 500, exc.description or exc.name, headers=headers)


def register(app: Flask) -> None:
    """Answer ``HttpError``, werkzeug's errors and ``NotReadyError`` through ``render``."""
    app.extensions[EXTENSION] = []

    @app.errorhandler(HttpError)
    def http_error(exc: HttpError) -> Response:
        return render(exc)

    @app.errorhandler(HTTPException)
    def werkzeug_error(exc: HTTPException) -> Response:
        if exc.response is not None:  # abort() with a finished answer
            return exc.response  # type: ignore[return-value]
        return render(_from_werkzeug(exc))

    @app.errorhandler(NotReadyError)
    def not_ready(exc: NotReadyError) -> Response:
        return render(HttpError(503, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))
