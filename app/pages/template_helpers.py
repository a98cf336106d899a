"""What the page templates call (Jinja globals), in one place: how a status looks (its word and CSS class,
from ``crosscloud.presentation``, the table every face uses), whose fault a failure is in words, and times
(``time_tag``: "3 minutes ago" with the exact time on hover, from ``crosscloud.clock``, the one clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from flask import current_app, has_app_context
from markupsafe import Markup, escape

from crosscloud import clock, presentation
from crosscloud.failure_kind import INFRASTRUCTURE, PROJECT, UNKNOWN
from crosscloud_app.web.status_state import EXTENSION, NotReadyError, StatusState

FAILURE_KIND_TEXT: Final = {INFRASTRUCTURE: "infra", PROJECT: "project", UNKNOWN: "unknown cause"}
FAILURE_KIND_TITLE: Final = {
    INFRASTRUCTURE: "the cloud or the test environment failed, not the project",
    PROJECT: "the project failed (its build, deploy or tests)",
    UNKNOWN: "it could be the project or the environment (a timeout without a telling reason)",
}


def served_now() -> datetime | None:
    """The instant a page's relative times are computed at when the caller names none: the served snapshot's
    ``as_of`` (its commit's time under ``CLOCK=commit``, as ``crosscloud publish`` renders), else None (the
    wall clock). So a published page is the same bytes whenever its commit is published."""
    if not has_app_context():
        return None
    state: StatusState | None = current_app.extensions.get(EXTENSION)
    try:
        return state.snapshot().as_of if state is not None else None
    except NotReadyError:
        return None


def time_tag(value: str | datetime | None, now: datetime | None = None, *, missing: str = "—") -> Markup:
    """A time as every page shows it (the one clock, ``crosscloud.clock``): the relative time, kept current
    by ``static/relative-time.js``, with the exact UTC time on hover and the machine form in ``datetime``;
    relative to ``now``, by default the served snapshot's (``served_now``)."""
    when = value if isinstance(value, datetime) else clock.when_of(value)
    now = now or served_now()
    if when is None:
        return Markup(escape(value or missing))  # noqa: S704 - escaped
    return Markup(  # noqa: S704 - every interpolated value is escaped
        f'<time datetime="{clock.iso(when)}" title="{escape(clock.exact(when))}" data-relative>'
        f"{escape(clock.relative(when, now))}</time>"
    )


def result_time(entry: Any, now: datetime | None = None) -> Markup:
    """The time a result shows (``clock.result_time``: its finish, else its start) as a ``time_tag``."""
    return time_tag(clock.result_time_text(entry), now, missing="?")


def failure_kind_text(kind: str) -> str:
    """Visible words for whose fault a failure is (so it does not rest on colour alone)."""
    return FAILURE_KIND_TEXT.get(kind, kind)


def failure_kind_title(kind: str) -> str:
    return FAILURE_KIND_TITLE.get(kind, kind)


def safe_logo(url: str | None) -> str | None:
    """Only https logos are shown (no mixed content, no ``javascript:``); others get a text fallback."""
    return url if url and url.startswith("https://") and '"' not in url else None


GLOBALS: Final[dict[str, Any]] = {
    "relative": clock.relative,
    "iso": clock.iso,
    "exact": clock.exact,
    "when_of": clock.when_of,
    "time_tag": time_tag,
    "result_time": result_time,
    "cloud_heading": presentation.cloud_heading,
    "status_class": presentation.css_class,
    "status_text": presentation.word,
    "failure_kind_text": failure_kind_text,
    "failure_kind_title": failure_kind_title,
    "safe_logo": safe_logo,
}
