"""What the page templates call (Jinja globals), in one place: how a status looks (its word and CSS class,
from ``crosscloud.presentation``, the table every face uses), whose fault a failure is in words, and times
("3 minutes ago", ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from crosscloud import presentation
from crosscloud.failure_kind import INFRASTRUCTURE, PROJECT, UNKNOWN
from crosscloud.records import parse_time

FAILURE_KIND_TEXT: Final = {INFRASTRUCTURE: "infra", PROJECT: "project", UNKNOWN: "unknown cause"}
FAILURE_KIND_TITLE: Final = {
    INFRASTRUCTURE: "the cloud or the test environment failed, not the project",
    PROJECT: "the project failed (its build, deploy or tests)",
    UNKNOWN: "it could be the project or the environment (a timeout without a telling reason)",
}


def relative(when: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", as the original's "Last updated"."""
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 45:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_of(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def failure_kind_text(kind: str) -> str:
    """Visible words for whose fault a failure is (so it does not rest on colour alone)."""
    return FAILURE_KIND_TEXT.get(kind, kind)


def failure_kind_title(kind: str) -> str:
    return FAILURE_KIND_TITLE.get(kind, kind)


def safe_logo(url: str | None) -> str | None:
    """Only https logos are shown (no mixed content, no ``javascript:``); others get a text fallback."""
    return url if url and url.startswith("https://") and '"' not in url else None


GLOBALS: Final[dict[str, Any]] = {
    "relative": relative,
    "iso": iso,
    "when_of": when_of,
    "status_class": presentation.css_class,
    "status_text": presentation.word,
    "failure_kind_text": failure_kind_text,
    "failure_kind_title": failure_kind_title,
    "safe_logo": safe_logo,
}
