"""What each status looks like, on every face: one table used by the badges, the pages and their CSS classes,
the ``crosscloud status`` grid, the job summary and the feed.

A cell shows a record status (``schema/result.schema.json``), ``error`` (a file that is not a valid record)
or, on a badge, ``unknown`` (no such project, release or cloud). For each the table says:

- ``word``: what a person reads (``timed out``, never ``timed_out``);
- ``css``: the class of pages and their stylesheet (``status-timed-out``);
- ``colour``: the shields.io named colour of a badge;
- ``failure``: whether it counts as a failure of what the cell names (red, "failing since", alerts);
- ``icon``: the mark of the job summary and other text faces.

Decisions, from the original's lessons (most red badges were the cloud, not the project):

- ``infra_failed`` is **orange**: the environment failed; the project may be fine.
- ``timed_out`` is **red**: the stage did not finish within the project's own timeout.
- ``cancelled`` is **light grey** everywhere: someone or something stopped the run; it says nothing about the
  project, so it is not a failure (the original painted it red).
- A **stale** result keeps its word and status and turns light grey on a badge (its colour is not news)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ERROR: Final = "error"
"""A result file that is not a valid record: its own cell shows this, nothing else breaks."""
UNKNOWN: Final = "unknown"
"""A badge for a project, release or cloud that does not exist."""
STALE_COLOUR: Final = "lightgrey"


@dataclass(frozen=True)
class StatusLook:
    status: str
    word: str
    css: str
    colour: str
    failure: bool
    icon: str


def _look(status: str, word: str, colour: str, icon: str, *, failure: bool = False) -> StatusLook:
    css = "status-" + ("na" if status == "n/a" else status.replace("_", "-"))
    return StatusLook(status, word, css, colour, failure, icon)


LOOKS: Final[dict[str, StatusLook]] = {
    look.status: look
    for look in (
        _look("success", "success", "brightgreen", "✅"),
        _look("failed", "failed", "red", "❌", failure=True),
        _look("timed_out", "timed out", "red", "⏱️", failure=True),
        _look("infra_failed", "infra failed", "orange", "🌩️", failure=True),
        _look(ERROR, "error", "red", "⚠️", failure=True),
        _look("cancelled", "cancelled", "lightgrey", "⏹️"),
        _look("running", "running", "blue", "🔄"),
        _look("n/a", "N/A", "lightgrey", "-"),
        _look(UNKNOWN, "unknown", "lightgrey", "?"),
    )
}
"""Every status a face can show, in the order a legend lists them."""


def look(status: str) -> StatusLook:
    """The look of ``status``; a ``ValueError`` naming the known ones for anything else."""
    try:
        return LOOKS[status]
    except KeyError:
        raise ValueError(f"no look for status {status!r}: expected one of {', '.join(LOOKS)}") from None


def word(status: str) -> str:
    """What a person reads for ``status``; an unknown word is shown as it is (it cannot crash a page)."""
    found = LOOKS.get(status)
    return found.word if found else status


def css_class(status: str) -> str:
    found = LOOKS.get(status)
    return found.css if found else "status-" + "".join(ch for ch in status if ch.isalnum())


def is_failure(status: str) -> bool:
    found = LOOKS.get(status)
    return bool(found and found.failure)


HEADING_CHARS: Final = 9
"""The longest cloud heading of a grid column ("OPENSTACK", "IBMCLOUD"): 8 clouds fit 1280 px."""


def cloud_heading(name: str) -> str:
    """The short heading of a cloud's grid column, on the page and in ``crosscloud status``: its key in
    capitals (``AWS``, ``PACKET``), cut to ``HEADING_CHARS`` with an ellipsis; the display name goes on hover."""
    heading = name.upper()
    return heading if len(heading) <= HEADING_CHARS else heading[: HEADING_CHARS - 1] + "…"


def badge_colour(status: str, *, stale: bool = False) -> str:
    colour = look(status).colour
    return STALE_COLOUR if stale and status not in (ERROR, UNKNOWN) else colour
