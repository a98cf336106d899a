"""How the machine API's reads answer: JSON with ``Cache-Control: no-cache`` and a strong ETag made of the
status repository commit the answer was computed from and the query, and 304 to a matching ``If-None-Match``
(weak comparison, RFC 9110 13.1.2). Answers that can change without a new commit (cells turn stale as the
clock moves) add what they show to the tag."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import jsonify, request
from werkzeug.wrappers import Response


def etag(commit: str, *extra: Any) -> str:
    """Strong: the same commit, path, query (in any order) and ``extra`` give the same tag."""
    basis = [commit, request.path, sorted(request.args.items(multi=True)), *extra]
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return f"{commit[:12]}-{digest[:24]}"


def revalidated(tag: str) -> Response | None:
    """304 when the client already has ``tag``."""
    if not request.if_none_match.contains_weak(tag):
        return None
    response = Response(status=304)
    _cache_headers(response, tag)
    return response


def _cache_headers(response: Response, tag: str) -> None:
    response.set_etag(tag)
    response.headers["Cache-Control"] = "no-cache"


def answer(body: Any, tag: str, *, next_link: str | None = None) -> Response:
    """200 with ``body`` as JSON, tagged ``tag`` (and the ``Link`` of the next page, when there is one)."""
    response = jsonify(body)
    _cache_headers(response, tag)
    if next_link is not None:
        response.headers["Link"] = f'<{next_link}>; rel="next"'
    return response


def serve(commit: str, body: Any, *extra: Any) -> Response:
    """``body`` computed from ``commit``: 304 when the client has it already, else 200 tagged."""
    tag = etag(commit, *extra)
    return revalidated(tag) or answer(body, tag)
