"""Answers from a cell's history: since when it is red, what to roll back to, flaky or broken, whose fault.

Everything here is computed from the versions of a cell in the status index, newest first:

- **Runs.** Only final results say something about the project: ``success`` is a pass; ``failed``,
  ``timed_out`` and ``infra_failed`` are failures. ``running``, ``n/a`` and files that are not valid
  records are no runs at all, and neither is ``cancelled``: somebody stopped the run, which says nothing
  about the project, so a cancellation neither ends a red streak nor starts one, and is no flip. (Badges
  still show ``cancelled`` as the original did; see ``crosscloud.cell_rules.aggregate``.)
- **failing_since** is the first failure after the last success: the oldest run of the trailing streak of
  failures (the first failure ever when the cell never succeeded), ``None`` when the newest run passed.
  **last_success** is the rollback target: the newest pass, with its ref, sha, time, job link and the
  status repository commit that recorded it.
- **Flakiness** follows TestGrid: over a window of the last ``window`` runs (default 30 runs, not days, so
  the answer depends on the history alone and not on the clock, and a cell that runs rarely still has a
  window), every maximal streak of three or more failures is set aside (the cell was broken then, not
  flaky); flakiness is the number of flips to failure (a failure whose previous remaining run passed) over
  the runs that remain. The **trend** compares it with the window before: ``worsening`` or ``improving``
  when the two differ by more than ``TREND_THRESHOLD``, else ``steady``; ``None`` without an earlier window.
- **Failure kind**: ``infrastructure``, ``project`` or ``unknown``, decided by
  ``crosscloud.failure_kind.classify_failure`` (told which projects provision themselves: ``app_layer: false``,
  whose failed provisioning is the project's own failure; ``self_provisioning(config)``).
- **last_finished** is the newest final result (a pass, a failure or a cancellation): what a badge shows
  while the cell runs again.

Reading: ``insights(index)`` computes every cell; ``InsightCache`` keeps the answers keyed by the last
indexed sequence number and, after a refresh, recomputes only the cells whose files changed. Both read the
index through ``StatusIndex`` (``cell_runs``, ``changed_paths_since``); a cell's computation
reads its versions newest first and stops as soon as it has both windows and the last success, so its cost
does not grow with the length of the history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from crosscloud import layout
from crosscloud.config import Config
from crosscloud.failure_kind import FAILURES, KINDS, classify_failure
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry, StatusIndex

DEFAULT_WINDOW: Final = 30
"""Runs per flakiness window."""
BROKEN_STREAK: Final = 3
"""Consecutive failures from which a streak means broken, not flaky (TestGrid's rule)."""
TREND_THRESHOLD: Final = 0.05
"""Flakiness change between windows that counts as a trend (more than one flip in 30 runs)."""
DEFAULT_ALERT_AFTER: Final = 3
"""Consecutive failures after which a cell alerts (TestGrid's ``num_failures_to_alert``)."""

PASS: Final = "success"  # noqa: S105 - a status, not a secret
FINISHED: Final = frozenset({PASS, "cancelled", *FAILURES})
"""Final statuses: a run that ended (``last_finished``)."""


def self_provisioning(config: Config) -> frozenset[str]:
    """The projects whose provisioning is the project under test (``app_layer: false``: Kubernetes)."""
    return frozenset(p.name for p in config.projects.values() if not p.app_layer)


@dataclass(frozen=True)
class RunRef:
    """One run of a cell, to link to: when, which release, which job, which status repository commit."""

    status: str
    time: str
    """When it finished (when it started, if it has no finish)."""
    ref: str | None
    sha: str | None
    url: str | None
    commit: str
    """The status repository commit that recorded it."""
    seq: int
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "time": self.time,
            "ref": self.ref,
            "sha": self.sha,
            "url": self.url,
            "commit": self.commit,
            "reason": self.reason,
        }

    def label(self) -> str:
        """``v3.4.23 (a1b2c3d)``: the release as people name it."""
        short = (self.sha or "")[:7]
        if self.ref and short:
            return f"{self.ref} ({short})"
        return self.ref or short or "unknown release"


@dataclass(frozen=True)
class CellInsight:
    key: CellKey
    latest_status: str | None
    """The newest stored status (None when the newest file is not a valid record)."""
    latest_seq: int
    failing_since: RunRef | None
    last_success: RunRef | None
    consecutive_failures: int
    failure_kind: str | None
    """Whose fault the newest failure of the current streak is; None when green."""
    flakiness: float | None
    """TestGrid flakiness over the last window; None without runs in it."""
    previous_flakiness: float | None
    trend: str | None
    """``improving``, ``worsening`` or ``steady`` against the window before; None without one."""
    window_runs: int
    """Runs in the last window (at most the window size)."""
    failures_by_kind: Mapping[str, int] = field(default_factory=dict)
    """Failures in the last window by kind (all of them, the broken streaks too)."""
    last_finished: RunRef | None = None
    """The newest final result (success, a failure or cancelled); None when no run has ended yet."""

    @property
    def green(self) -> bool:
        return self.last_success is not None and self.consecutive_failures == 0

    def alerting(self, after: int = DEFAULT_ALERT_AFTER) -> bool:
        """True once the cell has failed ``after`` times in a row (the alert threshold)."""
        return self.consecutive_failures >= after

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "latest_status": self.latest_status,
            "failing_since": self.failing_since.as_dict() if self.failing_since else None,
            "last_success": self.last_success.as_dict() if self.last_success else None,
            "consecutive_failures": self.consecutive_failures,
            "failure_kind": self.failure_kind,
            "flakiness": _rounded(self.flakiness),
            "previous_flakiness": _rounded(self.previous_flakiness),
            "trend": self.trend,
            "window_runs": self.window_runs,
            "failures_by_kind": {kind: self.failures_by_kind.get(kind, 0) for kind in KINDS},
            "last_finished": self.last_finished.as_dict() if self.last_finished else None,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# -- the computation of one cell ---------------------------------------------------------------------------
Row = tuple[Any, ...]
"""One version of a cell: ``(seq, status, reason, started_at, finished_at, ref, sha, url, commit)``
(``StatusIndex.cell_runs(whole=True)``). The scan reads the first three; the runs an insight links to are
``RunRef``s of the whole row."""


def _run_ref(row: Row) -> RunRef:
    seq, status, reason, started, finished, ref, sha, url, commit = row
    return RunRef(status or "", finished or started or "", ref, sha, url, commit, seq, reason)


def row_of(entry: Entry) -> Row:
    """An index entry in the shape ``cell_insight`` reads."""
    return (entry.seq, entry.status, entry.reason, entry.started_at, entry.finished_at, entry.ref, entry.sha,
            entry.url, entry.commit)  # fmt: skip


def cell_insight(
    key: CellKey,
    rows_newest_first: Iterable[Row],
    window: int = DEFAULT_WINDOW,
    *,
    provisions_itself: bool = False,
) -> CellInsight | None:
    """The insight of ``key`` from its versions, newest first (None when there are none).

    Reads only as far as it needs: both flakiness windows (plus two runs, so that a broken streak across
    the older edge is seen whole) and the last success."""
    if window < 1:
        raise ValueError(f"the flakiness window must be at least 1 run, not {window}")
    need = 2 * window + BROKEN_STREAK - 1
    latest: Row | None = None
    failed: list[bool] = []  # per run, newest first, at most ``need``
    kinds: list[str | None] = []
    streak = 0
    oldest_failure: Row | None = None
    newest_kind: str | None = None
    last_success: Row | None = None
    last_finished: Row | None = None
    stage = key.stage
    for row in rows_newest_first:
        if latest is None:
            latest = row
        status = row[1]
        if last_finished is None and status in FINISHED:
            last_finished = row
        if status == PASS:
            if len(failed) < need:
                failed.append(False)
                kinds.append(None)
            if last_success is None:
                last_success = row
        elif status in FAILURES:
            kind = classify_failure(status, stage, row[2], provisions_itself=provisions_itself)
            if len(failed) < need:
                failed.append(True)
                kinds.append(kind)
            if last_success is None:
                streak += 1
                oldest_failure = row
                newest_kind = newest_kind or kind
        else:
            continue
        if last_success is not None and len(failed) >= need:
            break
    if latest is None:
        return None
    newer, older = _flakiness(failed, window)
    trend = None
    if newer is not None and older is not None:
        delta = newer - older
        trend = "worsening" if delta > TREND_THRESHOLD else "improving" if delta < -TREND_THRESHOLD else "steady"
    return CellInsight(
        key=key,
        latest_status=latest[1],
        latest_seq=latest[0],
        failing_since=_run_ref(oldest_failure) if streak and oldest_failure else None,
        last_success=_run_ref(last_success) if last_success else None,
        consecutive_failures=streak,
        failure_kind=newest_kind if streak else None,
        flakiness=newer,
        previous_flakiness=older,
        trend=trend,
        window_runs=min(window, len(failed)),
        failures_by_kind=dict(Counter(kind for kind in kinds[:window] if kind)),
        last_finished=_run_ref(last_finished) if last_finished else None,
    )


def _flakiness(failed: Sequence[bool], window: int) -> tuple[float | None, float | None]:
    """TestGrid flakiness of the newest ``window`` runs and of the ``window`` before (``failed`` is newest
    first; the runs past both windows only tell where streaks and flips began). None for a window without
    runs; 0.0 for one whose runs all belong to broken streaks."""
    n = len(failed)
    kept: list[int] = []  # runs outside streaks of BROKEN_STREAK or more failures, newest first
    i = 0
    while i < n:
        if failed[i]:
            j = i + 1
            while j < n and failed[j]:
                j += 1
            if j - i < BROKEN_STREAK:
                kept.extend(range(i, j))
            i = j
        else:
            kept.append(i)
            i += 1
    considered = [0, 0]
    flips = [0, 0]
    for m, run in enumerate(kept):
        half = run // window
        if half > 1:
            break
        considered[half] += 1
        # a flip to failure: a failure whose previous remaining run (the next one in ``kept``) passed
        if failed[run] and m + 1 < len(kept) and not failed[kept[m + 1]]:
            flips[half] += 1
    newer, older = (
        None if half * window >= n else (flips[half] / considered[half] if considered[half] else 0.0) for half in (0, 1)
    )
    return newer, older


# -- reading the index -----------------------------------------------------------------------------------
def _compute(
    index: StatusIndex, paths: Iterable[str], window: int, provisioning: frozenset[str]
) -> dict[CellKey, CellInsight]:
    out: dict[CellKey, CellInsight] = {}
    for path in paths:
        key = layout.parse_cell_path(path)
        if key is None:
            continue
        rows = index.cell_runs(path, whole=True)
        found = cell_insight(key, rows, window, provisions_itself=key.project in provisioning)
        if found is not None:
            out[key] = found
    return out


def insights(
    index: StatusIndex, window: int = DEFAULT_WINDOW, provisioning: frozenset[str] = frozenset()
) -> dict[CellKey, CellInsight]:
    """Every current cell of the index (its files at the indexed commit), computed from scratch;
    ``provisioning``: ``self_provisioning(config)``."""
    return _compute(index, index.current_paths(), window, provisioning)


def insight_of(
    index: StatusIndex, key: CellKey, window: int = DEFAULT_WINDOW, provisioning: frozenset[str] = frozenset()
) -> CellInsight | None:
    """One cell (None when it has no result at all)."""
    rows = index.cell_runs(layout.cell_path(key), whole=True)
    return cell_insight(key, rows, window, provisions_itself=key.project in provisioning)


class InsightCache:
    """The insight of every cell, kept up to date incrementally.

    ``update(index)`` after each ``index.refresh()``: when the index moved on from the entry the cache was
    computed at, only the cells with newer versions are computed again (and cells whose files were
    deleted are dropped); when the index was rebuilt (history rewritten), everything is."""

    def __init__(self, window: int = DEFAULT_WINDOW, provisioning: frozenset[str] = frozenset()):
        self.window = window
        self.provisioning = provisioning
        self.cells: dict[CellKey, CellInsight] = {}
        self.mark: tuple[int, str | None] = (0, None)

    def update(self, index: StatusIndex) -> set[CellKey]:
        """Bring the cache up to the index; returns the cells computed again."""
        mark = index.last_entry()
        if mark == self.mark:
            return set()
        seq, commit = self.mark
        if seq and index.commit_at(seq) == commit:
            current = set(index.current_paths())
            changed = index.changed_paths_since(seq) & current
            fresh = _compute(index, sorted(changed), self.window, self.provisioning)
            for key in [k for k in self.cells if layout.cell_path(k) not in current]:
                del self.cells[key]
        else:
            fresh = _compute(index, index.current_paths(), self.window, self.provisioning)
            self.cells = {}
        self.cells.update(fresh)
        self.mark = mark
        return set(fresh)

    def summary(self) -> list[dict[str, Any]]:
        """Every cell as JSON, in path order."""
        return [self.cells[key].as_dict() for key in sorted(self.cells, key=layout.cell_path)]
