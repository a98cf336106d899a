"""Reading a status repository: the current state of every cell and the history of each, from git alone.

``StatusIndex`` keeps an SQLite index of every version of every cell file. It is keyed by the commit it
was computed from: ``refresh()`` reads only the commits since then (``git log --raw`` plus one
``git cat-file --batch``), and rebuilds from scratch when history was rewritten. History entries are
summarised with light checks (a file that is not a record becomes an entry with an ``error``); the
current cells are validated in full against the schema, so a broken file breaks one cell, not the rest."""

from __future__ import annotations

import codecs
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crosscloud import layout, schemas
from crosscloud.config import Config, parse_config
from crosscloud.errors import BadInputError, StatusRepoError
from crosscloud.records import MAX_RECORD_BYTES, CellKey, Record, time_ahead
from crosscloud.status_repo.git import Git
from crosscloud.vocabulary import STATUSES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    blob TEXT,
    project TEXT NOT NULL, release TEXT NOT NULL, arch TEXT NOT NULL, stage TEXT NOT NULL,
    cloud TEXT, environment TEXT,
    status TEXT, started_at TEXT, finished_at TEXT,
    ref TEXT, sha TEXT, url TEXT, reason TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS current (path TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS validated (blob TEXT PRIMARY KEY, error TEXT);
"""
_FIELDS = ("status", "started_at", "finished_at", "ref", "sha", "url", "reason")
_PATH_INDEX = "CREATE INDEX IF NOT EXISTS entries_by_path ON entries (path, seq)"
_WHOLE_RUN = "seq, status, reason, started_at, finished_at, ref, sha, url, commit_id"
"""The columns of ``cell_runs(whole=True)``: the shape of ``crosscloud.insight.Row``."""
_SCHEMA_DIGEST = hashlib.sha256(json.dumps(schemas.load(schemas.RESULT), sort_keys=True).encode()).hexdigest()[:16]
"""The result schema that full validations were made against (a new schema invalidates them)."""
_CHANGES_PER_PART = 65536
"""Changes read from ``git log`` before they are ingested: a night at the CNCF's breadth is about one part."""
_ROWS_PER_INSERT = 16384
"""Entries per ``executemany``: bounded memory while a cold index of many nights streams in."""
_PRELOAD_BATCH = 4096
"""Blobs ``preload`` reads per ``cat-file`` call."""


@dataclass(frozen=True)
class Entry:
    """One version of one cell file: what the dashboard, the API and ``crosscloud history`` show."""

    key: CellKey
    seq: int
    """Position in the index: later versions have larger numbers (a cursor for pagination)."""
    path: str
    commit: str
    committed_at: int
    blob: str | None
    status: str | None
    started_at: str | None
    finished_at: str | None
    ref: str | None
    sha: str | None
    url: str | None
    reason: str | None
    error: str | None
    """Why the file is not a valid record (then ``status`` is None)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.key.as_dict(),
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "ref": self.ref,
            "sha": self.sha,
            "url": self.url,
            "reason": self.reason,
            "error": self.error,
            "commit": self.commit,
            "path": self.path,
        }


_IGNORED_SHOWN = 10
"""How many ignored paths a refresh names (it counts them all)."""


@dataclass(frozen=True)
class RefreshStats:
    commit: str
    commits: int
    entries: int
    rebuilt: bool
    ignored: int = 0
    """Changed files under ``results/`` whose path is not a cell's (not indexed, not an error)."""
    ignored_paths: tuple[str, ...] = ()
    """The first few of them, for a log line."""


def _too_large(path: str, size: int) -> dict[str, Any]:
    """The entry of a file larger than any record: an error, and the blob is never read (a 150 MB file must
    not cost a refresh its memory, nor reach a history answer or a page)."""
    return {"error": f"{path}: too large to be a record ({size} bytes, at most {MAX_RECORD_BYTES})"}


_decode = json.JSONDecoder().decode


def _summarise(path: str, key: CellKey, content: bytes | None) -> dict[str, Any]:
    """The indexed fields of one file version, with light checks only (see the module doc)."""
    if content is None:
        return {"error": "file is not a blob"}
    try:
        try:
            # what every writer writes: UTF-8, no encoding to detect (a byte order mark is let through)
            data = _decode(content[3:].decode() if content.startswith(codecs.BOM_UTF8) else content.decode())
        except UnicodeDecodeError:
            data = json.loads(content)  # UTF-16 or -32 with a BOM, as json.loads reads them (or its error)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"error": f"{path}: not JSON ({exc})"}
    except RecursionError:  # arrays nested deeper than Python's stack: one broken cell, not a failed refresh
        return {"error": f"{path}: not JSON (nested too deeply)"}
    if not isinstance(data, dict):
        return {"error": f"{path}: not a JSON object"}
    out = {name: value if isinstance(value := data.get(name), str) else None for name in _FIELDS}
    if out["status"] not in STATUSES or out["started_at"] is None:
        return {"error": f"{path}: no valid status or started_at"}
    if (data.get("project"), data.get("release"), data.get("stage"), data.get("cloud")) != (
        key.project,
        key.release,
        key.stage,
        key.cloud,
    ):
        return {"error": f"{path}: the record's project/release/stage/cloud do not match its path"}
    return out


class StatusIndex:
    def __init__(self, git_dir: Path, db_path: str | Path = ":memory:"):
        self.git = Git(git_dir)
        self.db_path = str(db_path)
        self.db = sqlite3.connect(self.db_path, check_same_thread=False)
        self._inherited: list[sqlite3.Connection] = []
        self.db.executescript(_SCHEMA)
        self.db.execute(_PATH_INDEX)
        self._valid: dict[str, str | None] = {}  # blob -> error of full validation (None: valid)
        with self.db:  # full validations are kept in the index file, for the schema they were made with
            row = self.db.execute("SELECT value FROM meta WHERE name = 'validated_with'").fetchone()
            if row is None or row[0] != _SCHEMA_DIGEST:
                self.db.execute("DELETE FROM validated")
                self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('validated_with', ?)",
                                (_SCHEMA_DIGEST,))  # fmt: skip
        self._preloaded: dict[str, bytes | None] = {}  # blob -> content read by preload()

    # -- state -------------------------------------------------------------------------------
    @property
    def commit(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = 'commit'").fetchone()
        return row[0] if row else None

    def tip(self) -> str:
        proc = self.git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{layout.BRANCH}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise StatusRepoError(f"{self.git.git_dir} has no branch {layout.BRANCH}: is it a status repository?")
        return proc.stdout.decode().strip()

    def config(self) -> Config:
        """The configuration at the indexed commit."""
        commit = self.commit or self.tip()
        text = self.git.read_blobs([f"{commit}:{layout.CONFIG_PATH}"])[f"{commit}:{layout.CONFIG_PATH}"]
        if text is None:
            raise StatusRepoError(f"no {layout.CONFIG_PATH} in {self.git.git_dir} at {commit[:12]}")
        return parse_config(text, f"{layout.CONFIG_PATH} at {commit[:12]}")

    # -- building ----------------------------------------------------------------------------
    def refresh(self, tip: str | None = None) -> RefreshStats:
        """Bring the index up to ``tip`` (default: the branch), reading only what is new."""
        tip = tip or self.tip()
        known = self.commit
        if known == tip:
            return RefreshStats(tip, 0, 0, rebuilt=False)
        rebuilt = known is None or not self._is_ancestor(known, tip)
        with self.db:
            if rebuilt:  # the path index is made once at the end: cheaper than kept up row by row
                self.db.execute("DROP INDEX IF EXISTS entries_by_path")
                self.db.execute("DELETE FROM entries")
                self.db.execute("DELETE FROM current")
            commits = count = ignored = 0
            shown: list[str] = []  # the first few ignored paths, for a log line
            for in_part, changes, ignored_in_part in self._changes(tip if rebuilt else f"{known}..{tip}"):
                commits += in_part
                count += self._ingest(changes)
                ignored += len(ignored_in_part)
                shown += ignored_in_part[: _IGNORED_SHOWN - len(shown)]
            self.db.execute(_PATH_INDEX)
            self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('commit', ?)", (tip,))
        return RefreshStats(tip, commits, count, rebuilt, ignored, tuple(shown))

    def forget_before(self, when: int) -> int:
        """Drop the versions committed before ``when`` (Unix time) that no cell shows any more: what a mirror
        with a history window (``Mirror(history_days=...)``) no longer holds. Returns how many went."""
        with self.db:
            gone = self.db.execute(
                "DELETE FROM entries WHERE committed_at < ? AND seq NOT IN (SELECT seq FROM current)", (when,)
            ).rowcount
        return int(gone)

    def _is_ancestor(self, old: str, new: str) -> bool:
        return self.git.run("merge-base", "--is-ancestor", old, new, check=False).returncode == 0

    def _changes(
        self, revisions: str
    ) -> Iterator[tuple[int, list[tuple[str, int, str, CellKey, str | None]], list[str]]]:
        """(commits, changes, ignored) in parts of about ``_CHANGES_PER_PART`` changes, oldest first; a change
        is (commit, time, path, cell, new blob or None when deleted) of a cell file, and ``ignored`` lists the
        changed paths under ``results/`` that are not cells'. ``git log`` is read as it comes, so a cold index
        of many nights never holds them all at once."""
        stream = self.git.stream(
            "log", "--reverse", "--first-parent", "-m", "--raw", "--no-renames", "--no-abbrev", "-z",
            "--format=%x01%H%x00%ct", revisions, "--", f"{layout.RESULTS_DIR}/",
        )  # fmt: skip
        cells: dict[str, CellKey | None] = {}  # path -> cell: a night changes every cell file again
        changes: list[tuple[str, int, str, CellKey, str | None]] = []
        ignored: list[str] = []
        commits = 0
        pending: list[bytes] = []  # the commit being read, in blocks (one night can be megabytes)
        for block in _with_end(stream):
            if block is None:  # the end: what is left is the last commit
                complete, pending = [b"".join(pending)], []
            elif b"\x01" not in block:
                pending.append(block)
                continue
            else:
                *complete, last = b"".join([*pending, block]).split(b"\x01")
                pending = [last]
            for raw in complete:
                if not raw:
                    continue
                tokens = raw.decode("utf-8", errors="surrogateescape").split("\x00")
                commit, when = tokens[0], int(tokens[1])
                commits += 1
                for meta, path in zip(tokens[2::2], tokens[3::2], strict=False):
                    fields = meta.strip().split(" ")
                    if len(fields) < 5:
                        continue
                    key = cells[path] if path in cells else cells.setdefault(path, layout.parse_cell_path(path))
                    if key is None:
                        ignored.append(path)
                        continue
                    blob = None if fields[4].startswith("D") else fields[3]
                    changes.append((commit, when, path, key, blob))
            if len(changes) >= _CHANGES_PER_PART:
                yield commits, changes, ignored
                commits, changes, ignored = 0, [], []
        if commits or changes or ignored:
            yield commits, changes, ignored

    def _ingest(self, changes: Sequence[tuple[str, int, str, CellKey, str | None]]) -> int:
        """Insert one entry per change (sequence numbers assigned here, in order) and move ``current``.

        The blobs are streamed from one ``cat-file --batch`` in the order the changes first name them, and
        summarised as they arrive; a blob named again later (the same content at another path or time) is
        kept until its last use."""
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()
        seq = int(row[0])
        current: dict[str, int | None] = {}  # path -> newest seq, None when deleted
        uses = Counter(blob for *_, blob in changes if blob is not None)
        sizes = self.git.object_sizes(list(uses))  # a file too large to be a record is never read
        too_large = {blob: size for blob, size in sizes.items() if size is not None and size > MAX_RECORD_BYTES}
        stream = self.git.stream_blobs([blob for blob in uses if blob not in too_large])  # order of first use
        kept: dict[str, bytes | None] = {}
        rows: list[tuple[Any, ...]] = []
        for commit, when, path, key, blob in changes:
            if blob is None:
                current[path] = None
                continue
            seq += 1
            current[path] = seq
            if blob in too_large:
                get = _too_large(path, too_large[blob]).get
            else:
                if blob in kept:
                    content = kept[blob]
                else:
                    found, content = next(stream)
                    assert found == blob, (found, blob)
                    if uses[blob] > 1:
                        kept[blob] = content
                uses[blob] -= 1
                if not uses[blob]:
                    kept.pop(blob, None)
                get = _summarise(path, key, content).get
            rows.append(
                (seq, path, commit, when, blob, key.project, key.release, key.arch, key.stage, key.cloud,
                 key.environment, get("status"), get("started_at"), get("finished_at"), get("ref"), get("sha"),
                 get("url"), get("reason"), get("error"))
            )  # fmt: skip
            if len(rows) >= _ROWS_PER_INSERT:
                self._insert(rows)
                rows = []
        self._insert(rows)
        for _ in stream:  # nothing is left; this ends the process
            pass
        self.db.executemany("DELETE FROM current WHERE path = ?", [(p,) for p, s in current.items() if s is None])
        self.db.executemany(
            "INSERT OR REPLACE INTO current (path, seq) VALUES (?, ?)",
            [(p, s) for p, s in current.items() if s is not None],
        )
        return len(changes)

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany(
            "INSERT INTO entries (seq, path, commit_id, committed_at, blob, project, release, arch, stage, "
            "cloud, environment, status, started_at, finished_at, ref, sha, url, reason, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    # -- queries -----------------------------------------------------------------------------
    def current(self, now: datetime | None = None) -> dict[CellKey, Entry]:
        """The stored result of every cell at the indexed commit, each validated in full. A record dated
        ahead of ``now`` (default: the clock; see ``records.CLOCK_AHEAD``) is an error: it must not pin its
        cell, and the writer replaces it with the next genuine result."""
        rows = self.db.execute("SELECT e.* FROM current c JOIN entries e ON e.seq = c.seq ORDER BY e.path").fetchall()
        entries = [_entry(row) for row in rows]
        self._validate_blobs([e for e in entries if e.error is None and e.blob and e.blob not in self._valid])
        moment = now or datetime.now(UTC)
        # Only the blobs of the current cells are remembered: the memo stays as large as the grid.
        self._valid = {e.blob: self._valid[e.blob] for e in entries if e.blob in self._valid}
        return {entry.key: self._validated(entry, moment) for entry in entries}

    def history(
        self,
        *,
        project: str | None = None,
        release: str | None = None,
        arch: str | None = None,
        stage: str | None = None,
        cloud: str | None = None,
        environment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        before_seq: int | None = None,
    ) -> list[Entry]:
        """Versions of the matching cells, newest first."""
        where: list[str] = []
        args: list[Any] = []
        path = _one_cell_path(project, release, arch, stage, cloud, environment)
        if path is not None:  # one cell: walk the path index, not every entry newest first
            where.append("path = ?")
            args.append(path)
        for column, value in (
            ("project", project), ("release", release), ("arch", arch), ("stage", stage),
            ("cloud", cloud), ("environment", environment), ("status", status),
        ):  # fmt: skip
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        # Only fixed column names are joined in; every value is a bound parameter.
        sql = "SELECT * FROM entries" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_entry(row) for row in self.db.execute(sql, args)]

    def cell_history(self, key: CellKey, limit: int | None = None) -> list[Entry]:
        """The versions of one cell, newest first (uses the path index)."""
        sql = "SELECT * FROM entries WHERE path = ? ORDER BY seq DESC" + (" LIMIT ?" if limit else "")  # noqa: S608
        args: list[Any] = [layout.cell_path(key)] + ([limit] if limit else [])
        return [_entry(row) for row in self.db.execute(sql, args)]

    # -- scans for whole-history computations (crosscloud.insight) ------------------------------------------
    def cell_runs(self, path: str, *, whole: bool = False) -> Iterator[tuple[Any, ...]]:
        """``(seq, status, reason)`` of every version of the cell file ``path``, newest first, fetched lazily:
        a scan that stops early reads only what it needed. ``whole``: followed by ``started_at``,
        ``finished_at``, ``ref``, ``sha``, ``url`` and the commit (a version's row is read anyway; the
        insight of a cell links some of them)."""
        columns = _WHOLE_RUN if whole else "seq, status, reason"
        cursor = self.db.execute(f"SELECT {columns} FROM entries WHERE path = ? ORDER BY seq DESC", (path,))  # noqa: S608
        try:
            if whole:  # a link is read as every entry's is (``_link``: never a javascript: URL)
                for seq, status, reason, started, finished, ref, sha, url, commit in cursor:
                    yield seq, status, reason, started, finished, ref, sha, _link(url), commit
            else:
                yield from cursor
        finally:
            cursor.close()

    def runs_newest_first(self, prefix: str) -> Iterator[tuple[int, str, str | None]]:
        """``(seq, path, status)`` of every version of every cell file under ``prefix`` (``results/`` or a
        project's folder), newest first, fetched lazily (a walk of the primary key: a scan that stops early
        reads only the newest versions)."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first path after every path under ``prefix``
        cursor = self.db.execute(
            "SELECT seq, path, status FROM entries WHERE path >= ? AND path < ? ORDER BY seq DESC", (prefix, upper)
        )
        try:
            yield from cursor
        finally:
            cursor.close()

    def oldest_result(self, path: str, skip: str) -> int | None:
        """The seq of the oldest version of the cell file ``path`` whose status is not ``skip`` (a running
        step is no result), None when there is none."""
        row = self.db.execute(
            "SELECT seq FROM entries WHERE path = ? AND status IS NOT ? ORDER BY seq LIMIT 1", (path, skip)
        ).fetchone()
        return row[0] if row else None

    def entry_at(self, seq: int) -> Entry | None:
        row = self.db.execute("SELECT * FROM entries WHERE seq = ?", (seq,)).fetchone()
        return _entry(row) if row else None

    def changed_paths_since(self, seq: int) -> set[str]:
        """Cell files with a version newer than ``seq``. (A range of the primary key, deduplicated here: with
        DISTINCT, SQLite walks the whole path index.)"""
        return {path for (path,) in self.db.execute("SELECT path FROM entries WHERE seq > ?", (seq,))}

    def current_paths(self) -> list[str]:
        """The cell files at the indexed commit, in path order."""
        return [path for (path,) in self.db.execute("SELECT path FROM current ORDER BY path")]

    def last_entry(self) -> tuple[int, str | None]:
        """(largest seq, its commit): where the index stands. A rebuild numbers entries from 1 again, so the
        seq alone can repeat; the commit at that seq tells the two apart."""
        row = self.db.execute("SELECT seq, commit_id FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, None)

    def commit_at(self, seq: int) -> str | None:
        row = self.db.execute("SELECT commit_id FROM entries WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else None

    def preload(self, entries: Sequence[Entry]) -> None:
        """Read the files behind ``entries`` now, in one batch, for ``record`` to answer from memory (a caller
        that will ask for many records, such as ``crosscloud publish``, saves a git process per record)."""
        blobs = sorted({e.blob for e in entries if e.blob is not None and e.blob not in self._preloaded})
        for start in range(0, len(blobs), _PRELOAD_BATCH):
            contents, too_large = self.git.read_small_blobs(blobs[start : start + _PRELOAD_BATCH], MAX_RECORD_BYTES)
            self._preloaded.update((blob, content) for blob, content in contents.items() if blob not in too_large)

    def record(self, entry: Entry) -> Record:
        """The full record behind an entry (read from git on demand, or from what ``preload`` read)."""
        if entry.blob is None:
            raise StatusRepoError(f"{entry.path} at {entry.commit[:12]} has no content")
        if entry.blob in self._preloaded:
            content = self._preloaded[entry.blob]
        else:
            contents, too_large = self.git.read_small_blobs([entry.blob], MAX_RECORD_BYTES)
            if entry.blob in too_large:
                where = f"{entry.path} at {entry.commit[:12]}"
                raise StatusRepoError(_too_large(where, too_large[entry.blob])["error"])
            content = contents[entry.blob]
        if content is None:
            raise StatusRepoError(f"blob {entry.blob} of {entry.path} is missing")
        return Record.from_json(content, source=f"{entry.path} at {entry.commit[:12]}")

    def size(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def _validate_blobs(self, entries: Sequence[Entry]) -> None:
        """Full schema validation of the files behind ``entries``, read in one batch, remembered by blob (in
        memory and in the index, so a restart with a persisted index validates only what is new)."""
        blobs = sorted({e.blob for e in entries if e.blob})
        for start in range(0, len(blobs), 500):
            part = blobs[start : start + 500]
            marks = ",".join("?" * len(part))
            self._valid.update(self.db.execute(f"SELECT blob, error FROM validated WHERE blob IN ({marks})", part))  # noqa: S608 - only placeholders
        entries = [e for e in entries if e.blob not in self._valid]
        contents, too_large = self.git.read_small_blobs(sorted({e.blob for e in entries if e.blob}), MAX_RECORD_BYTES)
        for entry in entries:
            assert entry.blob is not None
            content = contents.get(entry.blob)
            try:
                if entry.blob in too_large:
                    raise StatusRepoError(_too_large(entry.path, too_large[entry.blob])["error"])
                if content is None:
                    raise StatusRepoError(f"blob {entry.blob} of {entry.path} is missing")
                record = Record.from_json(content, source=entry.path)
                mismatch = record.key != entry.key
                self._valid[entry.blob] = f"{entry.path}: the record is for {record.key}" if mismatch else None
            except (BadInputError, StatusRepoError) as exc:
                self._valid[entry.blob] = str(exc)
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO validated (blob, error) VALUES (?, ?)",
                                [(e.blob, self._valid[e.blob]) for e in entries if e.blob])  # fmt: skip

    def _validated(self, entry: Entry, now: datetime) -> Entry:
        error = None if entry.error or entry.blob is None else self._valid.get(entry.blob)
        if error is None and entry.error is None:
            ahead = time_ahead({"started_at": entry.started_at, "finished_at": entry.finished_at}, now)
            error = f"{entry.path}: {ahead}" if ahead else None
        if error is None:
            return entry
        return Entry(**{**entry.__dict__, "status": None, "error": error})

    def reconnect_after_fork(self) -> None:
        """In a process forked from the one that opened the index: a connection of its own to the index file
        (an SQLite connection must not be used across ``fork``). The inherited one is kept aside, never used
        nor closed, as SQLite advises."""
        if self.db_path == ":memory:":
            raise StatusRepoError("an index in memory cannot be shared with a forked process")
        self._inherited.append(self.db)
        self.db = sqlite3.connect(self.db_path, check_same_thread=False)

    def close(self) -> None:
        self.db.close()


def _with_end(blocks: Iterator[bytes]) -> Iterator[bytes | None]:
    """``blocks``, then None."""
    yield from blocks
    yield None


def _entry(row: Sequence[Any]) -> Entry:
    (seq, path, commit, when, blob, project, release, arch, stage, cloud, environment,
     status, started, finished, ref, sha, url, reason, error) = row  # fmt: skip
    return Entry(
        CellKey(project, release, arch, stage, cloud, environment),
        seq, path, commit, when, blob, status, started, finished, ref, sha, _link(url), reason, error,
    )  # fmt: skip


def _one_cell_path(
    project: str | None,
    release: str | None,
    arch: str | None,
    stage: str | None,
    cloud: str | None,
    environment: str | None,
) -> str | None:
    """The file of the one cell these filters name, when they name exactly one (else None)."""
    if project is None or release is None or arch is None or stage is None:
        return None
    if stage != "build" and (cloud is None or environment is None):
        return None
    if stage == "build":  # a build has neither cloud nor environment
        key = CellKey(project, release, arch, stage)
    else:
        key = CellKey(project, release, arch, stage, cloud, environment)
    try:
        return layout.cell_path(key)
    except ValueError:  # not a cell at all: the other filters find nothing
        return None


def _link(url: str | None) -> str | None:
    """A job link as every surface may show it: http(s) only. A valid record's url always is (the schema
    says so), but the index also keeps files that are not valid records, and a hand-edited
    ``"url": "javascript:..."`` must not become a link on a page (or in the API, or the feed)."""
    return url if url is not None and url.startswith(("https://", "http://")) else None
