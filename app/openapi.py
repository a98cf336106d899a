"""The OpenAPI 3.1 description of the history API ``/api/v1``: every route, parameter and response.

Every route is a GET but ``POST /results/junit``, which records a JUnit XML body (bearer token ``submitToken``),
and ``POST /results`` (``app/submit.py``), which records result records with a GitHub Actions OIDC token.
The document is also what the API checks requests against: ``query_parameters`` says which query
parameters a route accepts, so a parameter cannot be served without being documented (and the API's
tests validate real responses against the schemas here). The result record is described by
``schema/result.schema.json`` itself (loaded from the ``crosscloud.schema`` package), so the two never
drift apart; the allowed stages, statuses, releases and architectures come from the same file."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from crosscloud import schemas
from crosscloud.failure_kind import KINDS
from crosscloud.junit import MAX_JUNIT_BYTES
from crosscloud.vocabulary import ARCHES, NAME_PATTERN, NO_KUBERNETES, RELEASES, STAGES, STATUSES

PREFIX: Final = "/api/v1"
VERSION: Final = "1.0.0"
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
CELL_STATUSES: Final[tuple[str, ...]] = (*STATUSES, "error")
"""What a cell can show: a record status, or ``error`` when its file is not a valid record."""
ENVIRONMENTS: Final[tuple[str, ...]] = (*RELEASES, NO_KUBERNETES)
TRENDS: Final = ("improving", "steady", "worsening")
"""The trends ``crosscloud.insight.cell_insight`` names."""

_JSON: Final = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, dict(schema)]}


_NAME: Final = {"type": "string", "pattern": NAME_PATTERN}
_TIME: Final = {"type": "string", "format": "date-time"}
_LINK: Final = {"type": "string", "description": "A path on this server, with its query string."}

# -- parameters ---------------------------------------------------------------------------------------
_PARAMETERS: Final[dict[str, dict[str, Any]]] = {
    "project": {"schema": _NAME, "description": "Only this project (a key of cross-cloud.yml)."},
    "release": {"schema": {"enum": list(RELEASES)}, "description": "Only this release line."},
    "cloud": {"schema": _NAME, "description": "Only this cloud (a key of cross-cloud.yml); builds have none."},
    "stage": {"schema": {"enum": list(STAGES)}, "description": "Only this pipeline stage."},
    "status": {"schema": {"enum": list(STATUSES)}, "description": "Only results with this stored status."},
    "arch": {"schema": {"enum": list(ARCHES)}, "description": "Only this CPU architecture."},
    "environment": {
        "schema": {"enum": list(ENVIRONMENTS)},
        "description": "Only this test environment: the Kubernetes release of the cluster, or `host` on a cloud "
        "that runs projects on the host. Builds have none.",
    },
    "kubernetes": {
        "schema": {"enum": list(RELEASES), "default": "stable"},
        "description": "The Kubernetes release of the test environment (clouds without Kubernetes use `host`).",
    },
    "since": {
        "schema": _TIME,
        "description": "Only results that started at or after this RFC 3339 time. A file that is not a valid record "
        "has no start time: its commit time is used instead.",
    },
    "until": {
        "schema": _TIME,
        "description": "Only results that started before this RFC 3339 time (same rule as `since`).",
    },
    "limit": {
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "description": "At most this many entries in one page.",
    },
    "kind": {
        "schema": {"enum": list(KINDS)},
        "description": "Only cells failing now whose failure is of this kind: `infrastructure` (the cloud or the "
        "test environment), `project`, or `unknown`.",
    },
    "alerting": {
        "schema": {"enum": ["true", "false"]},
        "description": "Only cells that fail (`true`) or do not fail (`false`) at least "
        "`settings.alert_after_failures` times in a row.",
    },
    "kubernetes_submitted": {
        "schema": {"enum": list(RELEASES)},
        "description": "The Kubernetes release of the test cluster (default stable); none on a cloud that runs "
        "projects on the host.",
    },
    "arch_submitted": {"schema": {"enum": list(ARCHES)}, "description": "Default: the project's first."},
    "project_submitted": {"schema": _NAME, "description": "The project the tests are of (a key of cross-cloud.yml)."},
    "release_submitted": {"schema": {"enum": list(RELEASES)}, "description": "The release line that was tested."},
    "cloud_submitted": {"schema": _NAME, "description": "The cloud the tests ran on (a key of cross-cloud.yml)."},
    "url": {"schema": {"type": "string", "format": "uri"}, "description": "The job that ran the tests."},
    "ref": {"schema": {"type": "string"}, "description": "Default: the release's ref in cross-cloud.yml."},
    "sha": {"schema": {"type": "string"}, "description": "The commit that was tested."},
    "cursor": {
        "schema": {"type": "string"},
        "description": "Where the page starts: the `next` link of the previous page carries it. Opaque.",
    },
}
_PATH_PARAMETERS: Final[dict[str, dict[str, Any]]] = {
    "project": {"schema": _NAME, "description": "A project key of cross-cloud.yml."},
    "release": {"schema": {"enum": list(RELEASES)}, "description": "The release line."},
    "cloud": {"schema": _NAME, "description": "A cloud key of cross-cloud.yml."},
    "stage": {"schema": {"enum": [s for s in STAGES if s != "build"]}, "description": "A stage that runs on a cloud."},
}


# -- schemas ------------------------------------------------------------------------------------------
def _record_schema() -> dict[str, Any]:
    """``schema/result.schema.json`` as an OpenAPI component: its local references point into the component."""
    text = json.dumps(schemas.load(schemas.RESULT))
    document: dict[str, Any] = json.loads(text.replace('"#/$defs/', '"#/components/schemas/Record/$defs/'))
    for key in ("$schema", "$id"):
        document.pop(key, None)
    return document


_KEY_PROPERTIES: Final[dict[str, Any]] = {
    "project": _NAME,
    "release": {"enum": list(RELEASES)},
    "arch": {"enum": list(ARCHES)},
    "stage": {"enum": list(STAGES)},
    "cloud": _nullable(_NAME),
    "environment": _nullable({"enum": list(ENVIRONMENTS)}),
}
_STORED: Final[dict[str, Any]] = {
    "started_at": _nullable(_TIME),
    "finished_at": _nullable(_TIME),
    "ref": {"type": ["string", "null"]},
    "sha": {"type": ["string", "null"]},
    "url": {"type": ["string", "null"]},
}


_RATIO: Final = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_INSIGHT: Final[dict[str, Any]] = {
    **_KEY_PROPERTIES,
    "latest_status": _nullable({"enum": list(STATUSES)}),
    "failing_since": _nullable(_ref("Run")),
    "last_success": _nullable(_ref("Run")),
    "consecutive_failures": {"type": "integer", "minimum": 0},
    "failure_kind": _nullable({"enum": list(KINDS)}),
    "flakiness": _RATIO,
    "previous_flakiness": _RATIO,
    "trend": _nullable({"enum": list(TRENDS)}),
    "window_runs": {"type": "integer", "minimum": 0},
    "failures_by_kind": {
        "type": "object",
        "description": "Failures in the last window by kind (broken streaks included).",
        "additionalProperties": False,
        "required": list(KINDS),
        "properties": {kind: {"type": "integer", "minimum": 0} for kind in KINDS},
    },
}
_INSIGHT_DESCRIPTION: Final = (
    "What a cell's history means. Runs are final results (`success`; `failed`, `timed_out` and `infra_failed` "
    "are failures; `cancelled` is no run). `failing_since`: the first failure after the last success (null "
    "while the newest run passed); `last_success`: the newest pass, the release to roll back to; `flakiness`: "
    "TestGrid's, flips to failure over the runs of the last `settings.flakiness_window` runs once streaks of "
    "three or more failures are set aside; `trend` compares it with the window before; `failure_kind`: whose "
    "fault the newest failure of the current streak is."
)


def _object(properties: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }


def _schemas() -> dict[str, Any]:
    links = _object(
        {"self": _LINK, "cells": _LINK, "history": _LINK}, "Where to find more about the project in this API."
    )
    project = _object(
        {
            "name": _NAME,
            "display_name": {"type": "string"},
            "sub_title": {"type": ["string", "null"]},
            "cncf_relation": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
            "app_layer": {"type": "boolean", "description": "False for Kubernetes itself: the test environment."},
            "arch": {"type": "array", "items": {"enum": list(ARCHES)}},
            "releases": {"type": "array", "items": {"enum": list(RELEASES)}},
            "refs": {
                "type": "object",
                "description": "The configured ref of each release (`stable_ref`, `head_ref`).",
                "additionalProperties": False,
                "properties": {r: {"type": ["string", "null"]} for r in RELEASES},
            },
            "repository_url": {"type": ["string", "null"]},
            "links": _ref("ProjectLinks"),
        },
        "A project of cross-cloud.yml.",
    )
    cloud = _object(
        {
            "name": _NAME,
            "display_name": {"type": "string"},
            "active": {"type": "boolean"},
            "order": {"type": "integer"},
            "kubernetes": {"type": "boolean", "description": "False when projects run on the host (no cluster)."},
            "arch": {"type": "array", "items": {"enum": list(ARCHES)}},
            "region": {"type": ["string", "null"]},
        },
        "A cloud of cross-cloud.yml.",
    )
    cell = _object(
        {
            **_KEY_PROPERTIES,
            "status": {"enum": list(CELL_STATUSES), "description": "What the cell shows (the dashboard's rules)."},
            "stored_status": _nullable({"enum": list(STATUSES)}),
            "stale": {"type": "boolean"},
            "note": {"type": ["string", "null"], "description": "Why the cell shows what it shows, when not obvious."},
            **_STORED,
            "error": {"type": ["string", "null"], "description": "Why the cell's file is not a valid record."},
            "history": _LINK,
            "insight": _nullable(_ref("CellInsight")),
        },
        "One cell as the dashboard shows it, with the stored result behind it. `url` is the job behind what is "
        "shown (null when the cell shows something else than the stored result).",
    )
    entry = _object(
        {
            **_KEY_PROPERTIES,
            "status": _nullable({"$ref": "#/components/schemas/Record/properties/status"}),
            **_STORED,
            "reason": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"], "description": "Why this version of the file is not a valid record."},
            "commit": {"type": "string", "pattern": "^[0-9a-f]{40,64}$"},
            "committed_at": _TIME,
            "path": {"type": "string"},
        },
        "One version of one cell file of the status repository: a result as it was recorded.",
    )
    commit = {"type": "string", "description": "The status repository commit the answer was computed from."}
    page = {"entries": {"type": "array", "items": _ref("HistoryEntry")}, "next": _nullable(_LINK)}
    return {
        "Error": _object(
            {
                "error": {
                    "type": "object",
                    "description": "What is wrong, and the parameter at fault when there is one.",
                    "additionalProperties": False,
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "parameter": {"type": ["string", "null"]},
                        "claim": {"type": "string", "description": "POST /results: the token claim at fault."},
                        "record": {"type": "integer", "description": "POST /results: the index of the bad record."},
                        "field": {"type": ["string", "null"], "description": "POST /results: its field."},
                        "project": {"type": "string", "description": "POST /results: the project not allowed."},
                    },
                }
            },
            "An error.",
        ),
        "ProjectLinks": links,
        "Project": project,
        "ProjectList": _object(
            {"commit": commit, "projects": {"type": "array", "items": _ref("Project")}}, "Every configured project."
        ),
        "ProjectDetail": _object({"commit": commit, "project": _ref("Project")}, "One project."),
        "Cloud": cloud,
        "CloudList": _object(
            {"commit": commit, "clouds": {"type": "array", "items": _ref("Cloud")}}, "Every configured cloud."
        ),
        "Cell": cell,
        "CellList": _object(
            {
                "commit": commit,
                "kubernetes": {"enum": list(RELEASES)},
                "arch": _nullable({"enum": list(ARCHES)}),
                "cells": {"type": "array", "items": _ref("Cell")},
            },
            "The dashboard's cells for one test environment (`arch` null: each project's first arch).",
        ),
        "Run": _object(
            {
                "status": {"enum": list(STATUSES)},
                "time": {"type": "string", "description": "When it finished (when it started, without a finish)."},
                "ref": {"type": ["string", "null"]},
                "sha": {"type": ["string", "null"]},
                "url": {"type": ["string", "null"], "description": "The job that produced it."},
                "commit": {"type": "string", "description": "The status repository commit that recorded it."},
                "reason": {"type": ["string", "null"]},
            },
            "One run of a cell, to link to.",
        ),
        "CellInsight": _object(_INSIGHT, _INSIGHT_DESCRIPTION),
        "InsightCell": _object(
            {
                **_INSIGHT,
                "alerting": {
                    "type": "boolean",
                    "description": "At least `alert_after_failures` consecutive failures.",
                },
                "history": _LINK,
            },
            _INSIGHT_DESCRIPTION,
        ),
        "InsightList": _object(
            {
                "commit": commit,
                "alert_after_failures": {"type": "integer", "minimum": 1},
                "flakiness_window": {"type": "integer", "minimum": 1},
                "cells": {"type": "array", "items": _ref("InsightCell")},
            },
            "Every cell with a result, in status repository path order, with what its history means.",
        ),
        "JUnitImport": _object(
            {
                "outcome": {
                    "enum": ["written", "unchanged", "superseded"],
                    "description": "`written` (201): committed; `unchanged`: the same result is stored already; "
                    "`superseded`: a newer result of the cell is stored, which stays.",
                },
                "commit": _nullable({"type": "string", "pattern": "^[0-9a-f]{40,64}$"}),
                "path": {"type": "string", "description": "The cell file in the status repository."},
                "record": _ref("Record"),
            },
            "What a JUnit XML submission became: one e2e record, the same `crosscloud import junit` makes.",
        ),
        "Submission": _object(
            {
                "commit": _nullable({"type": "string", "pattern": "^[0-9a-f]{40,64}$"}),
                "repository": {"type": "string", "description": "The token's repository (owner/name)."},
                **{
                    outcome: {"type": "array", "items": {"type": "string"}, "description": description}
                    for outcome, description in (
                        ("written", "Cell files committed now."),
                        ("unchanged", "Cell files that held the same result already."),
                        ("superseded", "Cell files that hold a newer result, which stays."),
                    )
                },
            },
            "What a keyless submission became: one commit for every record that was new.",
        ),
        "HistoryEntry": entry,
        "HistoryPage": _object({"commit": commit, **page}, "Results, newest first; follow `next` for older ones."),
        "CellHistoryPage": _object(
            {"commit": commit, "cell": _ref("Cell"), **page},
            "One cell: what it shows now, and its results, newest first.",
        ),
        "Record": _record_schema(),
    }


# -- operations ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    path: str
    """The OpenAPI path (``{name}`` for a path parameter)."""
    operation_id: str
    summary: str
    response: str
    query: tuple[str, ...] = ()
    description: str = ""
    method: str = "get"
    required: tuple[str, ...] = ()
    """Query parameters that must be given."""

    @property
    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


_HISTORY_QUERY: Final = ("status", "since", "until", "limit", "cursor")
OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(f"{PREFIX}/projects", "listProjects", "Every project of the configuration", "ProjectList"),
    Operation(f"{PREFIX}/projects/{{project}}", "getProject", "One project", "ProjectDetail"),
    Operation(f"{PREFIX}/clouds", "listClouds", "Every cloud of the configuration", "CloudList"),
    Operation(
        f"{PREFIX}/cells",
        "listCells",
        "The current cells, as the dashboard shows them",
        "CellList",
        ("project", "release", "cloud", "stage", "arch", "kubernetes"),
        "The build, cloud and e2e cells of every active project and release for one test environment, in "
        "dashboard order: the same cells as `crosscloud status --json`.",
    ),
    Operation(
        f"{PREFIX}/insight",
        "listInsight",
        "Every cell with what its history means",
        "InsightList",
        ("project", "release", "cloud", "stage", "kind", "alerting"),
        "Since when each cell fails, the release to roll back to, flakiness and its trend, and whose fault the "
        "current failure is; every test environment and architecture. `kind` and `alerting` find the cells "
        "to act on, e.g. `?alerting=true&kind=project`.",
    ),
    Operation(
        f"{PREFIX}/history",
        "listHistory",
        "Results, newest first",
        "HistoryPage",
        ("project", "release", "cloud", "stage", "arch", "environment", *_HISTORY_QUERY),
        "Every version of every matching cell file. Pages are cut by `limit`; the `next` link (also sent as "
        'a `Link: <...>; rel="next"` header) continues exactly where the page ended. With `since` or `until` '
        "a page may hold fewer than `limit` entries (the scan per request is bounded): keep following `next` "
        "until it is null.",
    ),
    Operation(
        f"{PREFIX}/history/{{project}}/{{release}}/build",
        "getBuildHistory",
        "The history of one build cell",
        "CellHistoryPage",
        ("arch", *_HISTORY_QUERY),
        "`arch` defaults to the project's first architecture.",
    ),
    Operation(
        f"{PREFIX}/history/{{project}}/{{release}}/{{cloud}}/{{stage}}",
        "getCellHistory",
        "The history of one cloud cell",
        "CellHistoryPage",
        ("arch", "kubernetes", *_HISTORY_QUERY),
        "`arch` defaults to the project's first architecture, `kubernetes` to stable (a cloud without "
        "Kubernetes has the one environment `host`).",
    ),
    Operation(f"{PREFIX}/openapi.json", "getOpenAPI", "This document", "OpenAPI"),
    Operation(
        f"{PREFIX}/results/junit",
        "submitJUnit",
        "Record the JUnit XML of one test run as the e2e result of one cell",
        "JUnitImport",
        ("project", "release", "cloud", "kubernetes", "arch", "url", "ref", "sha"),
        "The body is one JUnit XML document (Jenkins, Maven Surefire, pytest, go-junit-report, Kubernetes e2e "
        f"through ginkgo) of at most {MAX_JUNIT_BYTES} bytes; a DOCTYPE is refused. It becomes the e2e record "
        "`crosscloud import junit` would make: `failed` when a test case failed or errored (or none ran), the "
        "counts and the first failing cases in `reason`. The record is committed to the status repository and "
        "a refresh is requested: the new result shows once it has run. Authorised by `Authorization: Bearer "
        "<SUBMIT_TOKEN>`.",
        method="post",
        required=("project", "release", "cloud"),
    ),
)
_SUBMITTED: Final = {"project", "release", "cloud", "kubernetes", "arch"}
"""Parameters whose POST description differs from the query filters of the same name."""


def query_parameters(path: str) -> frozenset[str]:
    """The query parameters the operation at OpenAPI ``path`` accepts."""
    for operation in OPERATIONS:
        if operation.path == path:
            return frozenset(operation.query)
    raise KeyError(path)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref("Error")}}}


def _submit_operation(op: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": name in op.required,
            **_PARAMETERS[f"{name}_submitted" if name in _SUBMITTED else name],
        }
        for name in op.query
    ]
    answer = {"content": {_JSON: {"schema": _ref(op.response)}}}
    responses = {
        "200": {"description": "Nothing new: the same result, or a newer one, is stored already.", **answer},
        "201": {
            "description": "Recorded: committed to the status repository.",
            "headers": {"Location": {"description": "The cell's history in this API.", "schema": _LINK}},
            **answer,
        },
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
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "description": "One JUnit XML document.",
            "content": {media: {"schema": {"type": "string"}} for media in ("application/xml", "text/xml")},
        },
        "responses": responses,
    }


def _results_operation() -> dict[str, Any]:
    """``POST /results`` (``app/submit.py``): records with a GitHub Actions OIDC token, no shared secret."""
    answer = {"content": {_JSON: {"schema": _ref("Submission")}}}
    return {
        "operationId": "submitResults",
        "summary": "Record result records of a workflow run, authorised by its GitHub Actions OIDC token",
        "description": "The action's `mode: oidc`. The token (RS256, from the configured issuer, for the configured "
        "audience, unexpired) names the repository of the run: every record must be of a project whose "
        "`repository` (and `repository_id`, when set) in cross-cloud.yml is that repository, else nothing is "
        "written (403). The records' `run` provenance is taken from the token's claims. All new records land "
        "in one commit.",
        "security": [{"githubOidc": []}],
        "parameters": [],
        "requestBody": {
            "required": True,
            "description": "One record or a list of at most 256 (schema/result.schema.json).",
            "content": {_JSON: {"schema": {"oneOf": [_ref("Record"), {"type": "array", "items": _ref("Record")}]}}},
        },
        "responses": {
            "200": {"description": "Nothing new: every record was stored already (or a newer one).", **answer},
            "201": {"description": "Recorded: committed to the status repository.", **answer},
            "400": _error("A body that is not records; the message names the record index and field."),
            "401": _error("No token, or a token whose signature, issuer, audience or times are wrong (named)."),
            "403": _error("A record of a project the token's repository may not write (named)."),
            "405": _error("Only POST is allowed."),
            "413": _error("A body larger than 4 MB or more than 256 records."),
            "503": _error("The issuer's keys or the status repository cannot be reached now (retry)."),
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    if op.method == "post":
        return _submit_operation(op)
    parameters = [
        {"name": name, "in": "path", "required": True, **_PATH_PARAMETERS[name]} for name in op.path_parameters
    ] + [{"name": name, "in": "query", "required": False, **_PARAMETERS[name]} for name in op.query]
    ok: dict[str, Any] = {
        "description": op.summary,
        "headers": {
            "ETag": {
                "description": "Strong: the status repository commit and the query.",
                "schema": {"type": "string"},
            },
            "Cache-Control": {
                "description": "`no-cache`: revalidate with If-None-Match.",
                "schema": {"type": "string"},
            },
        },
        "content": {_JSON: {"schema": {"type": "object"} if op.response == "OpenAPI" else _ref(op.response)}},
    }
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
        "parameters": parameters,
        "responses": dict(sorted(responses.items())),
    }


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cross-Cloud CI history API",
            "version": VERSION,
            "description": "The projects and clouds of the status repository's cross-cloud.yml, the "
            "cells the dashboard shows and the history of every cell, and one route that records the JUnit XML of a "
            "test run (with a bearer token). Every GET answer carries a strong ETag (answer "
            "If-None-Match with 304) and `Cache-Control: no-cache`; errors are "
            '`{"error": {"message": ..., "parameter": ...}}`.',
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": {
            **{op.path: {op.method: _operation(op)} for op in OPERATIONS},
            f"{PREFIX}/results": {"post": _results_operation()},
        },
        "components": {
            "schemas": _schemas(),
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
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
