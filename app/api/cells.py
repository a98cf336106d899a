"""``/api/v1/cells`` and ``/api/v1/insight``: the current cells as the dashboard shows them, from the same
snapshot and the same cell rules (so they are the cells of ``crosscloud status --json``), and every cell with
what its history means (``crosscloud.insight``: failing since, the last success to roll back to, flakiness
and its trend, the failure kind), which changes only with a new commit."""

from __future__ import annotations

from typing import Any, Final

from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.cell_rules import CellView
from crosscloud.failure_kind import KINDS
from crosscloud.insight import CellInsight
from crosscloud.records import CellKey
from crosscloud.vocabulary import ARCHES, RELEASES, STAGES
from crosscloud_app.api import answers
from crosscloud_app.api.query import choice, known, query_args
from crosscloud_app.web.status_state import get_state
from crosscloud_app.web.url_patterns import UrlPattern

_BOOLEANS: Final = {"true": True, "false": False}


def cell_json(cell: CellView, insight: CellInsight | None, links: CellLinks | None = None) -> dict[str, Any]:
    """A cell as the dashboard shows it (``status``) with the stored result behind it and what its history
    means (``insight``, None for a cell without any result); ``links`` makes its history link."""
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
        "history": (links or CellLinks())(cell.key),
        "insight": insight.as_dict() if insight else None,
    }


def cell_link(key: CellKey) -> str:
    """The history of one cell in this API."""
    return CellLinks()(key)


class CellLinks:
    """``cell_link`` for many cells: one ``url_for`` per shape of link (``UrlPattern``), not per cell."""

    def __init__(self) -> None:
        self._patterns: dict[tuple[bool, str, str | None], UrlPattern] = {}

    def __call__(self, key: CellKey) -> str:
        build = key.stage == "build"
        shape = (build, key.arch, key.environment if key.environment in RELEASES and not build else None)
        pattern = self._patterns.get(shape)
        if pattern is None:
            pattern = self._patterns[shape] = self._pattern(*shape)
        if build:
            return pattern(project=key.project, release=key.release)
        return pattern(project=key.project, release=key.release, cloud=key.cloud or "", stage=key.stage)

    @staticmethod
    def _pattern(build: bool, arch: str, kubernetes: str | None) -> UrlPattern:
        if build:
            return UrlPattern("api.build_history", ("project", "release"), arch=arch)
        query = {"arch": arch} if kubernetes is None else {"arch": arch, "kubernetes": kubernetes}
        return UrlPattern("api.cell_history", ("project", "release", "cloud", "stage"), **query)


def cells() -> Response:
    args = query_args()
    snap = get_state().snapshot()
    project, cloud = known(args, "project", snap.config), known(args, "cloud", snap.config)
    release, stage = choice(args, "release", RELEASES), choice(args, "stage", STAGES)
    arch = choice(args, "arch", ARCHES)
    kubernetes = choice(args, "kubernetes", RELEASES) or "stable"
    grid = snap.grid(kubernetes, arch)
    links = CellLinks()
    shown = []
    for _, rows in grid.sections:
        for row in rows:
            if project not in (None, row.project.name) or release not in (None, row.release):
                continue
            for cell in (row.build, *row.clouds, *row.e2e):
                if cloud not in (None, cell.key.cloud) or stage not in (None, cell.key.stage):
                    continue
                shown.append(cell_json(cell, snap.insight.get(cell.key), links))
    body = {"commit": snap.commit, "kubernetes": kubernetes, "arch": arch, "cells": shown}
    # what a cell shows moves with the clock (it turns stale, a running cell times out): the tag covers that
    moving = [(cell["status"], cell["stale"], cell["note"]) for cell in shown]
    return answers.serve(snap.commit, body, moving)


def insight() -> Response:
    """Every cell with a result at the snapshot's commit and what its history means, in path order."""
    args = query_args()
    snap = get_state().snapshot()
    project, cloud = known(args, "project", snap.config), known(args, "cloud", snap.config)
    release, stage = choice(args, "release", RELEASES), choice(args, "stage", STAGES)
    kind = choice(args, "kind", KINDS)
    alerting_text = choice(args, "alerting", tuple(_BOOLEANS))
    alerting = None if alerting_text is None else _BOOLEANS[alerting_text]
    after = snap.config.alert_after_failures
    links = CellLinks()
    shown = []
    for key in sorted(snap.insight, key=layout.cell_path):
        found = snap.insight[key]
        if project not in (None, key.project) or release not in (None, key.release):
            continue
        if cloud not in (None, key.cloud) or stage not in (None, key.stage):
            continue
        if kind not in (None, found.failure_kind) or alerting not in (None, found.alerting(after)):
            continue
        shown.append({**found.as_dict(), "alerting": found.alerting(after), "history": links(key)})
    body = {
        "commit": snap.commit,
        "alert_after_failures": after,
        "flakiness_window": snap.config.flakiness_window,
        "cells": shown,
    }
    return answers.serve(snap.commit, body)
