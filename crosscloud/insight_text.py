"""The insight of a cell in words, for the terminal: the closing lines of ``crosscloud history`` and the
answer of ``crosscloud rollback-target`` (``crosscloud.insight`` computes, this module only writes)."""

from __future__ import annotations

from collections.abc import Iterable

from crosscloud import layout
from crosscloud.insight import DEFAULT_WINDOW, CellInsight, insight_of
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import StatusIndex


def describe(found: CellInsight) -> str:
    """One line about a cell, for ``crosscloud history``."""
    parts = [str(found.key) + ":"]
    if found.consecutive_failures and found.failing_since:
        parts.append(
            f"failing since {found.failing_since.time} ({found.consecutive_failures} in a row, {found.failure_kind});"
        )
    elif found.last_success:
        parts.append("green;")
    if found.last_success:
        success = found.last_success
        parts.append(f"last success {success.label()} at {success.time}" + (f" {success.url};" if success.url else ";"))
    else:
        parts.append("never succeeded;")
    if found.flakiness is None:
        parts.append("no runs to measure flakiness")
    else:
        trend = f", {found.trend}" if found.trend else ""
        parts.append(f"flakiness {found.flakiness:.2f} over {found.window_runs} runs{trend}")
    return " ".join(parts)


def insight_lines(
    index: StatusIndex,
    keys: Iterable[CellKey],
    window: int = DEFAULT_WINDOW,
    provisioning: frozenset[str] = frozenset(),
) -> list[str]:
    """A line per distinct cell of ``keys`` (in path order), for the end of ``crosscloud history``."""
    lines = []
    for key in sorted(set(keys), key=layout.cell_path):
        found = insight_of(index, key, window, provisioning)
        if found is not None:
            lines.append(describe(found))
    return lines


def rollback_lines(found: CellInsight) -> list[str]:
    """The answer of ``crosscloud rollback-target`` for a cell with a success to roll back to."""
    success = found.last_success
    if success is None:
        raise ValueError(f"{found.key} has no success to roll back to")
    lines = [f"{found.key}: roll back to {success.label()}", f"  last success  {success.time}"]
    if success.url:
        lines.append(f"  job           {success.url}")
    lines.append(f"  recorded in   {success.commit[:12]}")
    if found.failing_since:
        since = found.failing_since
        lines.append(f"  failing since {since.time} ({found.consecutive_failures} in a row, {found.failure_kind})")
    else:
        lines.append("  the newest result is green")
    return lines


def nothing_to_roll_back_to(key: CellKey, found: CellInsight | None) -> str:
    """Why a cell has no rollback target (the line ``rollback-target`` writes to stderr)."""
    what = "no result" if found is None else f"no success in its history (latest: {found.latest_status})"
    return f"{key} has {what}: nothing to roll back to"
