"""``POST /webhooks/github``: GitHub's webhook deliveries to the App.

Every delivery is checked here, in one place, before anything else reads it: its size (GitHub sends at
most 25 MB; a larger one is refused from ``Content-Length`` before reading, and the read itself is capped
for bodies without a length) and its ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the
webhook secret, compared in constant time). Then the ``X-GitHub-Delivery`` id is claimed in the
deliveries store, so a redelivery is handled once (see ``delivery_store``).

GitHub gives up on a delivery after 10 s and never retries by itself, so the request only decides what
a delivery means (cheap: the configuration is in memory) and hands slow work (GitHub API calls, writing
to the status repository) to a small worker pool with a bounded queue. When the queue is full the
answer is 503 and the claim is given back: GitHub shows the delivery as failed, and redelivering it
later works, instead of an unbounded backlog that would eat the machine.

Events: ``ping`` answers the zen; ``push`` to the status repository asks for a refresh; ``release``
published on a project's repository proposes the ``stable_ref`` bump (``stable_ref_bump``);
``workflow_run`` completed of a project's CI workflow records its build (``project_ci_builds``);
``installation`` and ``installation_repositories`` are recorded; anything else is acknowledged (202)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from crosscloud import layout
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app.github_app import project_ci_builds
from crosscloud_app.github_app.delivery_store import FILENAME, DeliveryStore
from crosscloud_app.web import settings
from crosscloud_app.web.status_state import get_state

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 25 * 1024 * 1024
"""GitHub does not deliver payloads above 25 MB; anything larger is not from GitHub."""
READ_CHUNK: Final = 64 * 1024
DEFAULT_WORKERS: Final = 2
DEFAULT_QUEUE: Final = 16
IDLE_SECONDS: Final = 30.0
"""A worker thread with nothing to do for this long ends; the next delivery starts one again."""
EXTENSION: Final = "crosscloud.webhooks"

bp = Blueprint("webhooks", __name__)

Job = Callable[[], str]
"""Slow work for a delivery; returns what it did (stored as the delivery's outcome)."""


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` with ``secret``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


class WorkerPool:
    """At most ``workers`` threads running jobs from a queue of at most ``capacity`` waiting jobs.

    ``submit`` never blocks: it says False when the queue is full. Threads start on demand and end
    after ``IDLE_SECONDS`` without work, so an idle app holds none."""

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


def init_app(app: Flask) -> None:
    store = DeliveryStore(settings.mirror_dir(app) / FILENAME)
    pool = WorkerPool(
        app,
        store,
        workers=int(app.config.get("WEBHOOK_WORKERS") or DEFAULT_WORKERS),
        capacity=int(app.config.get("WEBHOOK_QUEUE") or DEFAULT_QUEUE),
    )
    app.extensions[EXTENSION] = pool
    app.register_blueprint(bp)


def pool() -> WorkerPool:
    found: WorkerPool = current_app.extensions[EXTENSION]
    return found


def _answer(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    body: dict[str, Any] = {"message": message, **extra}
    if status >= 400:
        body = {"error": {"message": message}}
    return jsonify(body), status


def _read_body() -> bytes | None:
    """The raw body, or None when it is larger than GitHub ever sends (read at most one byte more)."""
    length = request.content_length
    if length is not None and length > MAX_PAYLOAD_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    stream = request.stream
    while True:
        chunk = stream.read(min(READ_CHUNK, MAX_PAYLOAD_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_PAYLOAD_BYTES:
            return None


def _payload(body: bytes) -> Any:
    """GitHub sends JSON, or a form with the JSON in ``payload`` when the hook is set to that content type."""
    if request.mimetype == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8"), max_num_fields=10).get("payload")
        if not values:
            raise ValueError("form body without a 'payload' field")
        return json.loads(values[0])
    return json.loads(body)


@bp.post("/webhooks/github")
def receive() -> ResponseReturnValue:
    secret = current_app.config.get("WEBHOOK_SECRET")
    if not secret:
        return _answer(503, f"webhooks are not configured: set {settings.ENV_PREFIX}_WEBHOOK_SECRET")
    body = _read_body()
    if body is None:
        return _answer(413, f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    if not signature_ok(str(secret), body, request.headers.get("X-Hub-Signature-256")):
        return _answer(401, "missing or wrong X-Hub-Signature-256")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery or len(delivery) > 100:
        return _answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        payload = _payload(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _answer(400, f"delivery {delivery}: the body is not a JSON payload: {exc}")
    if not isinstance(payload, dict):
        return _answer(400, f"delivery {delivery}: the payload is not a JSON object")
    problem = shape_problem(payload)
    if problem is not None:
        return _answer(400, f"delivery {delivery}: {problem}")
    if event == "ping":
        return _answer(200, "pong", zen=payload.get("zen"), hook_id=payload.get("hook_id"))

    workers = pool()
    if not workers.store.claim(delivery, event):
        return _answer(200, f"delivery {delivery} was already handled", duplicate=True)
    try:
        decided = _decide(event, payload, delivery)
    except Exception:
        workers.store.release(delivery)
        raise
    if isinstance(decided, str):
        workers.store.finish(delivery, decided)
        return _answer(200 if decided.startswith("recorded") else 202, decided)
    if not workers.submit(delivery, decided):
        workers.store.release(delivery)
        return _answer(503, f"busy: delivery {delivery} not queued, redeliver it later")
    return _answer(202, f"{event} delivery {delivery} queued")


OBJECT_FIELDS: Final = ("repository", "installation", "release", "workflow_run", "sender")
"""Payload fields the handlers read as objects: GitHub always sends them as objects when it sends them."""
LIST_FIELDS: Final = ("repositories", "repositories_added", "repositories_removed")
"""Payload fields the handlers read as lists of objects (installation events)."""


def shape_problem(payload: Mapping[str, Any]) -> str | None:
    """What is wrong with the shape of a signed payload (a field that is not the object or list GitHub
    sends), so the handlers below can read it without a type check at every step; None when it is fine.

    A correctly signed payload is still untrusted input (a leaked secret, a proxy that rewrites bodies):
    a wrong shape is the sender's error (400 naming the field), never a server error."""
    for name in OBJECT_FIELDS:
        if payload.get(name) is not None and not isinstance(payload[name], dict):
            return f"payload field {name!r} must be an object"
    account = (payload.get("installation") or {}).get("account")
    if account is not None and not isinstance(account, dict):
        return "payload field 'installation.account' must be an object"
    for name in LIST_FIELDS:
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            return f"payload field {name!r} must be a list of objects"
    return None


def _decide(event: str, payload: Mapping[str, Any], delivery: str) -> Job | str:
    """What the delivery means: a job for the workers, or (done or ignored here) a string saying what."""
    if event == "push":
        return _push(payload)
    if event in ("installation", "installation_repositories"):
        return _installation(event, payload, delivery)
    if event == "release":
        return _release(payload)
    if event == "workflow_run":
        return _workflow_run(payload)
    return f"ignored: event {event!r} is not used"


def status_repository(app: Flask) -> str | None:
    """owner/name of the status repository on GitHub: ``STATUS_REPOSITORY``, else read from a GitHub
    ``STATUS_REPO`` URL (``https://github.com/<owner>/<name>.git``)."""
    explicit = app.config.get("STATUS_REPOSITORY")
    if explicit:
        return str(explicit)
    location = str(app.config.get("STATUS_REPO") or "")
    parts = urlsplit(location)
    if parts.scheme in ("http", "https") and parts.path.count("/") >= 2:
        owner, name = parts.path.strip("/").split("/")[-2:]
        return f"{owner}/{name.removesuffix('.git')}"
    return None


def _full_name(payload: Mapping[str, Any]) -> str:
    return str((payload.get("repository") or {}).get("full_name") or "")


def _push(payload: Mapping[str, Any]) -> str:
    wanted = status_repository(current_app._get_current_object())  # type: ignore[attr-defined]
    repository = _full_name(payload)
    if not wanted or repository.lower() != wanted.lower():
        return f"ignored: push to {repository or 'an unnamed repository'}, not the status repository"
    if payload.get("ref") != f"refs/heads/{layout.BRANCH}":
        return f"ignored: push to {payload.get('ref')}, not {layout.BRANCH}"
    get_state().request_refresh(f"push {payload.get('after', '')}")
    return f"refresh requested for {repository} {payload.get('after', '')}"


def _installation(event: str, payload: Mapping[str, Any], delivery: str) -> str:
    installation = payload.get("installation") or {}
    account = (installation.get("account") or {}).get("login")
    if event == "installation":
        added = [r.get("full_name") for r in payload.get("repositories") or [] if r.get("full_name")]
        removed: list[str] = []
        if payload.get("action") == "deleted":
            added, removed = [], added
    else:
        added = [r.get("full_name") for r in payload.get("repositories_added") or [] if r.get("full_name")]
        removed = [r.get("full_name") for r in payload.get("repositories_removed") or [] if r.get("full_name")]
    pool().store.record_installation(
        delivery, event, str(payload.get("action")), installation.get("id"), account, added, removed
    )
    return f"recorded {event} {payload.get('action')} of installation {installation.get('id')}"


def _project_of(repository: str) -> str | None:
    config = get_state().snapshot().config
    for project in config.active_projects():
        if project.repository and project.repository.lower() == repository.lower():
            return project.name
    return None


def _release(payload: Mapping[str, Any]) -> Job | str:
    from crosscloud_app.github_app.app_client import current_github_app
    from crosscloud_app.github_app.stable_ref_bump import open_bump

    release = payload.get("release") or {}
    repository = _full_name(payload)
    if payload.get("action") != "published" or release.get("draft") or release.get("prerelease"):
        return f"ignored: release {payload.get('action')} (only published non-prereleases move stable_ref)"
    project = _project_of(repository)
    if project is None:
        return f"ignored: {repository} is not the repository of an active project"
    tag = str(release.get("tag_name") or "")
    if not tag:
        return "ignored: release without a tag"
    config_repository = current_app.config.get("CONFIG_REPOSITORY")
    if not config_repository:
        return f"ignored: {settings.ENV_PREFIX}_CONFIG_REPOSITORY is not set, nowhere to propose {project} {tag}"
    url = release.get("html_url")

    def bump() -> str:
        gh = current_github_app().for_repository(str(config_repository))
        return str(open_bump(gh, str(config_repository), project, tag, release_url=url))

    return bump


def _workflow_run(payload: Mapping[str, Any]) -> Job | str:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    built = project_ci_builds.build_from_run(get_state().snapshot().config, payload, app.config.get("CI_WORKFLOWS"))
    if isinstance(built, str):
        return f"ignored: {built}"

    def record() -> str:
        writer = StatusRepoWriter(Remote.parse(settings.status_repo(app), app.config.get("TOKEN") or None))
        result = writer.write([built.record])
        get_state().request_refresh(f"workflow_run {built.record.run.get('id')}")
        verb = "recorded" if result.written else "unchanged" if result.unchanged else "superseded"
        return f"{verb} {built.record.summary()} ({result.commit})"

    return record
