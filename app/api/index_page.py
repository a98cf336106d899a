"""``/api/v1/``: the API's index for people, an HTML page generated from the OpenAPI document (the same table,
``openapi.OPERATIONS``): every operation with its method, path, summary, description and query parameters,
linking the JSON document. No third-party assets (no Swagger UI): the site's own stylesheet."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from crosscloud_app.api.components import json_alias
from crosscloud_app.api.openapi import document


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations in its order, flattened for the template."""
    out = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parameters = [
                {
                    "name": p["name"],
                    "in": p["in"],
                    "required": bool(p.get("required")),
                    "description": p.get("description", ""),
                }
                for p in op.get("parameters", [])
            ]
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": op.get("operationId", ""),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": parameters,
                    "href": _href(method, path),
                }
            )
    return out


def _href(method: str, path: str) -> str | None:
    """Where the page links an operation a browser can open (a read without parameters in its path): at
    ``<path>.json`` (see ``components.json_alias``), which the app and the published site both answer; None
    for the rest, and for the operators' routes outside ``/api/v1`` (the app's own stores, not published)."""
    if not json_alias(method, path):
        return None
    return f"{request.script_root}{path}.json"


def index_page() -> ResponseReturnValue:
    doc = document()
    return render_template(
        "api_index.html",
        info=doc["info"],
        operations=operations(doc),
        document_url=url_for("api.openapi_document"),
    )
