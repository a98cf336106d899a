"""Which webhook deliveries were already handled, and which installations the GitHub App has.

GitHub keeps the ``X-GitHub-Delivery`` id when a delivery is redelivered (by hand or through the API), so
that id is the idempotency key: a delivery is *claimed* before it is handled, and a second claim of the
same id fails while the first is being handled. Only a finished delivery is a duplicate: one whose handling
failed, or that was turned away because the worker queue was full, gives its claim back, and a claim whose
process is gone (the app died with the delivery queued) or that is older than ``CLAIM_TIMEOUT`` can be
claimed again, so a redelivery is handled again. The store is a SQLite file beside the
status repository mirror, so it survives restarts of the app (and is shared by the worker processes of
one machine: SQLite's own locking makes the claim atomic)."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

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
    finished_at TEXT,
    owner TEXT,                    -- the claiming process: host, pid and a token of that process's life
    claimed_at REAL                -- when it was claimed (seconds since the epoch)
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


CLAIM_TIMEOUT: Final = 15 * 60.0
"""Seconds after which a claim that never finished can be claimed again, whoever made it (a delivery's work
takes seconds to a few minutes; a claim this old was lost)."""
_PROCESS: Final = f"{socket.gethostname()} {os.getpid()} {uuid.uuid4().hex}"
"""This process, as the owner of its claims (the token tells a reused pid from the process that claimed)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _process_is_gone(owner: str | None) -> bool:
    """Whether the process that made a claim has ended: a claim of another process on this host whose pid
    no longer runs, or a claim made before owners were recorded. (Another host's claim waits for the timeout.)"""
    if owner is None:
        return True
    host, _, rest = owner.partition(" ")
    pid_text, _, _token = rest.partition(" ")
    if owner == _PROCESS or host != socket.gethostname() or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():
        return True  # this pid, another token: an earlier process that had the same pid
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs (as another user)
    return False


class DeliveryStore(SqliteStore):
    """The deliveries database at ``path`` (created on first use)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        super().__init__(path, _SCHEMA)
        self._clock = clock
        with self._transaction() as db:  # a database made before claims had owners
            columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
            for column, kind in (("owner", "TEXT"), ("claimed_at", "REAL")):
                if column not in columns:
                    db.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {kind}")

    def claim(self, delivery: str, event: str) -> bool:
        """True when this delivery is new, failed before, or was claimed by a process that is gone (or longer
        than ``CLAIM_TIMEOUT`` ago), and is now this caller's to handle."""
        now = self._clock()
        with self._transaction() as db:
            row = db.execute("SELECT state, owner, claimed_at FROM deliveries WHERE id = ?", (delivery,)).fetchone()
            if row is not None:
                state, owner, claimed_at = row
                if state == "done":
                    return False
                if state == "claimed" and not (
                    _process_is_gone(owner) or claimed_at is None or now - claimed_at >= CLAIM_TIMEOUT
                ):
                    return False
                if state == "claimed":
                    log.warning("delivery %s: claimed again (the claim of %s was left unfinished)", delivery, owner)
            db.execute(
                "INSERT OR REPLACE INTO deliveries (id, event, state, outcome, received_at, owner, claimed_at) "
                "VALUES (?, ?, 'claimed', NULL, ?, ?, ?)",
                (delivery, event, _now(), _PROCESS, now),
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
