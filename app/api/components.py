"""The parts the OpenAPI document of the machine API is made of (``openapi`` puts them together with the
table of routes): its query and path parameters, and its schemas. The result record is described by
``schema/result.schema.json`` itself (loaded from the ``crosscloud.schema`` package), so the two never drift
apart; the allowed stages, statuses, releases and architectures come from the same vocabulary the core checks
records with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from crosscloud import schemas
from crosscloud.failure_kind import KINDS
from crosscloud.presentation import ERROR
from crosscloud.vocabulary import ARCHES, NAME_PATTERN, NO_KUBERNETES, RELEASES, STAGES, STATUSES
from crosscloud_app.github_app.failure_issue_store import STATES as ALERT_STATES
from crosscloud_app.github_app.workflow_dispatch import MAX_INPUTS as MAX_DISPATCH_INPUTS

PREFIX: Final = "/api/v1"
VERSION: Final = "1.0.0"
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


def json_alias(method: str, path: str) -> bool:
    """Whether a route is also answered at its path + ``.json``: a read of ``/api/v1`` without path parameters
    (``/api/v1/projects.json``), the file name ``crosscloud publish`` gives it (a static server cannot answer
    JSON at a path that is also a folder), so the API's index page links one address for the app and the
    published site. ``path`` as a Flask rule (``<name>``) or as the OpenAPI document writes it (``{name}``)."""
    no_parameters = "<" not in path and "{" not in path
    return method == "get" and path.startswith(f"{PREFIX}/") and no_parameters and not path.endswith(".json")


CELL_STATUSES: Final[tuple[str, ...]] = (*STATUSES, ERROR)
"""What a cell can show: a record status, or ``error`` when its file is not a valid record."""
ENVIRONMENTS: Final[tuple[str, ...]] = (*RELEASES, NO_KUBERNETES)
TRENDS: Final = ("improving", "steady", "worsening")
"""The trends ``crosscloud.insight.cell_insight`` names."""

JSON: Final = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, dict(schema)]}


NAME: Final = {"type": "string", "pattern": NAME_PATTERN}
TIME: Final = {"type": "string", "format": "date-time"}
LINK: Final = {"type": "string", "description": "A path on this server, with its query string."}

# -- parameters ---------------------------------------------------------------------------------------
PARAMETERS: Final[dict[str, dict[str, Any]]] = {
    "project": {"schema": NAME, "description": "Only this project (a key of cross-cloud.yml)."},
    "release": {"schema": {"enum": list(RELEASES)}, "description": "Only this release line."},
    "cloud": {"schema": NAME, "description": "Only this cloud (a key of cross-cloud.yml); builds have none."},
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
        "schema": TIME,
        "description": "Only results that started at or after this RFC 3339 time. A file that is not a valid record "
        "has no start time: its commit time is used instead.",
    },
    "until": {
        "schema": TIME,
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
    "project_submitted": {"schema": NAME, "description": "The project the tests are of (a key of cross-cloud.yml)."},
    "release_submitted": {"schema": {"enum": list(RELEASES)}, "description": "The release line that was tested."},
    "cloud_submitted": {"schema": NAME, "description": "The cloud the tests ran on (a key of cross-cloud.yml)."},
    "url": {"schema": {"type": "string", "format": "uri"}, "description": "The job that ran the tests."},
    "ref": {"schema": {"type": "string"}, "description": "Default: the release's ref in cross-cloud.yml."},
    "sha": {"schema": {"type": "string"}, "description": "The commit that was tested."},
    "cursor": {
        "schema": {"type": "string"},
        "description": "Where the page starts: the `next` link of the previous page carries it. Opaque.",
    },
}
PATH_PARAMETERS: Final[dict[str, dict[str, Any]]] = {
    "project": {"schema": NAME, "description": "A project key of cross-cloud.yml."},
    "release": {"schema": {"enum": list(RELEASES)}, "description": "The release line."},
    "cloud": {"schema": NAME, "description": "A cloud key of cross-cloud.yml."},
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
    "project": NAME,
    "release": {"enum": list(RELEASES)},
    "arch": {"enum": list(ARCHES)},
    "stage": {"enum": list(STAGES)},
    "cloud": nullable(NAME),
    "environment": nullable({"enum": list(ENVIRONMENTS)}),
}
_STORED: Final[dict[str, Any]] = {
    "started_at": nullable(TIME),
    "finished_at": nullable(TIME),
    "ref": {"type": ["string", "null"]},
    "sha": {"type": ["string", "null"]},
    "url": {"type": ["string", "null"]},
}


_RATIO: Final = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_INSIGHT: Final[dict[str, Any]] = {
    **_KEY_PROPERTIES,
    "latest_status": nullable({"enum": list(STATUSES)}),
    "failing_since": nullable(ref("Run")),
    "last_success": nullable(ref("Run")),
    "consecutive_failures": {"type": "integer", "minimum": 0},
    "failure_kind": nullable({"enum": list(KINDS)}),
    "flakiness": _RATIO,
    "previous_flakiness": _RATIO,
    "trend": nullable({"enum": list(TRENDS)}),
    "window_runs": {"type": "integer", "minimum": 0},
    "failures_by_kind": {
        "type": "object",
        "description": "Failures in the last window by kind (broken streaks included).",
        "additionalProperties": False,
        "required": list(KINDS),
        "properties": {kind: {"type": "integer", "minimum": 0} for kind in KINDS},
    },
    "last_finished": nullable(ref("Run")),
}
_INSIGHT_DESCRIPTION: Final = (
    "What a cell's history means. Runs are final results (`success`; `failed`, `timed_out` and `infra_failed` "
    "are failures; `cancelled` is no run). `failing_since`: the first failure after the last success (null "
    "while the newest run passed); `last_success`: the newest pass, the release to roll back to; `flakiness`: "
    "TestGrid's, flips to failure over the runs of the last `settings.flakiness_window` runs once streaks of "
    "three or more failures are set aside; `trend` compares it with the window before; `failure_kind`: whose "
    "fault the newest failure of the current streak is; `last_finished`: the newest final result (what a badge "
    "shows while the cell runs again)."
)


def _object(properties: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }


def component_schemas() -> dict[str, Any]:
    links = _object({"self": LINK, "cells": LINK, "history": LINK}, "Where to find more about the project in this API.")
    project = _object(
        {
            "name": NAME,
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
            "links": ref("ProjectLinks"),
        },
        "A project of cross-cloud.yml.",
    )
    cloud = _object(
        {
            "name": NAME,
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
            "stored_status": nullable({"enum": list(STATUSES)}),
            "stale": {"type": "boolean"},
            "note": {"type": ["string", "null"], "description": "Why the cell shows what it shows, when not obvious."},
            **_STORED,
            "error": {"type": ["string", "null"], "description": "Why the cell's file is not a valid record."},
            "history": LINK,
            "insight": nullable(ref("CellInsight")),
        },
        "One cell as the dashboard shows it, with the stored result behind it. `url` is the job behind what is "
        "shown (null when the cell shows something else than the stored result).",
    )
    entry = _object(
        {
            **_KEY_PROPERTIES,
            "status": nullable({"$ref": "#/components/schemas/Record/properties/status"}),
            **_STORED,
            "reason": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"], "description": "Why this version of the file is not a valid record."},
            "commit": {"type": "string", "pattern": "^[0-9a-f]{40,64}$"},
            "committed_at": TIME,
            "path": {"type": "string"},
        },
        "One version of one cell file of the status repository: a result as it was recorded.",
    )
    commit = {"type": "string", "description": "The status repository commit the answer was computed from."}
    page = {"entries": {"type": "array", "items": ref("HistoryEntry")}, "next": nullable(LINK)}
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
            {"commit": commit, "projects": {"type": "array", "items": ref("Project")}}, "Every configured project."
        ),
        "ProjectDetail": _object({"commit": commit, "project": ref("Project")}, "One project."),
        "Cloud": cloud,
        "CloudList": _object(
            {"commit": commit, "clouds": {"type": "array", "items": ref("Cloud")}}, "Every configured cloud."
        ),
        "Cell": cell,
        "CellList": _object(
            {
                "commit": commit,
                "kubernetes": {"enum": list(RELEASES)},
                "arch": nullable({"enum": list(ARCHES)}),
                "cells": {"type": "array", "items": ref("Cell")},
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
                "history": LINK,
            },
            _INSIGHT_DESCRIPTION,
        ),
        "InsightList": _object(
            {
                "commit": commit,
                "alert_after_failures": {"type": "integer", "minimum": 1},
                "flakiness_window": {"type": "integer", "minimum": 1},
                "cells": {"type": "array", "items": ref("InsightCell")},
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
                "commit": nullable({"type": "string", "pattern": "^[0-9a-f]{40,64}$"}),
                "path": {"type": "string", "description": "The cell file in the status repository."},
                "record": ref("Record"),
            },
            "What a JUnit XML submission became: one e2e record, the same `crosscloud import junit` makes.",
        ),
        "Submission": _object(
            {
                "commit": nullable({"type": "string", "pattern": "^[0-9a-f]{40,64}$"}),
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
            {"commit": commit, "cell": ref("Cell"), **page},
            "One cell: what it shows now, and its results, newest first.",
        ),
        "RefreshRequest": {
            "type": "object",
            "description": "What to run; both are optional.",
            "properties": {
                "ref": {"type": "string", "description": "The branch or tag to run on (default main)."},
                "inputs": {
                    "type": "object",
                    "description": f"The workflow's inputs (at most {MAX_DISPATCH_INPUTS}).",
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "Dispatched": _object(
            {
                "dispatched": _object(
                    {
                        "repository": {"type": "string", "description": "owner/name"},
                        "workflow": {"type": "string"},
                        "ref": {"type": "string"},
                        "inputs": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "The workflow run GitHub was asked for.",
                )
            },
            "The nightly workflow was dispatched; its run shows on GitHub.",
        ),
        "Alert": _object(
            {
                "cell": {"type": "string", "description": "The cell's file in the status repository."},
                "repository": {"type": "string", "description": "owner/name the issue is on."},
                "issue": {"type": "integer"},
                "url": {"type": "string"},
                "state": {"enum": list(ALERT_STATES)},
                "opened_at": TIME,
                "reported_failures": {"type": "integer", "minimum": 0},
                "closed_at": nullable(TIME),
            },
            "The issue of one failing streak of one cell: `open`, `closed` (green again) or `dismissed` (closed "
            "by somebody else while the cell still failed).",
        ),
        "AlertList": _object(
            {
                "enabled": {"type": "boolean", "description": "False when the GitHub App is not configured."},
                "alerts": {"type": "array", "items": ref("Alert")},
            },
            "What the failure alerts keep, oldest first.",
        ),
        "CheckRunGroup": _object(
            {
                "group": {"type": "string", "description": "The cell group's path: a build, or a cloud's stages."},
                "outcome": {
                    "type": "string",
                    "description": "`posted`; skipped: `no-commit`, `unknown-commit`, `not-installed`; `old` "
                    "(older than the stale limit).",
                },
                "repository": nullable({"type": "string", "description": "owner/name the check run is on."}),
                "check_run": nullable({"type": "integer"}),
                "external_id": nullable({"type": "string"}),
            },
            "The last thing done for one cell group.",
        ),
        "CheckRunList": _object(
            {
                "enabled": {"type": "boolean", "description": "False when the GitHub App is not configured."},
                "groups": {"type": "array", "items": ref("CheckRunGroup")},
            },
            "What the check runs did, by cell group.",
        ),
        "Record": _record_schema(),
    }
