"""What a request to the machine API asks, checked before anything is read: query parameters against what the
route's entry in the table documents (``crosscloud_app.api.openapi.OPERATIONS``; a parameter the document
does not list is refused), names against the configuration, choices against the vocabulary, the page size,
the opaque history cursor and the time window. Every refusal is a 400 (404 for a path segment) naming the
parameter at fault (``api_error``)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from flask import current_app, request

from crosscloud.config import Config, Project
from crosscloud.records import parse_time
from crosscloud.status_repo.reader import Entry
from crosscloud_app.api.components import DEFAULT_LIMIT, MAX_LIMIT
from crosscloud_app.web.http_errors import HttpError

EXTENSION: Final = "crosscloud.api.query"
"""``app.extensions`` key of the query parameters each API endpoint documents (set by ``api.register``)."""
_CURSOR_RE: Final = re.compile(r"seq:([1-9][0-9]{0,17})")


def api_error(status: int, message: str, parameter: str | None = None) -> HttpError:
    """An API error: the body always says which parameter is at fault (``null`` when none is)."""
    return HttpError(status, message, parameter=parameter)


def query_args() -> dict[str, str]:
    """The query of this request, checked against what the route documents (each parameter at most once)."""
    allowed: frozenset[str] = current_app.extensions[EXTENSION][request.endpoint]
    for name in request.args:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise api_error(400, f"unknown query parameter {shown(name)}; this route takes: {known}", name)
        if len(request.args.getlist(name)) > 1:
            raise api_error(400, f"query parameter {name!r} is given more than once", name)
    return dict(request.args.items())


def shown(value: str) -> str:
    """A value quoted for a message, cut short when it is long."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def required(args: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not args.get(name):
            raise api_error(400, f"the query parameter {name!r} is required", name)


def choice(args: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    """The value of ``name`` if it is one of ``allowed`` (None when absent), else 400."""
    value = args.get(name)
    if value is None or value in allowed:
        return value
    raise api_error(400, f"bad {name} {shown(value)}: use one of {', '.join(allowed)}", name)


def known(args: Mapping[str, str], name: str, config: Config) -> str | None:
    """A project or cloud name given as a query parameter, judged against the configuration (400)."""
    value = args.get(name)
    names = config.projects if name == "project" else config.clouds
    if value is None or value in names:
        return value
    raise api_error(400, f"unknown {name} {shown(value)} in cross-cloud.yml; known: {', '.join(names)}", name)


def limit(args: Mapping[str, str]) -> int:
    value = args.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= MAX_LIMIT:
        raise api_error(400, f"bad limit {shown(value)}: use a whole number from 1 to {MAX_LIMIT}", "limit")
    return int(value)


def path_project(config: Config, name: str) -> Project:
    """The project a path names, or 404."""
    if name not in config.projects:
        raise api_error(404, f"no project {shown(name)} in cross-cloud.yml", "project")
    return config.projects[name]


def path_choice(name: str, value: str, allowed: Iterable[str]) -> str:
    """A path segment that must be one of ``allowed``, or 404."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise api_error(404, f"no {name} {shown(value)}: use one of {', '.join(allowed)}", name)
    return value


# -- history pages ---------------------------------------------------------------------------------------------
def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    """The sequence number a cursor continues below, or 400 (a cursor is only ever made by this API)."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _CURSOR_RE.fullmatch(text)
    if match is None:
        raise api_error(400, f"bad cursor {shown(value)}: use the `next` link of a previous page", "cursor")
    return int(match.group(1))


@dataclass(frozen=True)
class Window:
    """``since <= started < until`` (either side open)."""

    since: datetime | None
    until: datetime | None

    def contains(self, entry: Entry) -> bool:
        started = _started(entry)
        return (self.since is None or started >= self.since) and (self.until is None or started < self.until)


def _started(entry: Entry) -> datetime:
    """When a result happened: its ``started_at``, or the commit time for a file that is not a record."""
    if entry.started_at is not None:
        try:
            return parse_time(entry.started_at)
        except ValueError:
            pass
    return datetime.fromtimestamp(entry.committed_at, UTC)


def window(args: Mapping[str, str]) -> Window | None:
    """The ``since``/``until`` window asked for, or None for all of time."""
    bounds: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        value = args.get(name)
        try:
            bounds[name] = None if value is None else parse_time(value)
        except ValueError:
            message = f"bad {name} {shown(value or '')}: use an RFC 3339 time with a zone, e.g. 2026-01-31T08:00:00Z"
            raise api_error(400, message, name) from None
    since, until = bounds["since"], bounds["until"]
    if since is not None and until is not None and since >= until:
        raise api_error(400, "since must be earlier than until", "since")
    return None if since is None and until is None else Window(since, until)
