"""What every answer carries, added in one place after the view: a Content-Security-Policy on HTML (nothing
runs but the app's own files), ``X-Content-Type-Options: nosniff``, and a count in
``crosscloud_http_requests_total`` by endpoint and status."""

from __future__ import annotations

from typing import Final

from flask import Flask, request
from werkzeug.wrappers import Response

from crosscloud_app.web import metrics

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

metrics.describe("crosscloud_http_requests_total", "HTTP requests answered, by endpoint and status.")


def finish(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unknown"
    metrics.inc("crosscloud_http_requests_total", {"endpoint": endpoint, "status": str(response.status_code)})
    return response


def register(app: Flask) -> None:
    app.after_request(finish)
