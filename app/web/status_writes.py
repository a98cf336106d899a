"""The one way the app writes the status repository: a JUnit XML submission, records submitted with an OIDC
token and a project's own CI run (the ``workflow_run`` webhook) all commit here, through the core's
``StatusRepoWriter`` (the writer the action uses: one commit for everything new, retried on a race, never a
half-written cell), and then ask the served state for a refresh so the result shows soon.

Nothing else in the app writes. Errors are the core's (``BadInputError`` for a record the configuration
refuses, ``StatusRepoError`` when the repository cannot be read or written): each caller says what they mean
for its answer."""

from __future__ import annotations

from collections.abc import Sequence

from crosscloud.config import Config
from crosscloud.records import Record
from crosscloud.status_repo.writer import StatusRepoWriter, WriteResult
from crosscloud_app.web.status_state import get_state


def tip_configuration() -> Config:
    """The configuration at the status repository's tip (newer than the served snapshot's, perhaps)."""
    return StatusRepoWriter(get_state().remote).config()


def write(records: Sequence[Record], *, reason: str, detail: str | None = None) -> WriteResult:
    """Commit ``records``; when something new landed, request a refresh for ``reason`` (one of
    ``status_state.REFRESH_REASONS``, counted) and ``detail`` (logged)."""
    state = get_state()
    result = StatusRepoWriter(state.remote).write(records)
    if result.commit is not None:
        state.request_refresh(reason, detail)
    return result
