"""``POST /api/v1/results``: result records submitted with a GitHub Actions OIDC token, no shared secret.

Projects on many organisations report into one status repository; handing each a token that can write
the whole repository would let any of them overwrite the others' cells. Here a workflow proves who it is
with its OIDC token (``crosscloud_app.oidc``) and the app, which alone holds the write token, commits for
it, and only into the cells of projects whose ``cross-cloud.yml`` entry names the token's repository.

In order, each failure answering before anything is written:

1. ``Authorization: Bearer <token>`` verified: 401 naming the claim at fault (503 when the issuer's keys
   cannot be fetched: retry later);
2. the body: JSON, one record or a list of at most ``MAX_RECORDS``, at most ``MAX_BODY_BYTES`` (413);
3. every record valid (``Record.from_dict``): 400 naming the record's index and field;
4. every record's project configured (at the status repository's tip) with ``repository`` equal to the
   token's, compared case-insensitively as GitHub does, and, when the configuration pins
   ``repository_id``, that too (ids survive renames and transfers; names can be re-registered): 403
   naming the project;
5. provenance from the token, not the body: ``run`` gets the token's repository, run id, attempt and
   workflow ref, and its URL is built from them; a job ``url`` outside that run's page is replaced by the
   run's URL;
6. one commit through ``StatusRepoWriter`` (503 when the status repository cannot be written), then a
   refresh is requested; 201 with the paths written, unchanged and superseded (200 when nothing was new).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.config import Config
from crosscloud.errors import BadInputError, RecordError, StatusRepoError
from crosscloud.records import Record
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app.oidc import Claims, IssuerUnavailableError, TokenError, server_url, verifier_from_settings
from crosscloud_app.web import metrics
from crosscloud_app.web.status_state import get_state

log = logging.getLogger(__name__)

MAX_RECORDS: Final = 256
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""A matrix's records are ~1 KB each; 4 MB leaves room for 256 records with many pinned artifacts."""
MAX_WORKFLOW_CHARS: Final = 200
"""``run.workflow`` in the record schema."""

bp = Blueprint("submit", __name__)

metrics.describe("crosscloud_oidc_submissions_total", "Result submissions with an OIDC token, by outcome.")


class SubmitError(Exception):
    """An answer other than success: status, message and the fields that say what is at fault."""

    def __init__(self, status: int, message: str, **detail: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@bp.errorhandler(SubmitError)
def _answer_error(exc: SubmitError) -> Response:
    response = jsonify({"error": {"message": exc.message, **exc.detail}})
    response.status_code = exc.status
    response.headers["Cache-Control"] = "no-store"
    if exc.status == 401:
        claim = exc.detail.get("claim", "token")
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="crosscloud", error="invalid_token", error_description="{claim}"'
        )
    if exc.status == 503:
        response.headers["Retry-After"] = "30"
    metrics.inc("crosscloud_oidc_submissions_total", {"outcome": str(exc.status)})
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _claims() -> Claims:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SubmitError(401, "this route needs 'Authorization: Bearer <GitHub Actions OIDC token>'", claim="token")
    verifier = verifier_from_settings(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        return verifier.verify(token.strip())
    except TokenError as exc:
        raise SubmitError(401, exc.message, claim=exc.claim) from None
    except IssuerUnavailableError as exc:
        log.warning("cannot verify an OIDC token: %s", exc)
        raise SubmitError(503, f"the token issuer's keys cannot be fetched now: {exc}") from None


def _body() -> list[Any]:
    declared = request.content_length
    too_large = f"the body is larger than {MAX_BODY_BYTES} bytes"
    if declared is not None and declared > MAX_BODY_BYTES:
        raise SubmitError(413, too_large)
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise SubmitError(413, too_large)
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SubmitError(400, f"the body is not JSON: {exc}") from None
    items = body if isinstance(body, list) else [body]
    if not items:
        raise SubmitError(400, "the body is an empty list: send one record or a list of records")
    if len(items) > MAX_RECORDS:
        raise SubmitError(413, f"{len(items)} records; at most {MAX_RECORDS} in one request")
    return items


def _records(items: Sequence[Any]) -> list[Record]:
    records = []
    for index, item in enumerate(items):
        try:
            records.append(Record.from_dict(item, source=f"records[{index}]"))
        except RecordError as exc:
            raise SubmitError(400, str(exc), record=index, field=exc.field) from None
    return records


def authorise(records: Sequence[Record], claims: Claims, config: Config) -> None:
    """Every record's project names the token's repository (and id, when pinned): else 403 naming it."""
    for index, record in enumerate(records):
        name = record.project
        project = config.projects.get(name)
        if project is None:
            raise SubmitError(400, f"records[{index}]: unknown project {name!r}", record=index, field="project")
        if not project.repository:
            raise SubmitError(
                403, f"project {name} names no repository in cross-cloud.yml, so no workflow may report its "
                "results with a token", project=name,
            )  # fmt: skip
        if project.repository.lower() != claims.repository.lower():
            raise SubmitError(
                403, f"project {name} reports from {project.repository}, not from {claims.repository}", project=name
            )
        raw = config.raw.get("projects", {}).get(name) or {}
        pinned = raw.get("repository_id") if isinstance(raw, Mapping) else None
        if pinned is not None and str(pinned) != claims.repository_id:
            raise SubmitError(
                403, f"project {name} reports from repository id {pinned}, not from id {claims.repository_id} "
                f"({claims.repository})", project=name,
            )  # fmt: skip


def with_provenance(record: Record, claims: Claims) -> Record:
    """``record`` with ``run`` from the token (see the module doc), validated again."""
    run_url = f"{server_url(claims.issuer)}/{claims.repository}/actions/runs/{claims.run_id}"
    run: dict[str, Any] = {"repository": claims.repository, "id": claims.run_id, "attempt": claims.run_attempt}
    job = record.run.get("job")
    if job:
        run["job"] = job
    workflow = claims.workflow
    if workflow and len(workflow) > MAX_WORKFLOW_CHARS:
        workflow = claims.raw.get("workflow") if isinstance(claims.raw.get("workflow"), str) else None
    if workflow and len(workflow) <= MAX_WORKFLOW_CHARS:
        run["workflow"] = workflow
    run["url"] = run_url
    data = dict(record.data, run=run)
    url = data.get("url")
    if not url or not (url == run_url or str(url).startswith(run_url + "/")):
        data["url"] = run_url
    try:
        return Record.from_dict(data, source=f"{record.key}")
    except RecordError as exc:  # e.g. a workflow ref with a character the schema refuses
        raise SubmitError(400, f"the token's provenance does not fit a record: {exc}") from None


@bp.post("/api/v1/results")
def submit_results() -> Response:
    """Commit the body's records for the token's repository (see the module doc)."""
    claims = _claims()
    records = _records(_body())
    state = get_state()
    writer = StatusRepoWriter(state.remote)
    try:
        config = writer.config()
    except StatusRepoError as exc:
        raise SubmitError(503, f"the status repository cannot be read now: {exc}") from None
    authorise(records, claims, config)
    stamped = [with_provenance(record, claims) for record in records]
    try:
        result = writer.write(stamped)
    except BadInputError as exc:  # a cloud or arch the configuration does not have
        raise SubmitError(400, str(exc)) from None
    except StatusRepoError as exc:
        log.warning("could not write %d record(s) of %s: %s", len(stamped), claims.repository, exc)
        raise SubmitError(503, f"could not write to the status repository: {exc}") from None
    if result.commit is not None and result.written:
        state.request_refresh("results submitted")
    outcome = "written" if result.written else "unchanged"
    metrics.inc("crosscloud_oidc_submissions_total", {"outcome": outcome})
    log.info("%s run %s: %d written, %d unchanged, %d superseded", claims.repository, claims.run_id,
             len(result.written), len(result.unchanged), len(result.superseded))  # fmt: skip
    response = jsonify(
        {
            "commit": result.commit,
            "repository": claims.repository,
            "written": [layout.cell_path(r.key) for r in result.written],
            "unchanged": [layout.cell_path(r.key) for r in result.unchanged],
            "superseded": [layout.cell_path(r.key) for r in result.superseded],
        }
    )
    response.status_code = 201 if result.written else 200
    response.headers["Cache-Control"] = "no-store"
    return response
