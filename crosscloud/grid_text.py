"""The grid and histories as terminal tables and as JSON, for ``crosscloud status`` and ``history``.

A table shows each status in the words of the presentation table (``crosscloud.presentation``: ``timed out``,
``N/A``), clouds under their short headings (``presentation.cloud_heading``: ``AWS``, ``PACKET``) so the
8 clouds of the December 2018 file fit a wide terminal, and times as the one clock says (``crosscloud.clock``:
a result's finish, else its start). The JSON keeps the record statuses themselves, for scripts."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from crosscloud import clock
from crosscloud.cell_rules import CellView, Grid
from crosscloud.presentation import ERROR, cloud_heading, word
from crosscloud.status_repo.reader import Entry

STALE_MARK = "*"
LEGEND_WIDTH = 100


def _cell_text(cell: CellView) -> str:
    return word(cell.status) + (STALE_MARK if cell.stale else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [indent + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in
            [header, *rows]]  # fmt: skip


def grid_table(grid: Grid, *, repo: str, commit: str) -> str:
    env = f"Kubernetes {grid.kubernetes}" + (f", {grid.arch}" if grid.arch else "")
    shows = "builds" if grid.stage == "build" else f"cloud columns: {grid.stage}"
    lines = [f"{repo} at {commit[:12]} ({env}; {shows})"]
    if grid.stage == "build":
        header = ["PROJECT", "RELEASE", "REF", "BUILD", "BUILT", "SUMMARY"]
    else:
        header = ["PROJECT", "RELEASE", "REF", "BUILD", *[cloud_heading(c.name) for c in grid.clouds], "SUMMARY"]
    any_stale = False
    for relation, rows in grid.sections:
        lines.append("")
        if relation:
            lines.append(relation)
        table = []
        for row in rows:
            cells = [row.build, *row.clouds]
            any_stale = any_stale or any(c.stale for c in cells)
            shown = [_cell_text(c) for c in cells]
            if grid.stage == "build":
                built = clock.result_time(row.build.entry) if row.build.entry else None
                shown.append(clock.exact(built) if built else "never")
            table.append([row.project.name, row.release, row.release_label, *shown, word(row.summary)])
        lines += _table(header, table, indent="  ")
    if grid.stage != "build":
        named = [
            f"{cloud_heading(c.name)} {c.display_name}" for c in grid.clouds if cloud_heading(c.name) != c.display_name
        ]
        if named:
            lines += ["", *textwrap.wrap("clouds: " + ", ".join(named), LEGEND_WIDTH, subsequent_indent="  ")]
    lines += ["SUMMARY: every stage of the row on every cloud (the first failure, else running, else success)"]
    if any_stale:
        lines += [f"{STALE_MARK} stale: older than the schedule says it should be, or from before a newer build"]
    return "\n".join(lines)


def _cell_json(cell: CellView) -> dict[str, Any]:
    return {
        **cell.key.as_dict(),
        "status": cell.status,
        "stale": cell.stale,
        "note": cell.note,
        "url": cell.url,
        "started_at": cell.entry.started_at if cell.entry else None,
        "finished_at": cell.entry.finished_at if cell.entry else None,
    }


def grid_json(grid: Grid, commit: str | None) -> dict[str, Any]:
    return {
        "commit": commit,
        "kubernetes": grid.kubernetes,
        "arch": grid.arch,
        "stage": grid.stage,
        "clouds": [c.name for c in grid.clouds],
        "sections": [
            {
                "name": relation,
                "rows": [
                    {
                        "project": row.project.name,
                        "release": row.release,
                        "arch": row.arch,
                        "ref": row.ref,
                        "sha": row.sha,
                        "label": row.release_label,
                        "build": _cell_json(row.build),
                        "clouds": [_cell_json(c) for c in row.clouds],
                        "e2e": [_cell_json(c) for c in row.e2e],
                        "summary": row.summary,
                    }
                    for row in rows
                ],
            }
            for relation, rows in grid.sections
        ],
    }


def history_table(entries: Sequence[Entry]) -> str:
    if not entries:
        return "no results"
    rows = []
    for e in entries:
        where = " ".join(x for x in (e.key.cloud, e.key.environment if e.key.cloud else None) if x)
        detail = e.error or e.reason or e.url or ""
        when = clock.result_time(e)
        rows.append(
            [clock.exact(when) if when else "?", word(e.status or ERROR), e.key.release, e.key.stage, where or "-",
             e.ref or (e.sha or "")[:7] or "-", detail]
        )  # fmt: skip
    return "\n".join(_table(["WHEN", "STATUS", "RELEASE", "STAGE", "CLOUD", "REF", "DETAIL"], rows))
