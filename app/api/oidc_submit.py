"""``POST /api/v1/results``: result records submitted with a GitHub Actions OIDC token, no shared secret.

Projects on many organisations report into one status repository; handing each a token that can write
the whole repository would let any of them overwrite the others' cells. Here a workflow proves who it is
with its OIDC token (``oidc_tokens``) and the app, which alone holds the write token, commits for
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
6. one commit through ``crosscloud_app.web.status_writes`` (503 when the status repository cannot be
   written), which requests a refresh; 201 with the paths written, unchanged and superseded (200 when nothing
   was new).

Every answer is ``Cache-Control: no-store``, and every outcome is counted in
``crosscloud_oidc_submissions_total`` (errors by status).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.config import Config
from crosscloud.errors import BadInputError, RecordError, StatusRepoError
from crosscloud.records import Record, check_not_ahead
from crosscloud_app.api.oidc_tokens import (
    Claims,
    IssuerUnavailableError,
    TokenError,
    server_url,
    verifier_from_settings,
)
from crosscloud_app.api.query import query_args
from crosscloud_app.web import metrics, status_writes
from crosscloud_app.web.http_errors import RETRY_AFTER_SECONDS, HttpError
from crosscloud_app.web.request_input import bearer_token, read_body, unauthorised

log = logging.getLogger(__name__)

MAX_RECORDS: Final = 256
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""A matrix's records are ~1 KB each; 4 MB leaves room for 256 records with many pinned artifacts."""
MAX_WORKFLOW_CHARS: Final = 200
"""``run.workflow`` in the record schema."""
TOKEN: Final = "GitHub Actions OIDC token"  # noqa: S105 - what the route needs, not a secret

metrics.describe("crosscloud_oidc_submissions_total", "Result submissions with an OIDC token, by outcome.")


def _unavailable(message: str) -> HttpError:
    return HttpError(503, message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _claims() -> Claims:
    token = bearer_token(TOKEN, claim="token")
    verifier = verifier_from_settings(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        return verifier.verify(token)
    except TokenError as exc:
        raise unauthorised(exc.message, claim=exc.claim) from None
    except IssuerUnavailableError as exc:
        log.warning("cannot verify an OIDC token: %s", exc)
        raise _unavailable(f"the token issuer's keys cannot be fetched now: {exc}") from None


def _body() -> list[Any]:
    data = read_body(MAX_BODY_BYTES)
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HttpError(400, f"the body is not JSON: {exc}") from None
    items = body if isinstance(body, list) else [body]
    if not items:
        raise HttpError(400, "the body is an empty list: send one record or a list of records")
    if len(items) > MAX_RECORDS:
        raise HttpError(413, f"{len(items)} records; at most {MAX_RECORDS} in one request")
    return items


def _records(items: Sequence[Any]) -> list[Record]:
    records = []
    now = datetime.now(UTC)
    for index, item in enumerate(items):
        try:
            record = Record.from_dict(item, source=f"records[{index}]")
            check_not_ahead(record, now, source=f"records[{index}]")
            records.append(record)
        except RecordError as exc:
            raise HttpError(400, str(exc), record=index, field=exc.field) from None
    return records


def authorise(records: Sequence[Record], claims: Claims, config: Config) -> None:
    """Every record's project names the token's repository (and id, when pinned): else 403 naming it."""
    for index, record in enumerate(records):
        name = record.project
        project = config.projects.get(name)
        if project is None:
            raise HttpError(400, f"records[{index}]: unknown project {name!r}", record=index, field="project")
        if not project.repository:
            raise HttpError(
                403, f"project {name} names no repository in cross-cloud.yml, so no workflow may report its "
                "results with a token", project=name,
            )  # fmt: skip
        if project.repository.lower() != claims.repository.lower():
            raise HttpError(
                403, f"project {name} reports from {project.repository}, not from {claims.repository}", project=name
            )
        pinned = project.repository_id
        if pinned is not None and str(pinned) != claims.repository_id:
            raise HttpError(
                403, f"project {name} reports from repository id {pinned}, not from id {claims.repository_id} "
                f"({claims.repository})", project=name,
            )  # fmt: skip


def with_provenance(record: Record, claims: Claims) -> Record:
    """``record`` with ``run`` from the token (see the module doc), validated again."""
    run_url = f"{server_url(claims.issuer)}/{claims.repository}/actions/runs/{claims.run_id}"
    run: dict[str, Any] = {"repository": claims.repository, "id": claims.run_id, "attempt": claims.run_attempt}
    job = record.provenance.job if record.provenance else None
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
        raise HttpError(400, f"the token's provenance does not fit a record: {exc}") from None


def submit_results() -> Response:
    """Commit the body's records for the token's repository (see the module doc)."""
    try:
        response = _submit()
    except HttpError as error:
        error.headers.setdefault("Cache-Control", "no-store")
        metrics.inc("crosscloud_oidc_submissions_total", {"outcome": str(error.status)})
        raise
    response.headers["Cache-Control"] = "no-store"
    return response


def _submit() -> Response:
    claims = _claims()
    query_args()
    records = _records(_body())
    try:
        config = status_writes.tip_configuration()
    except StatusRepoError as exc:
        raise _unavailable(f"the status repository cannot be read now: {exc}") from None
    authorise(records, claims, config)
    stamped = [with_provenance(record, claims) for record in records]
    try:
        result = status_writes.write(stamped, reason="results")
    except BadInputError as exc:  # a cloud or arch the configuration does not have
        raise HttpError(400, str(exc)) from None
    except StatusRepoError as exc:
        log.warning("could not write %d record(s) of %s: %s", len(stamped), claims.repository, exc)
        raise _unavailable(f"could not write to the status repository: {exc}") from None
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
    return response
