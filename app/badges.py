"""README badges: ``/badge/<project>.svg``, ``/badge/<project>/<release>.svg`` and
``/badge/<project>/<release>/<cloud>.svg``, and the same paths ending ``.json`` as shields endpoint JSON.

A badge aggregates the cells the dashboard shows for what it names (``cell_rules.aggregate``, the
original's rule: the first failure wins, running beats success, nothing is N/A): the build, then per
active cloud the deploy (provisioning for Kubernetes) and the e2e. A cloud's badge leaves the build out,
as the original's deploy badges did: a failed build makes them N/A through the cascade, and a cloud that
never ran reads N/A rather than the build's success. ``?stage=`` narrows it to one stage
(``build``, ``provision``, ``deploy``, ``e2e``); ``?kubernetes=stable|head`` and ``?arch=`` choose the
test environment as on the dashboard; ``?label=`` replaces the label (the project's display name).

Badges are fetched through GitHub's image proxy, which honours ``Cache-Control: no-cache`` with an
``ETag``. The ETag is computed before anything else, from the status repository commit, the request's
path and query and the current minute (staleness moves with the clock, so a result that turns stale
changes its badge within a minute even when no commit arrives), so a revalidation costs one hash.
Only a 200 answer carries the ETag (conditional requests apply to nothing else), so a matching
``If-None-Match`` always stands for a 200. Rendered answers are kept by ETag; SVGs are also cached by
(label, message, colour). Unknown names answer 404 with the grey "unknown" badge, bad parameters 400 with
a red "bad <parameter>" badge: a README shows a badge, never a broken image."""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Flask, Response, request

from crosscloud.cell_rules import CellView, aggregate, environment
from crosscloud.config import Project
from crosscloud.records import CellKey
from crosscloud.vocabulary import RELEASES, STAGES
from crosscloud_app.badge_status import UNKNOWN, BadgeText, badge_text
from crosscloud_app.badge_svg import endpoint_json, render_svg
from crosscloud_app.state import NotReadyError, Snapshot, get_state

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


@dataclass(frozen=True)
class BadgeError(Exception):
    """A request a badge cannot be made for: 404 (unknown name) or 400 (bad parameter)."""

    status: int
    label: str
    text: BadgeText


def _unknown(label: str) -> BadgeError:
    return BadgeError(404, label, badge_text(UNKNOWN))


def _bad(label: str, parameter: str) -> BadgeError:
    return BadgeError(400, label, BadgeText(f"bad {parameter}", "red", is_error=True))


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
    """The cells a badge aggregates, in the dashboard's order (see the module doc); ``clouds`` None for
    every active cloud."""
    kubernetes = _choice("kubernetes", KUBERNETES_RELEASES, "stable", label) or "stable"
    arch = _choice("arch", project.arch, project.arch[0], label) or project.arch[0]
    if stage == "deploy" and not project.app_layer:
        raise _bad(label, "stage")  # Kubernetes is the environment: its cloud cells are provisioning
    keys = []
    if stage == "build" or (stage is None and clouds is None):
        keys.append(CellKey(project.name, release, arch, "build"))
    cloud_stages = [stage] if stage not in (None, "build") else ([] if stage else [project.cloud_stage(), "e2e"])
    for name in clouds if clouds is not None else [c.name for c in snapshot.config.active_clouds()]:
        env = environment(snapshot.config.clouds[name], kubernetes)
        keys += [CellKey(project.name, release, arch, s, name, env) for s in cloud_stages]
    return [snapshot.cell(key) for key in keys]


def _verdict(cells: list[CellView]) -> BadgeText:
    """The aggregated status; stale when every cell that decides it is stale."""
    status = aggregate(c.status for c in cells)
    deciding = [c for c in cells if c.status == status]
    return badge_text(status, stale=bool(deciding) and all(c.stale for c in deciding))


def _badge(snapshot: Snapshot, project_name: str, release: str | None, cloud: str | None) -> tuple[str, BadgeText]:
    config = snapshot.config
    project = config.projects.get(project_name)
    if project is None:
        raise _unknown(_label(FALLBACK_LABEL))
    label = _label(project.display_name)
    if release is not None and release not in project.releases:
        raise _unknown(label)
    if cloud is not None and cloud not in config.clouds:
        raise _unknown(label)
    stage = _choice("stage", STAGES, None, label)
    clouds = [cloud] if cloud is not None else None
    cells = []
    for rel in [release] if release is not None else list(project.releases):
        cells += _cells(snapshot, project, rel, clouds, stage, label)
    return label, _verdict(cells)


def _body(fmt: str, label: str, text: BadgeText) -> bytes:
    if fmt == ".json":
        data = endpoint_json(
            label, text.message, text.colour, is_error=text.is_error, cache_seconds=ENDPOINT_CACHE_SECONDS
        )
        return json.dumps(data, ensure_ascii=False).encode()
    return render_svg(label, text.message, text.colour).encode()


def _respond(status: int, body: bytes, content_type: str, etag: str | None) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-cache"
    if etag is not None:
        response.set_etag(etag)
    return response


def _serve(segments: list[str]) -> Response:
    """Answer a badge request whose path below /badge/ is ``segments`` (the last one with its suffix)."""
    last = segments[-1]
    fmt = next((f for f in FORMATS if last.endswith(f) and len(last) > len(f)), None)
    if fmt is None:
        error = _unknown(_label(FALLBACK_LABEL))
        return _respond(404, _body(".svg", error.label, error.text), SVG_TYPE, None)
    segments = [*segments[:-1], last[: -len(fmt)]]
    try:
        snapshot = get_state().snapshot()
    except NotReadyError:
        unavailable = BadgeText("unavailable", "lightgrey", is_error=True)
        response = _respond(503, _body(fmt, _label(FALLBACK_LABEL), unavailable), FORMATS[fmt], None)
        response.headers["Retry-After"] = "30"
        return response

    window = int(time.time()) // ETAG_WINDOW_SECONDS
    basis = f"{snapshot.commit}\0{window}\0{request.full_path}"
    etag = hashlib.sha256(basis.encode()).hexdigest()[:32]
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return _respond(304, b"", FORMATS[fmt], etag)
    cached = _answers.get(etag)
    if cached is None:
        release = segments[1] if len(segments) > 1 else None
        cloud = segments[2] if len(segments) > 2 else None
        try:
            label, text = _badge(snapshot, segments[0], release, cloud)
            status = 200
        except BadgeError as error:
            label, text, status = error.label, error.text, error.status
        if len(_answers) >= CACHE_SIZE:
            _answers.clear()
        cached = _answers[etag] = (status, _body(fmt, label, text), FORMATS[fmt])
    status, body, content_type = cached
    return _respond(status, body, content_type, etag if status == 200 else None)


@bp.get("/badge/<name>")
def project_badge(name: str) -> Response:
    return _serve([name])


@bp.get("/badge/<project>/<name>")
def release_badge(project: str, name: str) -> Response:
    return _serve([project, name])


@bp.get("/badge/<project>/<release>/<name>")
def cloud_badge(project: str, release: str, name: str) -> Response:
    return _serve([project, release, name])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
