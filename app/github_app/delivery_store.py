"""Which webhook deliveries were already handled, and which installations the GitHub App has.

GitHub keeps the ``X-GitHub-Delivery`` id when a delivery is redelivered (by hand or through the API), so
that id is the idempotency key: a delivery is *claimed* before it is handled, and a second claim of the
same id fails. A delivery whose handling failed, or that was turned away because the worker queue was
full, gives its claim back, so a redelivery is handled again. The store is a SQLite file beside the
status repository mirror, so it survives restarts of the app (and is shared by the worker processes of
one machine: SQLite's own locking makes the claim atomic)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crosscloud_app.web.sqlite_store import SqliteStore

log = logging.getLogger(__name__)

FILENAME = "webhook-deliveries.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    state TEXT NOT NULL,           -- 'claimed' (being handled), 'done' or 'failed'
    outcome TEXT,                  -- what the handling did, or why it failed
    received_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS installations (
    delivery TEXT PRIMARY KEY,
    event TEXT NOT NULL,           -- installation or installation_repositories
    action TEXT NOT NULL,
    installation_id INTEGER,
    account TEXT,
    repositories_added TEXT NOT NULL,   -- JSON list of owner/name
    repositories_removed TEXT NOT NULL,
    received_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    state: str
    outcome: str | None


@dataclass(frozen=True)
class InstallationChange:
    """One ``installation`` or ``installation_repositories`` event, as recorded."""

    delivery: str
    event: str
    action: str
    installation_id: int | None
    account: str | None
    repositories_added: tuple[str, ...]
    repositories_removed: tuple[str, ...]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DeliveryStore(SqliteStore):
    """The deliveries database at ``path`` (created on first use)."""

    def __init__(self, path: Path):
        super().__init__(path, _SCHEMA)

    def claim(self, delivery: str, event: str) -> bool:
        """True when this delivery is new (or failed before) and is now this caller's to handle."""
        with self._transaction() as db:
            row = db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery,)).fetchone()
            if row is not None and row[0] != "failed":
                return False
            db.execute(
                "INSERT OR REPLACE INTO deliveries (id, event, state, outcome, received_at) VALUES (?, ?, 'claimed', "
                "NULL, ?)",
                (delivery, event, _now()),
            )
            return True

    def release(self, delivery: str) -> None:
        """Give a claim back without handling the delivery (it was turned away): a redelivery is new."""
        with self._transaction() as db:
            db.execute("DELETE FROM deliveries WHERE id = ? AND state = 'claimed'", (delivery,))

    def finish(self, delivery: str, outcome: str, *, failed: bool = False) -> None:
        """Record what handling the delivery did (``failed``: a redelivery will be handled again)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, outcome = ?, finished_at = ? WHERE id = ?",
                ("failed" if failed else "done", outcome[:2000], _now(), delivery),
            )

    def get(self, delivery: str) -> Delivery | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, event, state, outcome FROM deliveries WHERE id = ?", (delivery,)
            ).fetchone()
        return Delivery(*row) if row else None

    def record_installation(
        self,
        delivery: str,
        event: str,
        action: str,
        installation_id: int | None,
        account: str | None,
        added: Sequence[str] = (),
        removed: Sequence[str] = (),
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO installations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (delivery, event, action, installation_id, account, json.dumps(list(added)),
                 json.dumps(list(removed)), _now()),
            )  # fmt: skip
        log.info(
            "GitHub App %s %s: installation %s (%s), repositories added %s, removed %s",
            event, action, installation_id, account, list(added) or "none", list(removed) or "none",
        )  # fmt: skip

    def installations(self) -> list[InstallationChange]:
        """Every recorded installation change, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT delivery, event, action, installation_id, account, repositories_added, repositories_removed "
                "FROM installations ORDER BY received_at, rowid"
            ).fetchall()
        return [
            InstallationChange(d, e, a, i, acc, tuple(json.loads(add)), tuple(json.loads(rem)))
            for d, e, a, i, acc, add, rem in rows
        ]
