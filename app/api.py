"""The history API ``/api/v1``: projects, clouds, the current cells and every result ever recorded, as JSON.

For machines what the dashboard is for people, from the same snapshot and the same cell rules, so the
API's cells are the cells of ``crosscloud status --json``. The routes, parameters and response schemas
are described once, in ``crosscloud_app.openapi`` (served at ``/api/v1/openapi.json``); a query parameter
the document does not list is refused.

- **Caching.** Every answer has ``Cache-Control: no-cache`` and a strong ETag made of the status
  repository commit it was computed from and the query, and answers ``If-None-Match`` with 304. Cells can
  become stale without a new commit (staleness moves with the clock), so their ETag also covers what
  they show.
- **Pagination.** History is ordered by the index's sequence number (newest first); a page ends at a
  sequence number and the opaque ``cursor`` of the ``next`` link continues below it, so walking every page
  never skips or repeats an entry, even while new results arrive.
- **Insight.** Every cell carries ``insight`` (``crosscloud.insight``: failing since, the last success to
  roll back to, flakiness and its trend, the failure kind), computed from the same snapshot, so it changes
  only with a new commit; ``/insight`` lists the cells by it (alerting ones, infrastructure failures ...).
- **Submitting.** ``POST /results/junit`` is the one route that writes: a JUnit XML body becomes the e2e
  record of one cell exactly as ``crosscloud import junit`` makes it (``crosscloud.junit.junit_record``),
  committed to the status repository with the ``StatusRepoWriter``; then a refresh is requested. It needs
  ``Authorization: Bearer <SUBMIT_TOKEN>`` (compared in constant time) and answers 503 while the setting
  is unset.
- **Time windows.** ``since``/``until`` compare the record's ``started_at`` (when the result happened,
  which is what "when did it go red" asks), or the commit time for a file that is not a valid record.
  The index cannot filter on time yet, so matching entries are picked from a bounded scan per request;
  a page may then be short, and ``next`` says where to go on."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.cell_rules import CellView, environment
from crosscloud.config import Cloud, Config, Project
from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud.insight import KINDS, CellInsight
from crosscloud.junit import MAX_JUNIT_BYTES, junit_record, parse_junit
from crosscloud.records import CellKey, format_time, parse_time
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud.vocabulary import ARCHES, CLOUD_STAGES, RELEASES, STAGES, STATUSES
from crosscloud_app import openapi
from crosscloud_app.openapi import DEFAULT_LIMIT, ENVIRONMENTS, MAX_LIMIT, PREFIX
from crosscloud_app.web import metrics, settings
from crosscloud_app.web.status_state import Snapshot, get_state

bp = Blueprint("api", __name__, url_prefix=PREFIX)

SCAN_ROWS = 5000
"""At most this many index rows are read for one page of a time-window query (see the module doc)."""
_SCAN_BATCH = 500
_CURSOR_RE = re.compile(r"seq:([1-9][0-9]{0,17})")
SUBMIT_MAX_BYTES = MAX_JUNIT_BYTES
"""The largest JUnit XML body accepted (413 above it)."""
BODY_SOURCE: Final = "the request body"
"""How errors about the submitted XML name it (with the line: ``the request body:7: ...``)."""

metrics.describe("crosscloud_junit_submissions_total", "JUnit XML submissions, by outcome.")


class ApiError(Exception):
    """An answer other than 200: ``status``, a message, and the parameter at fault when there is one."""

    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    response = jsonify({"error": {"message": exc.message, "parameter": exc.parameter}})
    response.status_code = exc.status
    response.headers["Cache-Control"] = "no-cache"
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crosscloud"'
    return response


# -- query parameters ---------------------------------------------------------------------------------
def _args(path: str) -> dict[str, str]:
    """The query of this request, checked against what the operation at OpenAPI ``path`` documents."""
    allowed = openapi.query_parameters(path)
    for name in request.args:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, f"unknown query parameter {_shown(name)}; this route takes: {known}", name)
        if len(request.args.getlist(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} is given more than once", name)
    return dict(request.args.items())


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _choice(args: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    """The value of ``name`` if it is one of ``allowed`` (None when absent), else 400."""
    value = args.get(name)
    if value is None or value in allowed:
        return value
    raise ApiError(400, f"bad {name} {_shown(value)}: use one of {', '.join(allowed)}", name)


def _known(args: Mapping[str, str], name: str, config: Config) -> str | None:
    """A project or cloud name given as a query parameter, judged against the configuration (400)."""
    value = args.get(name)
    names = config.projects if name == "project" else config.clouds
    if value is None or value in names:
        return value
    raise ApiError(400, f"unknown {name} {_shown(value)} in cross-cloud.yml; known: {', '.join(names)}", name)


def _limit(args: Mapping[str, str]) -> int:
    value = args.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiError(400, f"bad limit {_shown(value)}: use a whole number from 1 to {MAX_LIMIT}", "limit")
    return int(value)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    """The sequence number a cursor continues below, or 400 (a cursor is only ever made by this API)."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _CURSOR_RE.fullmatch(text)
    if match is None:
        raise ApiError(400, f"bad cursor {_shown(value)}: use the `next` link of a previous page", "cursor")
    return int(match.group(1))


@dataclass(frozen=True)
class Window:
    """``since <= started < until`` (either side open)."""

    since: datetime | None
    until: datetime | None

    def contains(self, entry: Entry) -> bool:
        started = _started(entry)
        return (self.since is None or started >= self.since) and (self.until is None or started < self.until)


def _started(entry: Entry) -> datetime:
    """When a result happened: its ``started_at``, or the commit time for a file that is not a record."""
    if entry.started_at is not None:
        try:
            return parse_time(entry.started_at)
        except ValueError:
            pass
    return datetime.fromtimestamp(entry.committed_at, UTC)


def _window(args: Mapping[str, str]) -> Window | None:
    bounds: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        value = args.get(name)
        try:
            bounds[name] = None if value is None else parse_time(value)
        except ValueError:
            message = f"bad {name} {_shown(value or '')}: use an RFC 3339 time with a zone, e.g. 2026-01-31T08:00:00Z"
            raise ApiError(400, message, name) from None
    since, until = bounds["since"], bounds["until"]
    if since is not None and until is not None and since >= until:
        raise ApiError(400, "since must be earlier than until", "since")
    return None if since is None and until is None else Window(since, until)


# -- answers ------------------------------------------------------------------------------------------
def _snapshot() -> Snapshot:
    return get_state().snapshot()


def _etag(commit: str, *extra: Any) -> str:
    """Strong: the same commit, path, query (in any order) and ``extra`` give the same tag."""
    basis = [commit, request.path, sorted(request.args.items(multi=True)), *extra]
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return f"{commit[:12]}-{digest[:24]}"


def _revalidated(tag: str) -> Response | None:
    """304 when the client already has ``tag``."""
    if not request.if_none_match.contains_weak(tag):
        return None
    response = Response(status=304)
    _cache_headers(response, tag)
    return response


def _cache_headers(response: Response, tag: str) -> None:
    response.set_etag(tag)
    response.headers["Cache-Control"] = "no-cache"


def _answer(body: Any, tag: str, *, next_link: str | None = None) -> Response:
    response = jsonify(body)
    _cache_headers(response, tag)
    if next_link is not None:
        response.headers["Link"] = f'<{next_link}>; rel="next"'
    return response


def _serve(commit: str, body: Any, *extra: Any) -> Response:
    tag = _etag(commit, *extra)
    return _revalidated(tag) or _answer(body, tag)


# -- projects and clouds ------------------------------------------------------------------------------
def _project_json(project: Project) -> dict[str, Any]:
    name = project.name
    return {
        "name": name,
        "display_name": project.display_name,
        "sub_title": project.sub_title,
        "cncf_relation": project.cncf_relation,
        "active": project.active,
        "app_layer": project.app_layer,
        "arch": list(project.arch),
        "releases": list(project.releases),
        "refs": {release: project.ref(release) for release in RELEASES},
        "repository_url": project.repository_url,
        "links": {
            "self": url_for("api.project", project=name),
            "cells": url_for("api.cells", project=name),
            "history": url_for("api.history", project=name),
        },
    }


def _cloud_json(cloud: Cloud) -> dict[str, Any]:
    return {
        "name": cloud.name,
        "display_name": cloud.display_name,
        "active": cloud.active,
        "order": cloud.order,
        "kubernetes": cloud.kubernetes,
        "arch": list(cloud.arch),
        "region": cloud.region,
    }


@bp.get("/projects")
def projects() -> Response:
    _args(f"{PREFIX}/projects")
    snap = _snapshot()
    body = {"commit": snap.commit, "projects": [_project_json(p) for p in snap.config.projects.values()]}
    return _serve(snap.commit, body)


@bp.get("/projects/<project>")
def project(project: str) -> Response:
    _args(f"{PREFIX}/projects/{{project}}")
    snap = _snapshot()
    return _serve(snap.commit, {"commit": snap.commit, "project": _project_json(_path_project(snap.config, project))})


@bp.get("/clouds")
def clouds() -> Response:
    _args(f"{PREFIX}/clouds")
    snap = _snapshot()
    return _serve(snap.commit, {"commit": snap.commit, "clouds": [_cloud_json(c) for c in snap.config.clouds.values()]})


# -- cells --------------------------------------------------------------------------------------------
def cell_json(cell: CellView, insight: CellInsight | None) -> dict[str, Any]:
    """A cell as the dashboard shows it (``status``) with the stored result behind it and what its history
    means (``insight``, None for a cell without any result)."""
    entry = cell.entry
    return {
        **cell.key.as_dict(),
        "status": cell.status,
        "stored_status": entry.status if entry else None,
        "stale": cell.stale,
        "note": cell.note,
        "url": cell.url,
        "started_at": entry.started_at if entry else None,
        "finished_at": entry.finished_at if entry else None,
        "ref": entry.ref if entry else None,
        "sha": entry.sha if entry else None,
        "error": entry.error if entry else None,
        "history": _cell_link(cell.key),
        "insight": insight.as_dict() if insight else None,
    }


def _cell_link(key: CellKey) -> str:
    if key.stage == "build":
        return url_for("api.build_history", project=key.project, release=key.release, arch=key.arch)
    values: dict[str, Any] = {"project": key.project, "release": key.release, "cloud": key.cloud, "stage": key.stage}
    values["arch"] = key.arch
    if key.environment in RELEASES:
        values["kubernetes"] = key.environment
    return url_for("api.cell_history", **values)


@bp.get("/cells")
def cells() -> Response:
    args = _args(f"{PREFIX}/cells")
    snap = _snapshot()
    project, cloud = _known(args, "project", snap.config), _known(args, "cloud", snap.config)
    release, stage = _choice(args, "release", RELEASES), _choice(args, "stage", STAGES)
    arch = _choice(args, "arch", ARCHES)
    kubernetes = _choice(args, "kubernetes", RELEASES) or "stable"
    grid = snap.grid(kubernetes, arch)
    shown = []
    for _, rows in grid.sections:
        for row in rows:
            if project not in (None, row.project.name) or release not in (None, row.release):
                continue
            for cell in (row.build, *row.clouds, *row.e2e):
                if cloud not in (None, cell.key.cloud) or stage not in (None, cell.key.stage):
                    continue
                shown.append(cell_json(cell, snap.insight.get(cell.key)))
    body = {"commit": snap.commit, "kubernetes": kubernetes, "arch": arch, "cells": shown}
    return _serve(snap.commit, body, body)  # staleness moves with the clock: the tag covers what is shown


# -- insight ------------------------------------------------------------------------------------------
_BOOLEANS: Final = {"true": True, "false": False}


@bp.get("/insight")
def insight() -> Response:
    """Every cell with a result at the snapshot's commit and what its history means, in path order."""
    args = _args(f"{PREFIX}/insight")
    snap = _snapshot()
    project, cloud = _known(args, "project", snap.config), _known(args, "cloud", snap.config)
    release, stage = _choice(args, "release", RELEASES), _choice(args, "stage", STAGES)
    kind = _choice(args, "kind", KINDS)
    alerting_text = _choice(args, "alerting", tuple(_BOOLEANS))
    alerting = None if alerting_text is None else _BOOLEANS[alerting_text]
    after = snap.config.alert_after_failures
    shown = []
    for key in sorted(snap.insight, key=layout.cell_path):
        found = snap.insight[key]
        if project not in (None, key.project) or release not in (None, key.release):
            continue
        if cloud not in (None, key.cloud) or stage not in (None, key.stage):
            continue
        if kind not in (None, found.failure_kind) or alerting not in (None, found.alerting(after)):
            continue
        shown.append({**found.as_dict(), "alerting": found.alerting(after), "history": _cell_link(key)})
    body = {
        "commit": snap.commit,
        "alert_after_failures": after,
        "flakiness_window": snap.config.flakiness_window,
        "cells": shown,
    }
    return _serve(snap.commit, body)


# -- history ------------------------------------------------------------------------------------------
def entry_json(entry: Entry) -> dict[str, Any]:
    return {**entry.as_dict(), "committed_at": format_time(datetime.fromtimestamp(entry.committed_at, UTC))}


def page(
    index: StatusIndex, filters: Mapping[str, str | None], *, before: int | None, limit: int, window: Window | None
) -> tuple[list[Entry], int | None]:
    """Up to ``limit`` matching entries below sequence number ``before``, and the sequence number the next
    page continues below (None: there is nothing more)."""
    if window is None:
        found = index.history(**filters, limit=limit + 1, before_seq=before)
        return found[:limit], (found[limit - 1].seq if len(found) > limit else None)
    out: list[Entry] = []
    scanned, cursor = 0, before
    while scanned < SCAN_ROWS:
        batch = index.history(**filters, limit=_SCAN_BATCH, before_seq=cursor)
        for entry in batch:
            scanned += 1
            cursor = entry.seq
            if window.contains(entry):
                if len(out) == limit:
                    return out, out[-1].seq  # one more match exists: there is a next page
                out.append(entry)
            if scanned >= SCAN_ROWS:
                break
        if len(batch) < _SCAN_BATCH and scanned < SCAN_ROWS:
            return out, None  # the whole history was read
    # The budget ran out: continue after what was read (a full page continues after its last entry).
    return out, (out[-1].seq if len(out) == limit else cursor)


def _next_link(seq: int) -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"] + [("cursor", encode_cursor(seq))]
    return f"{request.script_root}{request.path}?{urlencode(query)}"


def _history_answer(
    args: Mapping[str, str], filters: Mapping[str, str | None], head: Mapping[str, Any], *extra: Any
) -> Response:
    """A page of history with ``head`` (computed from the snapshot) in front of it."""
    window, limit = _window(args), _limit(args)
    before = decode_cursor(args["cursor"]) if "cursor" in args else None
    with get_state().query() as index:
        commit = index.commit or ""
        tag = _etag(commit, *extra)
        unchanged = _revalidated(tag)
        if unchanged is not None:
            return unchanged
        entries, next_seq = page(index, filters, before=before, limit=limit, window=window)
    link = _next_link(next_seq) if next_seq is not None else None
    body = {"commit": commit, **head, "entries": [entry_json(e) for e in entries], "next": link}
    return _answer(body, tag, next_link=link)


@bp.get("/history")
def history() -> Response:
    args = _args(f"{PREFIX}/history")
    config = _snapshot().config
    filters = {
        "project": _known(args, "project", config),
        "release": _choice(args, "release", RELEASES),
        "cloud": _known(args, "cloud", config),
        "stage": _choice(args, "stage", STAGES),
        "arch": _choice(args, "arch", ARCHES),
        "environment": _choice(args, "environment", ENVIRONMENTS),
        "status": _choice(args, "status", STATUSES),
    }
    return _history_answer(args, filters, {})


def _path_project(config: Config, name: str) -> Project:
    if name not in config.projects:
        raise ApiError(404, f"no project {_shown(name)} in cross-cloud.yml", "project")
    return config.projects[name]


def _path_choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ApiError(404, f"no {name} {_shown(value)}: use one of {', '.join(allowed)}", name)
    return value


def _cell_answer(args: Mapping[str, str], snap: Snapshot, key: CellKey) -> Response:
    current = cell_json(snap.cell(key), snap.insight.get(key))
    filters = {**key.as_dict(), "status": _choice(args, "status", STATUSES)}
    return _history_answer(args, filters, {"cell": current}, snap.commit, current)


@bp.get("/history/<project>/<release>/build")
def build_history(project: str, release: str) -> Response:
    args = _args(f"{PREFIX}/history/{{project}}/{{release}}/build")
    snap = _snapshot()
    configured = _path_project(snap.config, project)
    _path_choice("release", release, RELEASES)
    arch = _choice(args, "arch", ARCHES) or configured.arch[0]
    return _cell_answer(args, snap, CellKey(project, release, arch, "build"))


@bp.get("/history/<project>/<release>/<cloud>/<stage>")
def cell_history(project: str, release: str, cloud: str, stage: str) -> Response:
    args = _args(f"{PREFIX}/history/{{project}}/{{release}}/{{cloud}}/{{stage}}")
    snap = _snapshot()
    configured = _path_project(snap.config, project)
    _path_choice("release", release, RELEASES)
    _path_choice("cloud", cloud, snap.config.clouds)
    _path_choice("stage", stage, CLOUD_STAGES)
    arch = _choice(args, "arch", ARCHES) or configured.arch[0]
    kubernetes = _choice(args, "kubernetes", RELEASES) or "stable"
    env = environment(snap.config.clouds[cloud], kubernetes)
    return _cell_answer(args, snap, CellKey(project, release, arch, stage, cloud, env))


# -- submitting results ------------------------------------------------------------------------------
def _authorise_submitter() -> None:
    """503 while ``SUBMIT_TOKEN`` is unset; 401 unless ``Authorization: Bearer <SUBMIT_TOKEN>``."""
    expected = settings.submit_token(current_app)
    if expected is None:
        raise ApiError(503, f"submitting results is turned off: set {settings.ENV_PREFIX}_SUBMIT_TOKEN to allow it")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(401, "this route needs Authorization: Bearer <the submit token>")


def _required(args: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not args.get(name):
            raise ApiError(400, f"the query parameter {name!r} is required", name)


def _submitted_xml() -> bytes:
    """The body, read no further than ``SUBMIT_MAX_BYTES`` (413 above it)."""
    declared = request.content_length
    too_large = f"the JUnit XML is larger than {SUBMIT_MAX_BYTES} bytes"
    if declared is not None and declared > SUBMIT_MAX_BYTES:
        raise ApiError(413, too_large, "body")
    data = request.stream.read(SUBMIT_MAX_BYTES + 1)
    if len(data) > SUBMIT_MAX_BYTES:
        raise ApiError(413, too_large, "body")
    if not data.strip():
        raise ApiError(400, "the request body is empty: send the JUnit XML of one test run", "body")
    return data


@bp.post("/results/junit")
def submit_junit() -> Response:
    """One test run's JUnit XML, recorded as the e2e result of one cell (see the module doc)."""
    _authorise_submitter()
    args = _args(f"{PREFIX}/results/junit")
    _required(args, "project", "release", "cloud")
    snap = _snapshot()
    config = snap.config
    project, cloud = _known(args, "project", config), _known(args, "cloud", config)
    release = _choice(args, "release", RELEASES)
    arch = _choice(args, "arch", ARCHES)
    kubernetes = _choice(args, "kubernetes", RELEASES)
    assert project is not None and cloud is not None and release is not None  # required above
    if arch is not None and arch not in config.projects[project].arch:
        runs_on = ", ".join(config.projects[project].arch)
        raise ApiError(400, f"project {project} does not run on {arch} (it runs on {runs_on})", "arch")
    if kubernetes is not None and not config.clouds[cloud].kubernetes:
        raise ApiError(400, f"cloud {cloud} runs projects on the host: give no kubernetes", "kubernetes")
    data = _submitted_xml()
    try:
        report = parse_junit(data, BODY_SOURCE)
    except BadInputError as exc:
        metrics.inc("crosscloud_junit_submissions_total", {"outcome": "bad"})
        raise ApiError(400, str(exc), "body") from None
    try:
        record = junit_record(
            [report], config, project=project, release=release, cloud=cloud, arch=arch, kubernetes=kubernetes,
            ref=args.get("ref"), sha=args.get("sha"), url=args.get("url"), now=datetime.now(UTC),
        )  # fmt: skip
    except BadInputError as exc:  # a ref, sha or url the record schema refuses
        raise ApiError(400, str(exc)) from None
    state = get_state()
    try:
        result = StatusRepoWriter(state.remote).write([record])
    except CrossCloudError as exc:
        metrics.inc("crosscloud_junit_submissions_total", {"outcome": "error"})
        raise ApiError(502, f"could not write to the status repository: {exc}") from None
    outcome = "written" if result.written else "unchanged" if result.unchanged else "superseded"
    metrics.inc("crosscloud_junit_submissions_total", {"outcome": outcome})
    if result.commit is not None:
        state.request_refresh("junit")
    body = {"outcome": outcome, "commit": result.commit, "path": layout.cell_path(record.key), "record": record.data}
    response = jsonify(body)
    response.status_code = 201 if outcome == "written" else 200
    response.headers["Location"] = _cell_link(record.key)
    response.headers["Cache-Control"] = "no-cache"
    return response


# -- the document -------------------------------------------------------------------------------------
@functools.cache
def _document_tag() -> str:
    return hashlib.sha256(json.dumps(openapi.document(), sort_keys=True).encode()).hexdigest()[:36]


@bp.get("/openapi.json")
def openapi_document() -> Response:
    _args(f"{PREFIX}/openapi.json")
    tag = _document_tag()
    return _revalidated(tag) or _answer(openapi.document(), tag)


def _api_headers(response: Response) -> Response:
    """What the app-wide error pages under ``/api/v1`` (no such route, wrong method) lack: they must not be
    cached either, and a 405 says which methods are allowed (RFC 9110)."""
    if request.path.startswith(f"{PREFIX}/"):
        response.headers.setdefault("Cache-Control", "no-cache")
        routing = request.routing_exception
        if isinstance(routing, MethodNotAllowed) and routing.valid_methods and "Allow" not in response.headers:
            response.headers["Allow"] = ", ".join(sorted(routing.valid_methods))
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_api_headers)
