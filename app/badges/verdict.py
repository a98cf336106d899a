"""What a badge says for a cell status: one word and one colour for each, in one table.

The original's badge words were success, running, failed and N/A. The record model knows more, and a
badge says which, because the original's FAQ was that most red badges were the cloud, not the project:

- ``infra_failed`` is **orange** ("infra failed"): the environment failed (quota, cloud API, a missing
  tool); the project may be fine, so it must not look like the project's failure.
- ``timed_out`` is **red** ("timed out"): the project's stage did not finish within the project's own
  timeout; the original (GitLab) showed exactly this as failed.
- ``cancelled`` is **lightgrey** ("cancelled"): someone or something stopped the run; it says nothing
  about the project (the original painted it red as failed, one source of "failures shown for passing
  builds").
- ``error`` (a result file that is not a valid record) is **red** ("error") and an endpoint error.
- A **stale** result keeps its word, adds "(stale)" and turns lightgrey: its colour is not news.
- ``unknown`` (no such project, release or cloud) is the grey "unknown" badge of a 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from crosscloud.cell_rules import ERROR

UNKNOWN: Final = "unknown"
STALE_COLOUR: Final = "lightgrey"


@dataclass(frozen=True)
class BadgeText:
    message: str
    colour: str
    is_error: bool = False


_BY_STATUS: Final[dict[str, BadgeText]] = {
    "success": BadgeText("success", "brightgreen"),
    "failed": BadgeText("failed", "red"),
    "running": BadgeText("running", "blue"),
    "cancelled": BadgeText("cancelled", "lightgrey"),
    "timed_out": BadgeText("timed out", "red"),
    "infra_failed": BadgeText("infra failed", "orange"),
    "n/a": BadgeText("N/A", "lightgrey"),
    ERROR: BadgeText("error", "red", is_error=True),
    UNKNOWN: BadgeText("unknown", "grey", is_error=True),
}

BADGE_STATUSES: Final[tuple[str, ...]] = tuple(_BY_STATUS)
"""Every status a badge can show (the record statuses, ``error`` and ``unknown``)."""


def badge_text(status: str, *, stale: bool = False) -> BadgeText:
    """The message and colour for ``status`` (a record status, ``error`` or ``unknown``)."""
    try:
        text = _BY_STATUS[status]
    except KeyError:
        raise ValueError(f"no badge for status {status!r}: expected one of {', '.join(_BY_STATUS)}") from None
    if stale and status not in (ERROR, UNKNOWN):
        return BadgeText(f"{text.message} (stale)", STALE_COLOUR)
    return text
