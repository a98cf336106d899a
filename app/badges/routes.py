"""README badges: ``/badge/<project>.svg``, ``/badge/<project>/<release>.svg`` and
``/badge/<project>/<release>/<cloud>.svg``, and the same paths ending ``.json`` as shields endpoint JSON.

A badge aggregates the cells the dashboard shows for what it names (``cell_rules.aggregate``, the
original's rule: the first failure wins, running beats success, nothing is N/A): the build, then per
active cloud the provisioning, the deploy and the e2e (as the dashboard's Summary column: a failed
provisioning must not hide behind the N/A it cascades to). A cloud's badge leaves the build out,
as the original's deploy badges did: a failed build makes them N/A through the cascade, and a cloud that
never ran reads N/A rather than the build's success. ``?stage=`` narrows it to one stage
(``build``, ``provision``, ``deploy``, ``e2e``); ``?kubernetes=stable|head`` and ``?arch=`` choose the
test environment as on the dashboard.

- **The label says what the badge measures**, as shields users expect: ``cross-cloud`` (a project's),
  ``cross-cloud stable`` (a release's), ``aws stable`` (a cloud's), with `` <stage>`` when ``?stage=``
  narrows it; ``?label=`` replaces it.
- **The last finished status**: a cell running again shows its last final result
  (``cell_rules.settled``), so a badge does not read ``running`` for the length of every run.
- **How many clouds pass**: a project's or a release's badge whose clouds do not all pass says so
  (``7/8 clouds``, ``badge_text.clouds_passing``) when at least one passes and the build did not fail.

With ``settings.ignore_infra_failures: true`` the overall badges (a project's and a release's, which
aggregate every cloud) count a cell that failed for infrastructure reasons as N/A
(``crosscloud.cell_rules.aggregate_ignoring_infra``): a cloud's lack of quota says nothing about the project.
A cloud's own badge still shows it, as that cloud is what it names.

Badges are fetched through GitHub's image proxy, which honours ``Cache-Control: no-cache`` with an
``ETag``. The ETag is computed before anything else, from the status repository commit, the request's
path and query and the current minute (staleness moves with the clock, so a result that turns stale
changes its badge within a minute even when no commit arrives), so a revalidation costs one hash.
Only a 200 answer carries the ETag (conditional requests apply to nothing else), so a matching
``If-None-Match`` always stands for a 200. Rendered answers are kept by ETag; SVGs are also cached by
(label, message, colour). What a badge says is ``badge_text``'s. An error is an ``HttpError`` like anywhere
in the app, and ``badge_error`` is its face under ``/badge/``: unknown names answer 404 with the light grey
"unknown" badge, bad parameters 400 with a red "bad <parameter>" badge, no state yet 503 "unavailable": a
README shows a badge, never a broken image.

Badges are the app's hot path (every README view of every project fetches them through GitHub's proxy), so
an answer already rendered for the current ETag is served by a small WSGI layer in front of Flask
(``_RenderedBadges``): one hash and a dictionary lookup, with the same status, body and headers Flask would
give. Everything else, first renders included, goes through the blueprint."""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from flask import Blueprint, Flask, Response, request
from werkzeug.http import parse_etags

from crosscloud.cell_rules import CellView, aggregate, aggregate_ignoring_infra, environment, settled
from crosscloud.config import Project
from crosscloud.presentation import is_failure
from crosscloud.records import CellKey
from crosscloud.vocabulary import CLOUD_STAGES, RELEASES, STAGES
from crosscloud_app.badges.badge_text import BadgeText, badge_text, clouds_passing, error_text
from crosscloud_app.badges.shields import endpoint_json, render_svg
from crosscloud_app.web import http_errors, metrics
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import EXTENSION, NotReadyError, Snapshot, StatusState, get_state

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("badges", __name__)

SVG_TYPE: Final = "image/svg+xml; charset=utf-8"
JSON_TYPE: Final = "application/json"
FORMATS: Final = {".svg": SVG_TYPE, ".json": JSON_TYPE}
ETAG_WINDOW_SECONDS: Final = 60
"""How long an ETag holds without a new commit: the delay before a result turning stale shows."""
MAX_LABEL: Final = 64
"""Longest ``?label=`` (in characters) accepted."""
FALLBACK_LABEL: Final = "cross-cloud"
"""The label of a badge for something that is not configured."""
KUBERNETES_RELEASES: Final = RELEASES
CACHE_SIZE: Final = 4096
ENDPOINT_CACHE_SECONDS: Final = 300
"""``cacheSeconds`` of endpoint JSON: shields caches no shorter than that anyway."""

_answers: dict[str, tuple[int, bytes, str]] = {}
"""Rendered answers by ETag: (status code, body, content type)."""


def _unknown(label: str, what: str) -> HttpError:
    return HttpError(404, f"no {what}", label=label)


def _bad(label: str, parameter: str) -> HttpError:
    return HttpError(400, f"bad {parameter}", label=label, parameter=parameter)


def _label(default: str) -> str:
    """The ``?label=`` override, when given: control characters removed, at most MAX_LABEL characters."""
    given = request.args.get("label")
    if given is None:
        return default
    cleaned = "".join(c for c in given if unicodedata.category(c) != "Cc")
    return cleaned[:MAX_LABEL]


def _choice(name: str, allowed: Iterable[str], default: str | None, label: str) -> str | None:
    value = request.args.get(name)
    if value is None:
        return default
    allowed = tuple(allowed)
    if value not in allowed:
        raise _bad(label, name)
    return value


def _cells(
    snapshot: Snapshot, project: Project, release: str, clouds: list[str] | None, stage: str | None, label: str
) -> list[CellView]:
    """The cells a badge aggregates, in the dashboard's order, each as a badge shows it (its last finished
    result while it runs again, see the module doc); ``clouds`` None for every active cloud."""
    kubernetes = _choice("kubernetes", KUBERNETES_RELEASES, "stable", label) or "stable"
    arch = _choice("arch", project.arch, project.arch[0], label) or project.arch[0]
    if stage == "deploy" and not project.app_layer:
        raise _bad(label, "stage")  # Kubernetes is the environment: its cloud cells are provisioning
    keys = []
    if stage == "build" or (stage is None and clouds is None):
        keys.append(CellKey(project.name, release, arch, "build"))
    cloud_stages = [stage] if stage not in (None, "build") else ([] if stage else list(CLOUD_STAGES))
    for name in clouds if clouds is not None else [c.name for c in snapshot.config.active_clouds()]:
        env = environment(snapshot.config.clouds[name], kubernetes)
        keys += [CellKey(project.name, release, arch, s, name, env) for s in cloud_stages]
    return [settled(snapshot.cell(key), _last_finished(snapshot, key)) for key in keys]


def _last_finished(snapshot: Snapshot, key: CellKey) -> str | None:
    found = snapshot.insight.get(key)
    return found.last_finished.status if found is not None and found.last_finished is not None else None


def _status(cells: list[CellView], ignore_infra: bool) -> str:
    return aggregate_ignoring_infra(cells, ignore_infra) if ignore_infra else aggregate(c.status for c in cells)


def _verdict(cells: list[CellView], *, ignore_infra: bool = False, count_clouds: bool = False) -> BadgeText:
    """The aggregated status (infrastructure failures as N/A when ``ignore_infra``); stale when every cell
    that decides it is stale. With ``count_clouds`` a failure with some clouds passing reads ``k/n clouds``."""
    status = _status(cells, ignore_infra)
    if count_clouds and is_failure(status):
        builds = [c for c in cells if c.key.cloud is None]
        per_cloud: dict[str, list[CellView]] = {}
        for cell in cells:
            if cell.key.cloud is not None:
                per_cloud.setdefault(cell.key.cloud, []).append(cell)
        verdicts = [_status(group, ignore_infra) for group in per_cloud.values()]
        counted = [v for v in verdicts if v != "n/a"]
        passing = sum(1 for v in counted if v == "success")
        if not is_failure(_status(builds, ignore_infra)) and 0 < passing < len(counted):
            return clouds_passing(passing, len(counted))
    deciding = [c for c in cells if c.status == status]
    return badge_text(status, stale=bool(deciding) and all(c.stale for c in deciding))


def _badge(snapshot: Snapshot, project_name: str, release: str | None, cloud: str | None) -> tuple[str, BadgeText]:
    config = snapshot.config
    project = config.projects.get(project_name)
    if project is None:
        raise _unknown(_label(FALLBACK_LABEL), f"project {project_name!r}")
    label = _label(_measures(release, cloud, request.args.get("stage")))
    if release is not None and release not in project.releases:
        raise _unknown(label, f"release {release!r} of {project.name}")
    if cloud is not None and cloud not in config.clouds:
        raise _unknown(label, f"cloud {cloud!r}")
    stage = _choice("stage", STAGES, None, label)
    clouds = [cloud] if cloud is not None else None
    cells = []
    for rel in [release] if release is not None else list(project.releases):
        cells += _cells(snapshot, project, rel, clouds, stage, label)
    overall = cloud is None and config.ignore_infra_failures  # see the module doc
    return label, _verdict(cells, ignore_infra=overall, count_clouds=cloud is None and stage is None)


def _measures(release: str | None, cloud: str | None, stage: str | None) -> str:
    """The default label: what the badge measures (see the module doc)."""
    words = [cloud or FALLBACK_LABEL] + ([release] if release else [])
    if stage in STAGES:
        words.append(stage)
    return " ".join(words)


def _body(fmt: str, label: str, text: BadgeText) -> bytes:
    if fmt == ".json":
        data = endpoint_json(
            label, text.message, text.colour, is_error=text.is_error, cache_seconds=ENDPOINT_CACHE_SECONDS
        )
        return json.dumps(data, ensure_ascii=False).encode()
    return render_svg(label, text.message, text.colour).encode()


def _etag(commit: str, full_path: str) -> str:
    """The ETag of a badge: the status repository commit, the minute window and the request's path and query."""
    window = int(time.time()) // ETAG_WINDOW_SECONDS
    return hashlib.sha256(f"{commit}\0{window}\0{full_path}".encode()).hexdigest()[:32]


def _respond(status: int, body: bytes, content_type: str, etag: str | None) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-cache"
    if etag is not None:
        response.set_etag(etag)
    return response


def _format(name: str) -> str:
    """``.svg`` or ``.json``: what the last path segment asks for (an SVG when it names neither)."""
    return ".json" if name.endswith(".json") else ".svg"


def _serve(segments: list[str]) -> Response:
    """Answer a badge request whose path below /badge/ is ``segments`` (the last one with its suffix)."""
    last = segments[-1]
    fmt = next((f for f in FORMATS if last.endswith(f) and len(last) > len(f)), None)
    if fmt is None:
        raise _unknown(_label(FALLBACK_LABEL), f"badge format in {last!r}: use .svg or .json")
    segments = [*segments[:-1], last[: -len(fmt)]]
    snapshot = get_state().snapshot()  # NotReadyError: the "unavailable" badge (see badge_error)

    etag = _etag(snapshot.commit, request.full_path)
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return _respond(304, b"", FORMATS[fmt], etag)
    cached = _answers.get(etag)
    if cached is None:
        release = segments[1] if len(segments) > 1 else None
        cloud = segments[2] if len(segments) > 2 else None
        label, text = _badge(snapshot, segments[0], release, cloud)  # HttpError: see badge_error
        if len(_answers) >= CACHE_SIZE:
            _answers.clear()
        cached = _answers[etag] = (200, _body(fmt, label, text), FORMATS[fmt])
    status, body, content_type = cached
    return _respond(status, body, content_type, etag)


def badge_error(error: HttpError) -> Response:
    """The face of an error under ``/badge/``: a badge in the format asked for, labelled as the badge would be
    (``badge_text.error_text`` says what it reads), never cached by ETag."""
    fmt = _format(request.path)
    label = str(error.fields.get("label") or _label(FALLBACK_LABEL))
    response = _respond(error.status, _body(fmt, label, error_text(error)), FORMATS[fmt], None)
    response.headers.update(error.headers)
    return response


@bp.get("/badge/<name>")
def project_badge(name: str) -> Response:
    return _serve([name])


@bp.get("/badge/<project>/<name>")
def release_badge(project: str, name: str) -> Response:
    return _serve([project, name])


@bp.get("/badge/<project>/<release>/<name>")
def cloud_badge(project: str, release: str, name: str) -> Response:
    return _serve([project, release, name])


@bp.get("/badge/<path:rest>")
def other_badge(rest: str) -> Response:
    """Anything else under /badge/ (more segments, encoded slashes): a README still shows a badge, "unknown"."""
    raise _unknown(_label(FALLBACK_LABEL), f"badge {rest!r}")


class _RenderedBadges:
    """WSGI in front of the app: a GET or HEAD of a badge whose answer is already rendered for its current
    ETag is answered here (200, or 304 on a matching ``If-None-Match``) with the headers the blueprint
    gives; anything else (not rendered yet, not a 200, not ASCII, the app not ready) passes through."""

    ENDPOINTS: Final = {2: "badges.project_badge", 3: "badges.release_badge", 4: "badges.cloud_badge"}

    def __init__(self, wsgi: WSGIApplication, state: StatusState):
        self.wsgi, self.state = wsgi, state

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = self._rendered(environ)
        if answer is None:
            return self.wsgi(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _rendered(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes] | None:
        path: str = environ.get("PATH_INFO", "")
        query: str = environ.get("QUERY_STRING", "")
        if not path.startswith("/badge/") or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        if not (path.isascii() and query.isascii()) or "//" in path:
            return None  # Flask decodes and routes these its own way
        try:
            commit = self.state.snapshot().commit
        except NotReadyError:
            return None
        etag = _etag(commit, f"{path}?{query}")
        cached = _answers.get(etag)
        if cached is None or cached[0] != 200:
            return None
        _, body, content_type = cached
        endpoint = self.ENDPOINTS.get(path.count("/"), "unknown")
        headers = [("Cache-Control", "no-cache"), ("ETag", f'"{etag}"'), ("X-Content-Type-Options", "nosniff")]
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains_weak(etag):
            metrics.inc("crosscloud_http_requests_total", {"endpoint": endpoint, "status": "304"})
            return "304 NOT MODIFIED", [("Content-Type", content_type), *headers], b""
        metrics.inc("crosscloud_http_requests_total", {"endpoint": endpoint, "status": "200"})
        return "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers], body


def register(app: Flask) -> None:
    """The badge routes, their error face, and the WSGI layer that serves already rendered badges."""
    app.register_blueprint(bp)
    http_errors.add_face(app, "/badge/", badge_error)
    app.wsgi_app = _RenderedBadges(app.wsgi_app, app.extensions[EXTENSION])  # type: ignore[method-assign]
