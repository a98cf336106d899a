"""``POST /api/v1/results/junit``: results from other CI systems. A JUnit XML body becomes the e2e record of one
cell exactly as ``crosscloud import junit`` makes it (``crosscloud.junit.junit_record``), committed through
``crosscloud_app.web.status_writes``.

It needs ``Authorization: Bearer <SUBMIT_TOKEN>`` (compared in constant time) and answers 503 while the setting
is unset; the cell is named by the query (``project``, ``release``, ``cloud``, optional ``arch`` and
``kubernetes``) and judged against the served configuration before the body is read. 201 when the record was
committed, 200 when the same or a newer result is stored already."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from flask import current_app, jsonify
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.errors import BadInputError, CrossCloudError, RecordError
from crosscloud.junit import MAX_JUNIT_BYTES, junit_record, parse_junit
from crosscloud.records import check_not_ahead
from crosscloud.vocabulary import ARCHES, RELEASES
from crosscloud_app.api.cells import cell_link
from crosscloud_app.api.query import api_error, choice, known, query_args, required
from crosscloud_app.web import metrics, settings, status_writes
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.request_input import check_bearer, read_body
from crosscloud_app.web.status_state import get_state

SUBMIT_MAX_BYTES = MAX_JUNIT_BYTES
"""The largest JUnit XML body accepted (413 above it)."""
BODY_SOURCE: Final = "the request body"
"""How errors about the submitted XML name it (with the line: ``the request body:7: ...``)."""

metrics.describe("crosscloud_junit_submissions_total", "JUnit XML submissions, by outcome.")


def _authorise_submitter() -> None:
    """503 while ``SUBMIT_TOKEN`` is unset; 401 unless ``Authorization: Bearer <SUBMIT_TOKEN>``."""
    expected = settings.submit_token(current_app)
    if expected is None:
        raise api_error(503, f"submitting results is turned off: set {settings.ENV_PREFIX}_SUBMIT_TOKEN to allow it")
    check_bearer(expected, "the submit token")


def _submitted_xml() -> bytes:
    """The body, read no further than ``SUBMIT_MAX_BYTES`` (413 above it), and not empty."""
    data = read_body(SUBMIT_MAX_BYTES, what="the JUnit XML", parameter="body")
    if not data.strip():
        raise api_error(400, "the request body is empty: send the JUnit XML of one test run", "body")
    return data


def submit_junit() -> Response:
    """One test run's JUnit XML, recorded as the e2e result of one cell (see the module doc)."""
    _authorise_submitter()
    args = query_args()
    required(args, "project", "release", "cloud")
    config = get_state().snapshot().config
    project, cloud = known(args, "project", config), known(args, "cloud", config)
    release = choice(args, "release", RELEASES)
    arch = choice(args, "arch", ARCHES)
    kubernetes = choice(args, "kubernetes", RELEASES)
    assert project is not None and cloud is not None and release is not None  # required above
    if arch is not None and arch not in config.projects[project].arch:
        runs_on = ", ".join(config.projects[project].arch)
        raise api_error(400, f"project {project} does not run on {arch} (it runs on {runs_on})", "arch")
    if kubernetes is not None and not config.clouds[cloud].kubernetes:
        raise api_error(400, f"cloud {cloud} runs projects on the host: give no kubernetes", "kubernetes")
    data = _submitted_xml()
    try:
        report = parse_junit(data, BODY_SOURCE)
    except BadInputError as exc:
        metrics.inc("crosscloud_junit_submissions_total", {"outcome": "bad"})
        raise api_error(400, str(exc), "body") from None
    try:
        record = junit_record(
            [report], config, project=project, release=release, cloud=cloud, arch=arch, kubernetes=kubernetes,
            ref=args.get("ref"), sha=args.get("sha"), url=args.get("url"), now=datetime.now(UTC),
        )  # fmt: skip
        check_not_ahead(record, datetime.now(UTC), source=BODY_SOURCE)  # a suite timestamp from the future
    except RecordError as exc:  # a ref, sha or url the record schema refuses, a time ahead of the clock
        raise HttpError(400, str(exc), parameter=None, field=exc.field) from None
    except BadInputError as exc:
        raise api_error(400, str(exc)) from None
    try:
        result = status_writes.write([record], reason="junit")
    except BadInputError as exc:
        metrics.inc("crosscloud_junit_submissions_total", {"outcome": "bad"})
        raise api_error(400, str(exc)) from None
    except CrossCloudError as exc:
        metrics.inc("crosscloud_junit_submissions_total", {"outcome": "error"})
        raise api_error(502, f"could not write to the status repository: {exc}") from None
    outcome = "written" if result.written else "unchanged" if result.unchanged else "superseded"
    metrics.inc("crosscloud_junit_submissions_total", {"outcome": outcome})
    body = {"outcome": outcome, "commit": result.commit, "path": layout.cell_path(record.key), "record": record.data}
    response = jsonify(body)
    response.status_code = 201 if outcome == "written" else 200
    response.headers["Location"] = cell_link(record.key)
    response.headers["Cache-Control"] = "no-cache"
    return response
