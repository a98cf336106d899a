"""``POST /webhooks/github``: GitHub's webhook deliveries to the App.

Every delivery is checked here, in one place, before anything else reads it: its size (GitHub sends at
most 25 MB; a larger one is refused from ``Content-Length`` before reading, and the read itself is capped
for bodies without a length) and its ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the
webhook secret, compared in constant time; the body is spooled and hashed as it arrives, so an unsigned
body never sits whole in memory). Then the ``X-GitHub-Delivery`` id is claimed in the
deliveries store, so a redelivery is handled once (see ``delivery_store``).

GitHub gives up on a delivery after 10 s and never retries by itself, so the request only decides what
a delivery means (cheap: the configuration is in memory) and hands slow work (GitHub API calls, writing
to the status repository) to a small worker pool with a bounded queue (``worker_pool``). When the queue is
full the answer is 503 and the claim is given back: GitHub shows the delivery as failed, and redelivering
it later works. What a delivery means is a typed ``Answered`` (200 when its effect was stored now, 202 when
it was acknowledged: ignored, or work asked for) or a ``Job`` for the pool (202); errors are ``HttpError``.

Events: ``ping`` answers the zen; ``push`` to the status repository asks for a refresh; ``release``
published on a project's repository proposes the ``stable_ref`` bump (``stable_ref_bump``);
``workflow_run`` completed of a project's CI workflow records its build (``project_ci_builds``);
``installation`` and ``installation_repositories`` are recorded; anything else is acknowledged (202)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud_app.github_app import project_ci_builds
from crosscloud_app.github_app.app_client import current_github_app
from crosscloud_app.github_app.delivery_store import FILENAME, DeliveryStore
from crosscloud_app.github_app.stable_ref_bump import open_bump
from crosscloud_app.github_app.worker_pool import Job, WorkerPool
from crosscloud_app.web import settings, status_writes
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.request_input import spool_body
from crosscloud_app.web.status_state import get_state

MAX_PAYLOAD_BYTES: Final = 25 * 1024 * 1024
"""GitHub does not deliver payloads above 25 MB; anything larger is not from GitHub."""
DEFAULT_WORKERS: Final = 2
DEFAULT_QUEUE: Final = 16
EXTENSION: Final = "crosscloud.webhooks"

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answered:
    """What a delivery meant, decided in the request: the status and message of the answer."""

    status: int
    message: str


def recorded(message: str) -> Answered:
    """The delivery's effect is stored now (200)."""
    return Answered(200, message)


def accepted(message: str) -> Answered:
    """The delivery asked for something that happens later (202)."""
    return Answered(202, message)


def ignored(why: str) -> Answered:
    """The delivery is not for the App to act on (202: acknowledged, nothing to redeliver)."""
    return Answered(202, f"ignored: {why}")


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` with ``secret``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


def register(app: Flask) -> None:
    """``POST /webhooks/github`` and its worker pool, over the deliveries store beside the mirror."""
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


def _reply(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"message": message, **extra})
    response.status_code = status
    return response


def _payload(body: bytes) -> Any:
    """GitHub sends JSON, or a form with the JSON in ``payload`` when the hook is set to that content type."""
    if request.mimetype == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8"), max_num_fields=10).get("payload")
        if not values:
            raise ValueError("form body without a 'payload' field")
        return json.loads(values[0])
    return json.loads(body)


@bp.post("/webhooks/github")
def receive() -> Response:
    secret = current_app.config.get("WEBHOOK_SECRET")
    if not secret:
        raise HttpError(503, f"webhooks are not configured: set {settings.ENV_PREFIX}_WEBHOOK_SECRET")
    body = _signed_body(str(secret))
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery or len(delivery) > 100:
        raise HttpError(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        payload = _payload(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"delivery {delivery}: the body is not a JSON payload: {exc}") from None
    if not isinstance(payload, dict):
        raise HttpError(400, f"delivery {delivery}: the payload is not a JSON object")
    problem = shape_problem(payload)
    if problem is not None:
        raise HttpError(400, f"delivery {delivery}: {problem}")
    if event == "ping":
        return _reply(200, "pong", zen=payload.get("zen"), hook_id=payload.get("hook_id"))

    workers = pool()
    if not workers.store.claim(delivery, event):
        return _reply(200, f"delivery {delivery} was already handled", duplicate=True)
    try:
        decided = _decide(event, payload, delivery)
    except Exception:
        workers.store.release(delivery)
        raise
    if isinstance(decided, Answered):
        workers.store.finish(delivery, decided.message)
        log.info("%s delivery %s: %s", event, delivery, decided.message)
        return _reply(decided.status, decided.message)
    if not workers.submit(delivery, decided):
        workers.store.release(delivery)
        raise HttpError(503, f"busy: delivery {delivery} not queued, redeliver it later")
    return _reply(202, f"{event} delivery {delivery} queued")


def _signed_body(secret: str) -> bytes:
    """The payload, once its signature is checked: until then it is spooled (``spool_body``), the HMAC
    computed as it arrives, so unsigned bodies cost little memory however many come at once; 401 when the
    signature is missing (before anything is read) or wrong."""
    if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
        raise HttpError(413, f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    header = request.headers.get("X-Hub-Signature-256") or ""
    if not header.startswith("sha256="):
        raise HttpError(401, "missing or wrong X-Hub-Signature-256")
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    with spool_body(MAX_PAYLOAD_BYTES, what="the payload", on_chunk=mac.update) as spooled:
        expected = "sha256=" + mac.hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace")):
            raise HttpError(401, "missing or wrong X-Hub-Signature-256")
        return spooled.read()


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


def _decide(event: str, payload: Mapping[str, Any], delivery: str) -> Job | Answered:
    """What the delivery means: a job for the workers, or what was done (or not) here."""
    if event == "push":
        return _push(payload)
    if event in ("installation", "installation_repositories"):
        return _installation(event, payload, delivery)
    if event == "release":
        return _release(payload)
    if event == "workflow_run":
        return _workflow_run(payload)
    return ignored(f"event {event!r} is not used")


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


def _push(payload: Mapping[str, Any]) -> Answered:
    wanted = status_repository(current_app._get_current_object())  # type: ignore[attr-defined]
    repository = _full_name(payload)
    if not wanted or repository.lower() != wanted.lower():
        return ignored(f"push to {repository or 'an unnamed repository'}, not the status repository")
    if payload.get("ref") != f"refs/heads/{layout.BRANCH}":
        return ignored(f"push to {payload.get('ref')}, not {layout.BRANCH}")
    get_state().request_refresh("push", str(payload.get("after", "")))
    return accepted(f"refresh requested for {repository} {payload.get('after', '')}")


def _installation(event: str, payload: Mapping[str, Any], delivery: str) -> Answered:
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
    return recorded(f"recorded {event} {payload.get('action')} of installation {installation.get('id')}")


def _project_of(repository: str) -> str | None:
    config = get_state().snapshot().config
    for project in config.active_projects():
        if project.repository and project.repository.lower() == repository.lower():
            return project.name
    return None


def _release(payload: Mapping[str, Any]) -> Job | Answered:
    release = payload.get("release") or {}
    repository = _full_name(payload)
    if payload.get("action") != "published" or release.get("draft") or release.get("prerelease"):
        return ignored(f"release {payload.get('action')} (only published non-prereleases move stable_ref)")
    project = _project_of(repository)
    if project is None:
        return ignored(f"{repository} is not the repository of an active project")
    tag = str(release.get("tag_name") or "")
    if not tag:
        return ignored("release without a tag")
    config_repository = current_app.config.get("CONFIG_REPOSITORY")
    if not config_repository:
        return ignored(f"{settings.ENV_PREFIX}_CONFIG_REPOSITORY is not set, nowhere to propose {project} {tag}")
    url = release.get("html_url")

    def bump() -> str:
        gh = current_github_app().for_repository(str(config_repository))
        return str(open_bump(gh, str(config_repository), project, tag, release_url=url))

    return bump


def _workflow_run(payload: Mapping[str, Any]) -> Job | Answered:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    built = project_ci_builds.build_from_run(get_state().snapshot().config, payload, app.config.get("CI_WORKFLOWS"))
    if isinstance(built, str):
        return ignored(built)

    def record() -> str:
        run_id = built.record.provenance.id if built.record.provenance else None
        result = status_writes.write([built.record], reason="workflow_run", detail=str(run_id))
        verb = "recorded" if result.written else "unchanged" if result.unchanged else "superseded"
        return f"{verb} {built.record.summary()} ({result.commit})"

    return record
