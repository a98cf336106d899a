"""Slow webhook work off the request: at most a few threads and a bounded queue.

GitHub gives up on a delivery after 10 s and never retries by itself, so a webhook request only decides what a
delivery means and hands slow work (GitHub API calls, writing to the status repository) to this pool. When
the queue is full ``submit`` says so at once (the webhook answers 503 and gives its claim back, so
redelivering later works) instead of growing an unbounded backlog that would eat the machine. What each job
did, or why it failed, is recorded in the delivery store."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Final

from flask import Flask

from crosscloud_app.github_app.delivery_store import DeliveryStore

log = logging.getLogger(__name__)

IDLE_SECONDS: Final = 30.0
"""A worker thread with nothing to do for this long ends; the next delivery starts one again."""

Job = Callable[[], str]
"""Slow work for a delivery; returns what it did (stored as the delivery's outcome)."""


class WorkerPool:
    """At most ``workers`` threads running jobs from a queue of at most ``capacity`` waiting jobs.

    ``submit`` never blocks: it says False when the queue is full. Threads start on demand and end
    after ``IDLE_SECONDS`` without work, so an idle app holds none. Jobs run in an app context."""

    def __init__(self, app: Flask, store: DeliveryStore, *, workers: int, capacity: int):
        self.app = app
        self.store = store
        self.workers = max(1, workers)
        self._queue: queue.Queue[tuple[str, Job]] = queue.Queue(maxsize=max(1, capacity))
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._live = 0
        self._unfinished = 0
        self.idle_seconds = IDLE_SECONDS

    def submit(self, delivery: str, job: Job) -> bool:
        with self._lock:
            try:
                self._queue.put_nowait((delivery, job))
            except queue.Full:
                return False
            self._unfinished += 1
            if self._live < self.workers:
                self._live += 1
                threading.Thread(target=self._work, name="crosscloud-webhook", daemon=True).start()
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted job has finished (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _work(self) -> None:
        while True:
            try:
                delivery, job = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._live -= 1
                        return
                continue
            try:
                with self.app.app_context():
                    outcome = job()
                self.store.finish(delivery, outcome)
                log.info("delivery %s: %s", delivery, outcome)
            except Exception as exc:  # a failed job must not kill the worker; a redelivery retries it
                log.warning("delivery %s failed: %s: %s", delivery, type(exc).__name__, exc)
                self.store.finish(delivery, f"{type(exc).__name__}: {exc}", failed=True)
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()
