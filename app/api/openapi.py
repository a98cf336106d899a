"""The one table of the machine API's routes (``OPERATIONS``): each entry is a method, a path, the view that
answers it and what the OpenAPI 3.1 document says about it. ``crosscloud_app.api.register`` registers the
routes from this table and the document (served at ``/api/v1/openapi.json``) is generated from it, so a route
cannot be served without being documented, nor documented without being served; the query parameters an
entry lists are also the only ones its view accepts (``query.query_args``).

Every route is a read but four: ``POST /results/junit`` records a JUnit XML body (bearer token
``submitToken``), ``POST /results`` records result records with a GitHub Actions OIDC token, and
``POST /refresh`` starts the nightly matrix (bearer token ``refreshToken``); ``/alerts.json`` lists what the
failure alerts keep, ``/check-runs.json`` what the check runs did. The document's parameters and schemas are
in ``components``."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from werkzeug.wrappers import Response

from crosscloud.junit import MAX_JUNIT_BYTES
from crosscloud_app.api import (
    alerts,
    answers,
    cells,
    check_runs,
    configuration,
    history,
    junit_submit,
    nightly_refresh,
    oidc_submit,
)
from crosscloud_app.api.components import (
    JSON,
    LINK,
    PARAMETERS,
    PATH_PARAMETERS,
    PREFIX,
    VERSION,
    component_schemas,
    ref,
)
from crosscloud_app.api.query import query_args


def openapi_document() -> Response:
    """This document (it does not depend on the status repository: its ETag is its own hash)."""
    query_args()
    tag = _document_tag()
    return answers.revalidated(tag) or answers.answer(document(), tag)


@dataclass(frozen=True)
class Operation:
    """One route of the machine API and its description."""

    method: str
    """``get`` or ``post``."""
    path: str
    """The OpenAPI path (``{name}`` for a path parameter)."""
    view: Callable[..., Response]
    operation_id: str
    summary: str
    response: str
    """The schema of the success answer (a key of ``components.component_schemas``)."""
    query: tuple[str, ...] = ()
    """The query parameters the view accepts (documented from ``components.PARAMETERS``)."""
    description: str = ""
    required: tuple[str, ...] = ()
    """Query parameters that must be given."""
    describe: Callable[[Operation], dict[str, Any]] | None = None
    """The operation's OpenAPI object when it is not a read of the status repository (``_read``)."""

    @property
    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    @property
    def rule(self) -> str:
        """The path as a Flask rule (``<name>`` for a path parameter)."""
        return self.path.replace("{", "<").replace("}", ">")

    @property
    def endpoint(self) -> str:
        return self.view.__name__


# -- how each kind of route is described ------------------------------------------------------------------------
def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


def _answer(op: Operation, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra, "content": {JSON: {"schema": ref(op.response)}}}


def _query(op: Operation, *, submitted: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The operation's parameters; ``submitted`` ones are described as what a POST records, not as a filter."""
    return [{"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]} for name in op.path_parameters] + [
        {
            "name": name,
            "in": "query",
            "required": name in op.required,
            **PARAMETERS[f"{name}_submitted" if name in submitted else name],
        }
        for name in op.query
    ]


def _read(op: Operation) -> dict[str, Any]:
    """A GET of something computed from the status repository: a strong ETag, 304, 503 before the first read."""
    ok = _answer(
        op,
        op.summary,
        headers={
            "ETag": {
                "description": "Strong: the status repository commit and the query.",
                "schema": {"type": "string"},
            },
            "Cache-Control": {
                "description": "`no-cache`: revalidate with If-None-Match.",
                "schema": {"type": "string"},
            },
        },
    )
    if op.response == "OpenAPI":
        ok["content"] = {JSON: {"schema": {"type": "object"}}}
    if op.response.endswith("Page"):
        ok["headers"]["Link"] = {"description": 'The next page: `<...>; rel="next"`.', "schema": {"type": "string"}}
    responses: dict[str, Any] = {
        "200": ok,
        "304": {"description": "Not modified: the If-None-Match ETag is current."},
        "400": _error("A bad or unknown query parameter; `parameter` names it."),
        "405": _error("Only GET (and HEAD) are allowed."),
        "503": _error("The status repository has not been read yet."),
    }
    if op.path_parameters:
        responses["404"] = _error("No such project, cloud, release or stage.")
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        **({"description": op.description} if op.description else {}),
        "parameters": _query(op),
        "responses": dict(sorted(responses.items())),
    }


_SUBMITTED: Final = frozenset({"project", "release", "cloud", "kubernetes", "arch"})
"""Parameters whose POST description differs from the query filters of the same name."""


def _junit(op: Operation) -> dict[str, Any]:
    responses = {
        "200": _answer(op, "Nothing new: the same result, or a newer one, is stored already."),
        "201": _answer(
            op,
            "Recorded: committed to the status repository.",
            headers={"Location": {"description": "The cell's history in this API.", "schema": LINK}},
        ),
        "400": _error("A missing or bad parameter (`parameter` names it) or XML that is not JUnit (`body`; the "
                      "message names the line)."),
        "401": _error("No or the wrong bearer token."),
        "405": _error("Only POST is allowed."),
        "413": _error(f"A body larger than {MAX_JUNIT_BYTES} bytes."),
        "502": _error("The status repository could not be written."),
        "503": _error("Submitting is turned off (no SUBMIT_TOKEN), or the status repository has not been read yet."),
    }  # fmt: skip
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "security": [{"submitToken": []}],
        "parameters": _query(op, submitted=_SUBMITTED),
        "requestBody": {
            "required": True,
            "description": "One JUnit XML document.",
            "content": {media: {"schema": {"type": "string"}} for media in ("application/xml", "text/xml")},
        },
        "responses": responses,
    }


def _results(op: Operation) -> dict[str, Any]:
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "security": [{"githubOidc": []}],
        "parameters": _query(op),
        "requestBody": {
            "required": True,
            "description": f"One record or a list of at most {oidc_submit.MAX_RECORDS} (schema/result.schema.json).",
            "content": {JSON: {"schema": {"oneOf": [ref("Record"), {"type": "array", "items": ref("Record")}]}}},
        },
        "responses": {
            "200": _answer(op, "Nothing new: every record was stored already (or a newer one)."),
            "201": _answer(op, "Recorded: committed to the status repository."),
            "400": _error("A body that is not records (the message names the record index and field), or an "
                          "unknown query parameter."),
            "401": _error("No token, or a token whose signature, issuer, audience or times are wrong (named)."),
            "403": _error("A record of a project the token's repository may not write (named)."),
            "405": _error("Only POST is allowed."),
            "413": _error(f"A body larger than {oidc_submit.MAX_BODY_BYTES // (1024 * 1024)} MB or more than "
                          f"{oidc_submit.MAX_RECORDS} records."),
            "503": _error("The issuer's keys or the status repository cannot be reached now (retry)."),
        },
    }  # fmt: skip


def _refresh(op: Operation) -> dict[str, Any]:
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "security": [{"refreshToken": []}],
        "parameters": _query(op),
        "requestBody": {"required": False, "content": {JSON: {"schema": ref("RefreshRequest")}}},
        "responses": {
            "202": _answer(op, "Dispatched: GitHub starts the run."),
            "400": _error("A body that is not a JSON object, bad inputs, or an unknown query parameter."),
            "401": _error("No or the wrong bearer token (or no REFRESH_TOKEN is set)."),
            "405": _error("Only POST is allowed."),
            "413": _error(f"A body larger than {nightly_refresh.MAX_BODY_BYTES} bytes."),
            "502": _error("GitHub refused the dispatch or could not be reached (the message says which)."),
            "503": _error("Nothing to dispatch: no NIGHTLY_REPOSITORY is set."),
        },
    }


def _alerts(op: Operation) -> dict[str, Any]:
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "parameters": _query(op),
        "responses": {
            "200": _answer(
                op,
                op.summary,
                headers={"Cache-Control": {"description": "`no-cache`.", "schema": {"type": "string"}}},
            ),
            "400": _error("An unknown query parameter; `parameter` names it."),
            "405": _error("Only GET (and HEAD) are allowed."),
        },
    }


# -- the table ---------------------------------------------------------------------------------------------------
_HISTORY_QUERY: Final = ("status", "since", "until", "limit", "cursor")
OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        "get", f"{PREFIX}/projects", configuration.projects, "listProjects", "Every project of the configuration",
        "ProjectList",
    ),
    Operation("get", f"{PREFIX}/projects/{{project}}", configuration.project, "getProject", "One project",
              "ProjectDetail"),
    Operation(
        "get", f"{PREFIX}/clouds", configuration.clouds, "listClouds", "Every cloud of the configuration", "CloudList"
    ),
    Operation(
        "get", f"{PREFIX}/cells", cells.cells, "listCells", "The current cells, as the dashboard shows them",
        "CellList",
        query=("project", "release", "cloud", "stage", "arch", "kubernetes"),
        description="The build, cloud and e2e cells of every active project and release for one test environment, "
        "in dashboard order: the same cells as `crosscloud status --json`.",
    ),
    Operation(
        "get", f"{PREFIX}/insight", cells.insight, "listInsight", "Every cell with what its history means",
        "InsightList",
        query=("project", "release", "cloud", "stage", "kind", "alerting"),
        description="Since when each cell fails, the release to roll back to, flakiness and its trend, and whose "
        "fault the current failure is; every test environment and architecture. `kind` and `alerting` find the "
        "cells to act on, e.g. `?alerting=true&kind=project`.",
    ),
    Operation(
        "get", f"{PREFIX}/history", history.history, "listHistory", "Results, newest first", "HistoryPage",
        query=("project", "release", "cloud", "stage", "arch", "environment", *_HISTORY_QUERY),
        description="Every version of every matching cell file. Pages are cut by `limit`; the `next` link (also "
        'sent as a `Link: <...>; rel="next"` header) continues exactly where the page ended. With `since` or '
        "`until` a page may hold fewer than `limit` entries (the scan per request is bounded): keep following "
        "`next` until it is null.",
    ),
    Operation(
        "get", f"{PREFIX}/history/{{project}}/{{release}}/build", history.build_history, "getBuildHistory",
        "The history of one build cell", "CellHistoryPage",
        query=("arch", *_HISTORY_QUERY),
        description="`arch` defaults to the project's first architecture.",
    ),
    Operation(
        "get", f"{PREFIX}/history/{{project}}/{{release}}/{{cloud}}/{{stage}}", history.cell_history,
        "getCellHistory", "The history of one cloud cell", "CellHistoryPage",
        query=("arch", "kubernetes", *_HISTORY_QUERY),
        description="`arch` defaults to the project's first architecture, `kubernetes` to stable (a cloud without "
        "Kubernetes has the one environment `host`).",
    ),
    Operation("get", f"{PREFIX}/openapi.json", openapi_document, "getOpenAPI", "This document", "OpenAPI"),
    Operation(
        "post", f"{PREFIX}/results/junit", junit_submit.submit_junit, "submitJUnit",
        "Record the JUnit XML of one test run as the e2e result of one cell", "JUnitImport",
        query=("project", "release", "cloud", "kubernetes", "arch", "url", "ref", "sha"),
        description="The body is one JUnit XML document (Jenkins, Maven Surefire, pytest, go-junit-report, "
        f"Kubernetes e2e through ginkgo) of at most {MAX_JUNIT_BYTES} bytes; a DOCTYPE is refused. It becomes the "
        "e2e record `crosscloud import junit` would make: `failed` when a test case failed or errored (or none "
        "ran), the counts and the first failing cases in `reason`. The record is committed to the status "
        "repository and a refresh is requested: the new result shows once it has run. Authorised by "
        "`Authorization: Bearer <SUBMIT_TOKEN>`.",
        required=("project", "release", "cloud"),
        describe=_junit,
    ),
    Operation(
        "post", f"{PREFIX}/results", oidc_submit.submit_results, "submitResults",
        "Record result records of a workflow run, authorised by its GitHub Actions OIDC token", "Submission",
        description="The action's `mode: oidc`. The token (RS256, from the configured issuer, for the configured "
        "audience, unexpired) names the repository of the run: every record must be of a project whose "
        "`repository` (and `repository_id`, when set) in cross-cloud.yml is that repository, else nothing is "
        "written (403). The records' `run` provenance is taken from the token's claims. All new records land "
        "in one commit.",
        describe=_results,
    ),
    Operation(
        "post", f"{PREFIX}/refresh", nightly_refresh.refresh, "dispatchNightly",
        "Start the nightly matrix now", "Dispatched",
        description="Dispatches the nightly workflow (`workflow_dispatch` of NIGHTLY_WORKFLOW on "
        "NIGHTLY_REPOSITORY) as the GitHub App, on `ref` (default main) with the workflow's `inputs`. Authorised "
        "by `Authorization: Bearer <REFRESH_TOKEN>`. `crosscloud trigger` does the same with a GitHub token.",
        describe=_refresh,
    ),
    Operation(
        "get", "/alerts.json", alerts.alerts_json, "listAlerts", "What the failure alerts keep", "AlertList",
        description="Whether the failure alerts are on (they need the GitHub App) and every issue they opened or "
        "found for a failing streak of a cell, with its state. It is read from the alerts' own store, not from "
        "the status repository: no ETag.",
        describe=_alerts,
    ),
    Operation(
        "get", "/check-runs.json", check_runs.check_runs_json, "listCheckRuns", "What the check runs did",
        "CheckRunList",
        description="Whether the check runs on projects' commits are on (they need the GitHub App) and, per cell "
        "group (a build, or a cloud's stages), the last thing done. It is read from the check runs' own store, "
        "not from the status repository: no ETag.",
        describe=_alerts,
    ),
)  # fmt: skip


# -- the document ------------------------------------------------------------------------------------------------
@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cross-Cloud CI history API",
            "version": VERSION,
            "description": "The projects and clouds of the status repository's cross-cloud.yml, the cells the "
            "dashboard shows and the history of every cell; the routes that record results (JUnit XML with a bearer "
            "token, result records with a GitHub Actions OIDC token), the one that starts the nightly matrix, and "
            "what the failure alerts keep. Every read of the status repository carries a strong ETag (answer "
            'If-None-Match with 304) and `Cache-Control: no-cache`; errors are `{"error": {"message": ..., '
            '"parameter": ...}}`.',
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": {op.path: {op.method: (op.describe or _read)(op)} for op in OPERATIONS},
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "submitToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The app's SUBMIT_TOKEN setting (CROSSCLOUD_SUBMIT_TOKEN).",
                },
                "githubOidc": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A GitHub Actions OIDC token (`permissions: id-token: write`).",
                },
                "refreshToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The app's REFRESH_TOKEN setting (CROSSCLOUD_REFRESH_TOKEN).",
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())


@functools.cache
def _document_tag() -> str:
    return hashlib.sha256(json.dumps(_document(), sort_keys=True).encode()).hexdigest()[:36]
