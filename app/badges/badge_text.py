"""What a badge says: its message and colour for a cell status, and for an error, from the one table of what a
status looks like on every face (``crosscloud.presentation``: the word and the shields colour).

- A status badge reads the status's word on its colour: ``infra failed`` orange, ``timed out`` red,
  ``cancelled`` light grey (it says nothing about the project), ``N/A`` light grey.
- A **stale** result keeps its word, adds "(stale)" and turns light grey: its colour is not news.
- ``error`` (a result file that is not a valid record) and ``unknown`` (no such project, release or cloud: the
  badge of a 404) are endpoint errors (shields' ``isError``).
- A project's or a release's badge whose clouds do not all pass says how many do (``7/8 clouds``) when at least
  one does (none passing reads the failure's word): yellow when at least half pass, orange below that.
- An error answer stays a badge: 404 is the ``unknown`` badge, a bad parameter (400) the red ``bad <parameter>``
  badge, no state to serve yet (503) the light grey ``unavailable`` badge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from crosscloud import presentation
from crosscloud.presentation import ERROR, STALE_COLOUR, UNKNOWN
from crosscloud_app.web.http_errors import HttpError


@dataclass(frozen=True)
class BadgeText:
    message: str
    colour: str
    is_error: bool = False


BADGE_STATUSES: Final[tuple[str, ...]] = tuple(presentation.LOOKS)
"""Every status a badge can show (the record statuses, ``error`` and ``unknown``)."""
UNAVAILABLE: Final = BadgeText("unavailable", STALE_COLOUR, is_error=True)


def badge_text(status: str, *, stale: bool = False) -> BadgeText:
    """The message and colour for ``status`` (a record status, ``error`` or ``unknown``)."""
    try:
        look = presentation.look(status)
    except ValueError:
        raise ValueError(f"no badge for status {status!r}: expected one of {', '.join(BADGE_STATUSES)}") from None
    if stale and status not in (ERROR, UNKNOWN):
        return BadgeText(f"{look.word} (stale)", presentation.badge_colour(status, stale=True))
    return BadgeText(look.word, look.colour, is_error=status in (ERROR, UNKNOWN))


def clouds_passing(passing: int, total: int) -> BadgeText:
    """``7/8 clouds``, in shields' colours for a partial result (see the module doc)."""
    if not 0 < passing < total:
        raise ValueError(f"{passing}/{total} clouds is not a partial result")
    return BadgeText(f"{passing}/{total} clouds", "yellow" if 2 * passing >= total else "orange")


def error_text(error: HttpError) -> BadgeText:
    """What the badge of an error answer says (see the module doc)."""
    parameter = error.fields.get("parameter")
    if error.status == 400 and parameter:
        return BadgeText(f"bad {parameter}", presentation.look(ERROR).colour, is_error=True)
    if error.status == 503:
        return UNAVAILABLE
    return badge_text(UNKNOWN)
