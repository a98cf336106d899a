"""Which GitHub issues the alerts opened, for which failing streak of which cell, and when they last spoke.

One row per (cell, streak): a streak is named by the status repository commit that recorded its first
failure, which stays the same however many failures follow and across index rebuilds. That is what makes
the alerts idempotent: a restart, a refresh of the same commit or a redelivered webhook finds the row and
does nothing new; a streak whose issue somebody closed by hand stays ``dismissed`` and is not reopened; a
new streak after a green run gets a new issue. The store is a SQLite file beside the status repository
mirror, like the webhook deliveries (``crosscloud_app.github_app.delivery_store``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from crosscloud_app.web.sqlite_store import SqliteStore

FILENAME: Final = "alerts.sqlite3"

OPEN: Final = "open"
CLOSED: Final = "closed"
"""Closed by the alerts, because the cell was green again."""
DISMISSED: Final = "dismissed"
"""Closed by somebody else while the cell was still failing: the streak is not alerted again."""
STATES: Final = (OPEN, CLOSED, DISMISSED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    cell TEXT NOT NULL,                 -- the cell's file in the status repository
    streak TEXT NOT NULL,               -- status repository commit of the streak's first failure
    repository TEXT NOT NULL,           -- owner/name the issue is on
    issue INTEGER NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,                -- open, closed or dismissed
    opened_at TEXT NOT NULL,
    reported_failures INTEGER NOT NULL, -- consecutive failures the issue has told about so far
    told_at TEXT NOT NULL,              -- when the issue was opened or last commented on
    closed_at TEXT,
    PRIMARY KEY (cell, streak)
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (cell) WHERE state = 'open';
"""


@dataclass(frozen=True)
class Alert:
    cell: str
    streak: str
    repository: str
    issue: int
    url: str
    state: str
    opened_at: datetime
    reported_failures: int
    told_at: datetime
    closed_at: datetime | None


def _alert(row: tuple[object, ...]) -> Alert:
    cell, streak, repository, issue, url, state, opened, reported, told, closed = row
    return Alert(
        str(cell), str(streak), str(repository), int(str(issue)), str(url), str(state),
        datetime.fromisoformat(str(opened)), int(str(reported)), datetime.fromisoformat(str(told)),
        datetime.fromisoformat(str(closed)) if closed else None,
    )  # fmt: skip


_COLUMNS = "cell, streak, repository, issue, url, state, opened_at, reported_failures, told_at, closed_at"


class AlertStore(SqliteStore):
    """The alerts database at ``path`` (created on first use; safe to share between threads)."""

    def __init__(self, path: Path):
        super().__init__(path, _SCHEMA)

    def open_alert(self, cell: str) -> Alert | None:
        """The open issue of ``cell`` (whatever its streak), if any."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM alerts WHERE cell = ? AND state = 'open' ORDER BY opened_at DESC",  # noqa: S608
                (cell,),
            ).fetchone()
        return _alert(row) if row else None

    def get(self, cell: str, streak: str) -> Alert | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM alerts WHERE cell = ? AND streak = ?",  # noqa: S608
                (cell, streak),
            ).fetchone()
        return _alert(row) if row else None

    def all(self) -> list[Alert]:
        """Every alert, oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM alerts ORDER BY opened_at, rowid").fetchall()  # noqa: S608
        return [_alert(row) for row in rows]

    def opened(
        self, cell: str, streak: str, repository: str, issue: int, url: str, failures: int, at: datetime
    ) -> Alert:
        """Record the issue of a streak (opened now, or found open on GitHub)."""
        with self._transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, NULL)",  # noqa: S608
                (cell, streak, repository, issue, url, at.isoformat(), failures, at.isoformat()),
            )
        found = self.get(cell, streak)
        assert found is not None
        return found

    def told(self, alert: Alert, failures: int, at: datetime) -> None:
        """The issue was commented on about ``failures`` consecutive failures."""
        with self._transaction() as db:
            db.execute(
                "UPDATE alerts SET reported_failures = ?, told_at = ? WHERE cell = ? AND streak = ?",
                (failures, at.isoformat(), alert.cell, alert.streak),
            )

    def closed(self, alert: Alert, at: datetime, *, dismissed: bool = False) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE alerts SET state = ?, closed_at = ? WHERE cell = ? AND streak = ?",
                (DISMISSED if dismissed else CLOSED, at.isoformat(), alert.cell, alert.streak),
            )
