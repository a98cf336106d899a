"""Where stage results go: straight into the status repository (direct mode), or as files for one fan-in
recorder job to commit a whole matrix at once (``crosscloud record --repo R DIR/*.json``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from crosscloud import layout
from crosscloud.records import Record
from crosscloud.status_repo.writer import StatusRepoWriter


class Recorder(Protocol):
    def record(self, records: Sequence[Record]) -> None: ...


class DirectRecorder:
    """Commits each batch through the status repository writer (one commit per batch)."""

    def __init__(self, writer: StatusRepoWriter):
        self.writer = writer
        self.commits: list[str] = []
        self._lock = threading.Lock()

    def record(self, records: Sequence[Record]) -> None:
        result = self.writer.write(records)
        if result.commit:
            with self._lock:
                self.commits.append(result.commit)


class FanInRecorder:
    """Writes each record as ``<dir>/<cell path with / as __>``; the last one of a cell wins."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_of(self, record: Record) -> Path:
        return self.directory / layout.cell_path(record.key).removeprefix("results/").replace("/", "__")

    def record(self, records: Sequence[Record]) -> None:
        for record in records:
            target = self.path_of(record)
            partial = target.with_suffix(".partial")
            partial.write_text(record.to_json(), encoding="utf-8")
            partial.replace(target)  # atomic: a reader never sees half a record
