"""One clock for every face: which time a result shows, and how a time reads.

- **Which time.** A result is dated by when it finished; a run still in progress (or a record without a
  finish) by when it started. The grid, the project and deployment pages, the history tables, "failing
  since", "last green", the feed and ``crosscloud history`` all use ``result_time``.
- **How it reads.** Pages print the relative time ("3 hours ago", kept current by ``static/relative-time.js``,
  which follows the same steps as ``relative``) with the exact UTC time on hover (``exact``); text faces
  print the exact time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Protocol

from crosscloud.records import parse_time

UNITS: Final = ((86400, "day"), (3600, "hour"), (60, "minute"))


class Timed(Protocol):
    """Anything with a record's two times (an index ``Entry``)."""

    @property
    def started_at(self) -> str | None: ...

    @property
    def finished_at(self) -> str | None: ...


def result_time_text(result: Timed) -> str | None:
    """The stored text of the time a result shows: its finish, else its start (see the module doc)."""
    return result.finished_at or result.started_at


def result_time(result: Timed) -> datetime | None:
    """The time a result shows, parsed (None without one, or when the stored text is not a time)."""
    text = result_time_text(result)
    return when_of(text)


def when_of(value: str | None) -> datetime | None:
    """An RFC 3339 text as an aware UTC datetime; None for nothing or for text that is not a time."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def relative(when: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", "2 days ago", "in 5 minutes" (a clock ahead of ours), "just now"."""
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in UNITS:
        if seconds >= size:
            count = round(seconds / size)
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if ahead else f"{words} ago"
    return "just now"


def exact(when: datetime) -> str:
    """The exact time people read on hover and text faces print: ``2018-12-04 08:00 UTC``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(when: datetime) -> str:
    """The machine form (``<time datetime>``, Atom): ``2018-12-04T08:00:00Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(value: str | None, now: datetime) -> str:
    """``3 days ago (2018-12-01 08:00 UTC)``: a stored time for a hover text; ``at an unknown time`` without one."""
    when = when_of(value)
    if when is None:
        return "at an unknown time"
    return f"{relative(when, now)} ({exact(when)})"
