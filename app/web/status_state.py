"""What the app serves: the last good state of the status repository, refreshed in the background.

A ``StatusState`` owns a mirror of the status repository and its ``StatusIndex`` (persisted beside the
mirror, so a restart reads only new commits). With ``HISTORY_DAYS`` the mirror is shallow and the index
forgets what fell out of the window, so memory, disk and a cold start stay bounded however old the status
repository gets (``docs/SCALE.md``). Requests never wait on git: they read the immutable
``Snapshot`` of the last successful refresh. A refresh that fails keeps that snapshot and sets its
``error``, so the dashboard shows "results as of <time>" under a banner instead of nothing.

Refreshes happen on one worker thread: on a timer, and when asked (``request_refresh``, e.g. from a
``push`` webhook). Requests are coalesced: however many arrive during a refresh, at most one more runs.

Each snapshot carries the insight of every cell (``crosscloud.insight``: failing since, rollback target,
flakiness, failure kind), kept by one ``InsightCache`` that recomputes only the cells a refresh changed.
Whoever must react to new results (alerts, feeds) registers with ``add_listener``: listeners run in the
refresh thread after each refresh that published a snapshot of a new status repository commit."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from flask import current_app

from crosscloud.cell_rules import CellView, Grid, RowViews, build_grid, view
from crosscloud.config import Config
from crosscloud.errors import BadInputError, CrossCloudError, StatusRepoError
from crosscloud.insight import CellInsight, InsightCache, self_provisioning
from crosscloud.records import CellKey
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.mirror import Mirror
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud_app.web import metrics

EXTENSION = "crosscloud"
GRID_TTL = timedelta(seconds=60)
"""How long a cached grid is reused before staleness (which depends on the clock) is computed again."""
TIP_POLL_SECONDS = 1.0
"""How often a worker looks at the shared tip file (``StatusState.shared_tip``)."""
WALL_CLOCK = "wall"
COMMIT_CLOCK = "commit"
CLOCKS = (WALL_CLOCK, COMMIT_CLOCK)
"""What ``now`` is for a snapshot (``StatusState``'s ``clock``)."""

log = logging.getLogger(__name__)

metrics.describe("crosscloud_refresh_failures_total", "Refreshes of the status repository mirror that failed.")
metrics.describe("crosscloud_refreshes_total", "Refreshes of the status repository mirror, by trigger.")
metrics.describe("crosscloud_refresh_duration_seconds", "How long the last refresh took.")
metrics.describe("crosscloud_listener_failures_total", "Snapshot listeners that raised, by listener.")
metrics.describe(
    "crosscloud_ignored_paths_total", "Changed files under results/ whose path is not a cell's, ignored by refreshes."
)

REFRESH_REASONS: Final = ("startup", "timer", "request", "direct", "push", "workflow_run", "junit", "results", "peer")
"""What may ask for a refresh: the values of the ``reason`` label of ``crosscloud_refreshes_total`` (any other
reason is counted as ``other``). What varies (a commit, a run id) is a refresh's ``detail``, logged, never a
label: a label that takes a new value per delivery grows a series per delivery. ``peer``: another worker of the
same server served a new commit (``shared_tip``)."""

Listener = Callable[["Snapshot"], None]
"""Called with each snapshot of a new status repository commit (see ``StatusState.add_listener``)."""
_NO_INSIGHT: Mapping[CellKey, CellInsight] = MappingProxyType({})


class NotReadyError(CrossCloudError):
    """There has never been a good state to serve (the first refresh failed or has not finished)."""


@dataclass(frozen=True)
class Snapshot:
    """Everything a request needs, computed once per status repository commit."""

    commit: str
    """The status repository commit everything here was computed from (the basis of ETags)."""
    config: Config
    current: Mapping[CellKey, Entry]
    """The validated current cells (``Entry.error`` set for a broken file)."""
    refreshed_at: datetime
    """The last successful refresh (UTC)."""
    error: str | None = None
    """Why the last refresh failed, when it did (then this is the last good state)."""
    insight: Mapping[CellKey, CellInsight] = field(default_factory=lambda: _NO_INSIGHT)
    """The insight of every cell with a result at ``commit`` (a read-only copy: it never changes)."""
    as_of: datetime | None = None
    """The instant every answer that depends on the clock (staleness, "3 minutes ago") is computed at; None:
    the wall clock. ``crosscloud publish`` sets it to the commit's time, so that a commit publishes the same
    bytes whenever it is published (see ``StatusState``'s ``clock``)."""
    _grids: dict[tuple[str, str | None, str], tuple[datetime, Grid]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _views: dict[datetime, dict[tuple[str, str, str, str], RowViews]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """What cells show at one instant (the last one asked), shared by the grids built at it (``build_grid``'s
    ``views``)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def grid(self, kubernetes: str = "stable", arch: str | None = None, stage: str = "deploy") -> Grid:
        """The dashboard grid for a test environment and a view (``cell_rules.VIEW_STAGES``), cached (for
        ``GRID_TTL``, as staleness moves with time)."""
        now = self.now()
        with self._lock:
            cached = self._grids.get((kubernetes, arch, stage))
            if cached is not None and now - cached[0] < GRID_TTL:
                return cached[1]
        with self._lock:
            if now not in self._views:
                self._views.clear()
            views = self._views.setdefault(now, {})
        grid = build_grid(
            self.config, self.current, now=now, kubernetes=kubernetes, arch=arch, stage=stage, views=views
        )
        with self._lock:
            self._grids[(kubernetes, arch, stage)] = (now, grid)
        return grid

    def cell(self, key: CellKey) -> CellView:
        """What one cell shows now (``cell_rules.view`` with this snapshot's entries and configuration)."""
        project = self.config.projects.get(key.project)
        timeout = timedelta(seconds=project.timeout if project else 0)
        return view(key, self.current, now=self.now(), stale_after=self.config.stale_after, timeout=timeout)

    def now(self) -> datetime:
        """The time clock-dependent answers are computed at: ``as_of``, or the wall clock (UTC)."""
        return self.as_of or datetime.now(UTC)

    @property
    def age(self) -> timedelta:
        return datetime.now(UTC) - self.refreshed_at


class StatusState:
    """The mirror, its index and the current ``Snapshot`` of one status repository (see the module doc)."""

    def __init__(
        self,
        remote: Remote,
        mirror_dir: Path,
        *,
        refresh_seconds: float = 300.0,
        history_days: float | None = None,
        clock: str = WALL_CLOCK,
        shared_tip: Path | None = None,
    ) -> None:
        if clock not in CLOCKS:
            raise BadInputError(f"clock {clock!r}: use one of {', '.join(CLOCKS)}")
        self.remote = remote
        self.mirror_dir = mirror_dir
        self.refresh_seconds = refresh_seconds
        self.history_days = history_days
        """The mirror's history window (``HISTORY_DAYS``), None for all history."""
        self.clock = clock
        """``wall``: answers move with the clock; ``commit``: every snapshot is as of its commit's time
        (``Snapshot.as_of``, and ``refreshed_at`` is that time too), so answers depend on the commit alone."""
        self.shared_tip = shared_tip
        """A file the worker processes of one server share (``worker_slots``): touched after each refresh that
        publishes a new commit; when another process touched it, this one refreshes within
        ``TIP_POLL_SECONDS``. None: a process on its own."""
        self._tip_seen = self._tip_mtime()
        mirror_dir.mkdir(parents=True, exist_ok=True)
        self._mirror: Mirror | None = None  # made by the first refresh (a local repository may not exist yet)
        self._index: StatusIndex | None = None
        self._index_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._last_error: str | None = None
        self._wake = threading.Event()
        self._pending: tuple[str, str | None] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._insight: InsightCache | None = None  # made with the window of the first configuration read
        self._listeners: list[Listener] = []
        self.last_duration: float | None = None

    # -- reading -----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The last good state (never waits on git); ``NotReadyError`` when there has never been one."""
        snap = self._snapshot
        if snap is None:
            raise NotReadyError(
                f"no results from {self.remote} yet: {self._last_error or 'the first refresh is running'}"
            )
        return snap

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @contextlib.contextmanager
    def query(self) -> Iterator[StatusIndex]:
        """Locked access to the index, for history queries (refreshes wait meanwhile; keep it short)."""
        with self._index_lock:
            if self._index is None:
                raise NotReadyError(f"no index of {self.remote} yet: {self._last_error}")
            yield self._index

    def index_size(self) -> int:
        with self._index_lock:
            return self._index.size() if self._index is not None else 0

    # -- listening ---------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(snapshot)`` after each refresh that publishes a snapshot of a new status repository
        commit (not when a refresh finds the same commit or fails). A listener added once a snapshot exists
        is not called for it: ``snapshot()`` is the state it starts from (``create_app`` refreshes before the
        packages register).

        Listeners run in the refresh thread, in the order they were added, after the snapshot is published
        and outside the index lock (so they may use ``query()`` and ``snapshot()``, and ``request_refresh``,
        but not ``refresh_now``, which would wait for itself). A listener that raises is logged and counted
        in ``crosscloud_listener_failures_total``; the refresh and the other listeners go on."""
        self._listeners.append(fn)

    def _notify(self, snap: Snapshot) -> None:
        for fn in list(self._listeners):
            try:
                fn(snap)
            except Exception:  # a listener must never break the refresh
                name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
                metrics.inc("crosscloud_listener_failures_total", {"listener": name})
                log.exception("listener %s failed on status commit %s", name, snap.commit)

    # -- refreshing --------------------------------------------------------------------------
    def refresh_now(self, reason: str = "direct", detail: str | None = None) -> Snapshot:
        """Fetch, index new commits and publish a new snapshot; on failure keep the last good one with
        ``error`` set (and raise ``NotReadyError`` when there is none). ``reason`` is one of
        ``REFRESH_REASONS``; ``detail`` (a commit, a run id) only reaches the log."""
        with self._refresh_lock:
            started = time.monotonic()
            metrics.inc("crosscloud_refreshes_total", {"reason": reason if reason in REFRESH_REASONS else "other"})
            log.debug("refresh of %s: %s %s", self.remote, reason, detail or "")
            fresh: Snapshot | None = None
            try:
                fresh = self._refresh()
            except (CrossCloudError, OSError) as exc:
                self._last_error = str(exc)
                metrics.inc("crosscloud_refresh_failures_total")
                log.warning("refresh of %s failed: %s", self.remote, exc)
                if self._snapshot is not None:
                    self._snapshot = replace(self._snapshot, error=str(exc))
            finally:
                self.last_duration = time.monotonic() - started
                metrics.set_gauge("crosscloud_refresh_duration_seconds", self.last_duration)
            if fresh is not None:
                self._notify(fresh)
            return self.snapshot()

    def _open(self) -> tuple[Mirror, StatusIndex]:
        if self._mirror is None:
            self._mirror = Mirror(self.remote, cache=self.mirror_dir, history_days=self.history_days)
        if self._index is None:
            digest = hashlib.sha256(self.remote.url.encode()).hexdigest()[:16]
            window = "" if self.history_days is None else f"-{self.history_days:g}d"
            self._index = StatusIndex(self._mirror.git_dir, self.mirror_dir / f"index-{digest}{window}.sqlite3")
        return self._mirror, self._index

    def _refresh(self) -> Snapshot | None:
        """Publish the state of the fetched mirror; returns the snapshot when its commit is new."""
        mirror, index = self._open()
        if not mirror.is_copy and not mirror.git_dir.exists():
            raise StatusRepoError(f"the status repository {self.remote} is not there any more")
        mirror.fetch()
        now = datetime.now(UTC)
        with self._index_lock:
            stats = index.refresh()
            if stats.ignored:
                metrics.inc("crosscloud_ignored_paths_total", amount=stats.ignored)
                shown = ", ".join(repr(p) for p in stats.ignored_paths)
                more = (
                    f" and {stats.ignored - len(stats.ignored_paths)} more"
                    if stats.ignored > len(stats.ignored_paths)
                    else ""
                )
                log.warning("refresh of %s ignored %d files under results/ that are not cells: %s%s",
                            self.remote, stats.ignored, shown, more)  # fmt: skip
            if mirror.history_days is not None and index.forget_before(int(mirror.window_start().timestamp())):
                self._insight = None  # answers counted versions that are gone: count again
            old = self._snapshot
            if old is not None and old.commit == stats.commit:
                self._snapshot = replace(old, refreshed_at=old.as_of or now, error=None)
                self._last_error = None
                return None
            config = index.config()
            current = index.current()
            insight = self._update_insight(index, config)
            as_of = self._commit_time(index, stats.commit) if self.clock == COMMIT_CLOCK else None
        snap = Snapshot(stats.commit, config, current, as_of or now, insight=insight, as_of=as_of)
        self._snapshot = snap
        self._last_error = None
        self._touch_tip(stats.commit)
        return snap

    def _tip_mtime(self) -> int | None:
        try:
            return self.shared_tip.stat().st_mtime_ns if self.shared_tip is not None else None
        except FileNotFoundError:
            return None

    def _touch_tip(self, commit: str) -> None:
        """Tell the other workers a new commit is served (the file holds it, for people; its time is the news)."""
        if self.shared_tip is None:
            return
        temporary = self.shared_tip.with_name(f".{self.shared_tip.name}.{os.getpid()}")
        temporary.write_text(f"{commit}\n")
        temporary.replace(self.shared_tip)
        self._tip_seen = self._tip_mtime()

    @staticmethod
    def _commit_time(index: StatusIndex, commit: str) -> datetime:
        """When ``commit`` was committed (its committer date, UTC)."""
        return datetime.fromtimestamp(int(index.git.text("show", "-s", "--format=%ct", commit).strip()), UTC)

    def _update_insight(self, index: StatusIndex, config: Config) -> Mapping[CellKey, CellInsight]:
        """Bring the insight cache up to the index (under the index lock) and return a frozen copy of it.

        A new ``settings.flakiness_window`` (or a project changing ``app_layer``) changes every answer, so the
        cache starts again then."""
        provisioning = self_provisioning(config)
        cache = self._insight
        if cache is None or cache.window != config.flakiness_window or cache.provisioning != provisioning:
            cache = self._insight = InsightCache(config.flakiness_window, provisioning)
        cache.update(index)
        return MappingProxyType(dict(cache.cells))

    def request_refresh(self, reason: str, detail: str | None = None) -> None:
        """Ask the worker for a refresh and return at once; requests made meanwhile make one refresh (see
        ``refresh_now`` for ``reason`` and ``detail``)."""
        self._pending = (reason, detail)
        self._wake.set()

    def start(self) -> None:
        """Start the worker thread (the timer and ``request_refresh``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="crosscloud-refresh", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def reconnect_after_fork(self) -> None:
        """In a process forked from this one: its own connection to the index (``StatusIndex``'s)."""
        with self._index_lock:
            if self._index is None:
                raise NotReadyError(f"no index of {self.remote} yet: {self._last_error}")
            self._index.reconnect_after_fork()

    def close(self) -> None:
        self.stop()
        with self._index_lock:
            if self._index is not None:
                self._index.close()

    def _run(self) -> None:
        next_timer = time.monotonic() + self.refresh_seconds
        while not self._stopping.is_set():
            wait = max(0.0, next_timer - time.monotonic()) if self.refresh_seconds else None
            if self.shared_tip is not None:
                wait = TIP_POLL_SECONDS if wait is None else min(wait, TIP_POLL_SECONDS)
            woken = self._wake.wait(wait)
            if self._stopping.is_set():
                return
            if woken:
                self._wake.clear()
                (reason, detail), self._pending = self._pending or ("request", None), None
            elif self.shared_tip is not None and self._tip_mtime() != self._tip_seen:
                self._tip_seen = self._tip_mtime()
                reason, detail = "peer", None
            elif self.refresh_seconds and time.monotonic() >= next_timer:
                reason, detail = "timer", None
            else:
                continue
            next_timer = time.monotonic() + self.refresh_seconds
            try:
                self.refresh_now(reason, detail)
            except NotReadyError:
                pass  # recorded in last_error; the next tick tries again
            except Exception:  # the worker must survive anything a refresh throws
                log.exception("refresh of %s crashed", self.remote)

    def status(self) -> dict[str, Any]:
        """For /healthz: what is served and how old it is."""
        snap = self._snapshot
        return {
            "repository": str(self.remote),
            "commit": snap.commit if snap else None,
            "refreshed_at": snap.refreshed_at.isoformat() if snap else None,
            "mirror_age_seconds": round(snap.age.total_seconds(), 3) if snap else None,
            "error": self._last_error,
        }


def get_state() -> StatusState:
    """The ``StatusState`` of the current app."""
    state: StatusState = current_app.extensions[EXTENSION]
    return state
