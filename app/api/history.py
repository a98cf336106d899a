"""``/api/v1/history`` and the history of one cell (``/api/v1/history/{project}/{release}/build`` and
``.../{cloud}/{stage}``): every result ever recorded, newest first, a page at a time.

- **Pagination.** History is ordered by the index's sequence number (newest first); a page ends at a
  sequence number and the opaque ``cursor`` of the ``next`` link continues below it, so walking every page
  never skips or repeats an entry, even while new results arrive.
- **Time windows.** ``since``/``until`` compare the record's ``started_at`` (when the result happened,
  which is what "when did it go red" asks), or the commit time for a file that is not a valid record.
  The index cannot filter on time yet, so matching entries are picked from a bounded scan per request;
  a page may then be short, and ``next`` says where to go on.
- **Caching.** A page is tagged with the index's commit and the query (``answers``); a cell's page also
  with what the cell shows now, which moves with the clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import request
from werkzeug.wrappers import Response

from crosscloud.cell_rules import environment
from crosscloud.records import CellKey, format_time
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud.vocabulary import ARCHES, CLOUD_STAGES, RELEASES, STAGES, STATUSES
from crosscloud_app.api import answers
from crosscloud_app.api.cells import cell_json
from crosscloud_app.api.components import ENVIRONMENTS
from crosscloud_app.api.query import (
    Window,
    choice,
    decode_cursor,
    encode_cursor,
    known,
    limit,
    path_choice,
    path_project,
    query_args,
    window,
)
from crosscloud_app.web.status_state import Snapshot, get_state

SCAN_ROWS = 5000
"""At most this many index rows are read for one page of a time-window query (see the module doc)."""
_SCAN_BATCH = 500


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
    time_window, size = window(args), limit(args)
    before = decode_cursor(args["cursor"]) if "cursor" in args else None
    with get_state().query() as index:
        commit = index.commit or ""
        tag = answers.etag(commit, *extra)
        unchanged = answers.revalidated(tag)
        if unchanged is not None:
            return unchanged
        entries, next_seq = page(index, filters, before=before, limit=size, window=time_window)
    link = _next_link(next_seq) if next_seq is not None else None
    body = {"commit": commit, **head, "entries": [entry_json(e) for e in entries], "next": link}
    return answers.answer(body, tag, next_link=link)


def history() -> Response:
    args = query_args()
    config = get_state().snapshot().config
    filters = {
        "project": known(args, "project", config),
        "release": choice(args, "release", RELEASES),
        "cloud": known(args, "cloud", config),
        "stage": choice(args, "stage", STAGES),
        "arch": choice(args, "arch", ARCHES),
        "environment": choice(args, "environment", ENVIRONMENTS),
        "status": choice(args, "status", STATUSES),
    }
    return _history_answer(args, filters, {})


def _cell_answer(args: Mapping[str, str], snap: Snapshot, key: CellKey) -> Response:
    current = cell_json(snap.cell(key), snap.insight.get(key))
    filters = {**key.as_dict(), "status": choice(args, "status", STATUSES)}
    return _history_answer(args, filters, {"cell": current}, snap.commit, current)


def build_history(project: str, release: str) -> Response:
    args = query_args()
    snap = get_state().snapshot()
    configured = path_project(snap.config, project)
    path_choice("release", release, RELEASES)
    arch = choice(args, "arch", ARCHES) or configured.arch[0]
    return _cell_answer(args, snap, CellKey(project, release, arch, "build"))


def cell_history(project: str, release: str, cloud: str, stage: str) -> Response:
    args = query_args()
    snap = get_state().snapshot()
    configured = path_project(snap.config, project)
    path_choice("release", release, RELEASES)
    path_choice("cloud", cloud, snap.config.clouds)
    path_choice("stage", stage, CLOUD_STAGES)
    arch = choice(args, "arch", ARCHES) or configured.arch[0]
    kubernetes = choice(args, "kubernetes", RELEASES) or "stable"
    env = environment(snap.config.clouds[cloud], kubernetes)
    return _cell_answer(args, snap, CellKey(project, release, arch, stage, cloud, env))
