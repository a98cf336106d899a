"""Results, not steps: which versions of a cell a history shows (the project and deployment pages, the feed,
``crosscloud history``).

Every stage writes its cell twice: ``running`` when it starts, then its final status. A history that listed
both would show two rows per run, and a feed would announce "running" and then "success (was running)" for
every stage of every night. So a history shows the **finished** results, and a ``running`` version only while
it is the cell's newest (the run still in progress appears once, as running, until it ends). A ``running``
version followed by anything newer is a step of a run that has ended (or was abandoned): it is left out.

The index keeps every version (``StatusIndex.history``, the API's raw history); this module only chooses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry, StatusIndex

RUNNING: Final = "running"
_BATCH_FACTOR: Final = 2
"""Rows read per row wanted: about one ``running`` step per result."""


def is_result(entry: Entry, newest_seq: int | None) -> bool:
    """Whether a history shows ``entry``: a finished result (or a file that is not a valid record, shown as an
    error), or a ``running`` version that is its cell's newest (``newest_seq``)."""
    return entry.status != RUNNING or entry.seq == newest_seq


def cell_results(index: StatusIndex, key: CellKey, limit: int) -> list[Entry]:
    """The newest ``limit`` results of one cell, newest first (see the module doc)."""
    out: list[Entry] = []
    newest: int | None = None
    before: int | None = None
    while len(out) < limit:
        batch = _page(index, limit * _BATCH_FACTOR, before, **key.as_dict())
        if not batch:
            break
        if newest is None:
            newest = batch[0].seq
        out += [entry for entry in batch if is_result(entry, newest)]
        before = batch[-1].seq
    return out[:limit]


def results(index: StatusIndex, current: Mapping[CellKey, Entry], limit: int, **filters: Any) -> list[Entry]:
    """The newest ``limit`` results of the cells matching ``filters`` (``StatusIndex.history``'s), newest
    first; ``current`` is the index's current cells (``StatusIndex.current()``), which say which ``running``
    versions are their cell's newest."""
    out: list[Entry] = []
    before: int | None = None
    while len(out) < limit:
        batch = _page(index, limit * _BATCH_FACTOR, before, **filters)
        if not batch:
            break
        out += [entry for entry in batch if is_result(entry, _seq(current.get(entry.key)))]
        before = batch[-1].seq
    return out[:limit]


def only_results(entries_newest_first: Iterable[Entry]) -> list[Entry]:
    """``entries`` of one cell (all of its versions from the newest on), without the steps."""
    listed = list(entries_newest_first)
    newest = listed[0].seq if listed else None
    return [entry for entry in listed if is_result(entry, newest)]


def _seq(entry: Entry | None) -> int | None:
    return entry.seq if entry is not None else None


def _page(index: StatusIndex, size: int, before: int | None, **filters: Any) -> list[Entry]:
    wanted = {name: value for name, value in filters.items() if value is not None}
    return index.history(**wanted, limit=size, before_seq=before)
