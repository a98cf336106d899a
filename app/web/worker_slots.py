"""One mirror per worker process: ``claim`` gives a process the first free slot ``worker-<k>/`` under the
mirror directory, held by an exclusive ``flock`` on ``worker-<k>.lock`` for as long as the process lives.

Several workers over one status repository (``crosscloud serve --workers N``) must not fetch into the same
git directory or write the same SQLite index at once. A slot per worker makes each one's mirror and index
its own, and a worker that is restarted (or a new server after an old one stopped) takes a free slot that is
already warm: only commits since then are fetched and indexed. The kernel releases the lock when a process
dies, however it dies, so a slot is never lost.

The workers stay consistent through ``StatusState``'s shared tip file: a worker that publishes a new commit
(after a push webhook, say) touches it, and the others refresh within a second."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

MAX_SLOTS = 256
"""More workers than this over one mirror directory is a mistake, not a deployment."""
EXTENSION = "crosscloud.worker_slot"
"""``app.extensions`` key of the process's ``Slot`` (held as long as the app lives)."""
TIP_FILE = "tip"
"""The file in the mirror directory a worker touches after publishing a new commit."""


class Slot:
    """A claimed ``worker-<k>/`` folder and the open lock file that holds it."""

    def __init__(self, path: Path, lock: IO[bytes]):
        self.path = path
        self._lock = lock

    def release(self) -> None:
        if not self._lock.closed:
            self._lock.close()  # closing the file releases the flock


def claim(base: Path) -> Slot:
    """The first slot under ``base`` no live process holds (``OSError`` when all ``MAX_SLOTS`` are held)."""
    base.mkdir(parents=True, exist_ok=True)
    for number in range(MAX_SLOTS):
        lock = (base / f"worker-{number}.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        os.set_inheritable(lock.fileno(), False)
        path = base / f"worker-{number}"
        path.mkdir(exist_ok=True)
        return Slot(path, lock)
    raise OSError(f"{base}: all {MAX_SLOTS} worker slots are held by running processes")
