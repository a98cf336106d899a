"""``/feed.xml``: an Atom feed (RFC 4287) of status changes, for people who prefer a feed reader to a dashboard.

An entry is a result of a cell whose status differs from the result before it (a cell's first result
counts: it changed from nothing); the shown status of a version is its record's status, or ``error`` for
a file that is not a valid record, in the words of ``crosscloud.presentation`` ("timed out", "N/A").
Results, not steps (``crosscloud.result_history``): the ``running`` version every stage writes when it starts
is no result, so the feed never announces "running" and a result is compared with the result before it,
never with its own start. The
newest ``LIMIT`` changes come first; ``?project=`` keeps one project.

The changes are found in one walk of the index's versions, newest first (``StatusIndex.runs_newest_first``):
each cell's oldest version seen so far waits for the result before it, and a change not known yet can only be
at a waiting version, so the walk stops once ``LIMIT`` known changes are newer than every waiting version (a
cell waiting at its first result, a change from nothing, is settled by one lookup). A feed of the newest
changes reads the newest few nights, however many cells and however long the history. The answer depends
only on the status repository commit and the filter: it is computed once per commit and served with a strong
ETag (``304`` on ``If-None-Match``). The XML is written by ElementTree, which escapes every string: names and
reasons from the configuration or from records render as text."""

from __future__ import annotations

import hashlib
import heapq
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlencode

from flask import Blueprint, current_app, request
from werkzeug.wrappers import Response

from crosscloud import layout
from crosscloud.clock import iso, when_of
from crosscloud.config import Config
from crosscloud.presentation import ERROR, word
from crosscloud.records import CellKey
from crosscloud.result_history import RUNNING
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud.vocabulary import NO_KUBERNETES
from crosscloud_app.web import public_url
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import get_state

ATOM: Final = "http://www.w3.org/2005/Atom"
CONTENT_TYPE: Final = "application/atom+xml; charset=utf-8"
LIMIT: Final = 100
"""Entries in the feed."""

bp = Blueprint("feed", __name__)


@dataclass(frozen=True)
class Change:
    """A version of a cell whose shown status differs from the version before it."""

    entry: Entry
    status: str
    previous: str | None
    """The status of the version before (None for the cell's first result)."""


def _shown(status: str | None) -> str:
    return status or ERROR


def status_changes(index: StatusIndex, project: str | None = None, limit: int = LIMIT) -> list[Change]:
    """The newest ``limit`` status changes of the index's current cells (of ``project``), newest first (see
    the module doc)."""
    prefix = f"{layout.RESULTS_DIR}/{project}/" if project else f"{layout.RESULTS_DIR}/"
    current = {path for path in index.current_paths() if path.startswith(prefix)}
    walk = _Walk(index, limit)
    for count, (seq, path, status) in enumerate(index.runs_newest_first(prefix), 1):
        if path in current and status != RUNNING:
            walk.version(seq, path, _shown(status))
        if count % CHECK_EVERY == 0 and walk.complete():
            break
    else:
        walk.finish()
    out: list[Change] = []
    for seq, status, previous in sorted(walk.found, reverse=True)[:limit]:
        entry = index.entry_at(seq)
        if entry is not None:
            out.append(Change(entry, status, previous))
    return out


CHECK_EVERY: Final = 512
"""Versions walked between two looks at whether the newest changes are all known."""


class _Walk:
    """The walk of ``status_changes``: versions come newest first; each cell's oldest version seen so far
    waits for the result before it, which decides whether it is a change."""

    def __init__(self, index: StatusIndex, limit: int):
        self.index = index
        self.limit = limit
        self.found: list[tuple[int, str, str | None]] = []
        """(seq, status, status before) of the changes known."""
        self.waiting: dict[str, tuple[int, str]] = {}
        self._newest: list[tuple[int, str]] = []  # (-seq, path) of waiting versions, a heap; outdated ones skipped

    def version(self, seq: int, path: str, shown: str) -> None:
        newer = self.waiting.get(path)
        if newer is not None and newer[1] != shown:
            self.found.append((newer[0], newer[1], shown))
        self.waiting[path] = (seq, shown)
        heapq.heappush(self._newest, (-seq, path))

    def complete(self) -> bool:
        """Whether ``limit`` changes are known that are newer than any change not known yet (which can only
        be at a waiting version)."""
        if len(self.found) < self.limit:
            return False
        bound = self._newest_waiting()
        return sum(1 for change in self.found if change[0] > bound) >= self.limit

    def _newest_waiting(self) -> int:
        """The seq of the newest waiting version (0 when none waits); a waiting version that is its cell's
        oldest result is settled on the way: a first result is a change from nothing."""
        while self._newest:
            seq, path = -self._newest[0][0], self._newest[0][1]
            waiting = self.waiting.get(path)
            if waiting is None or waiting[0] != seq:
                heapq.heappop(self._newest)
            elif self.index.oldest_result(path, RUNNING) == seq:
                heapq.heappop(self._newest)
                self.found.append((seq, self.waiting.pop(path)[1], None))
            else:
                return seq
        return 0

    def finish(self) -> None:
        """Every version was walked: each waiting one is its cell's first result."""
        self.found += [(seq, shown, None) for seq, shown in self.waiting.values()]
        self.waiting.clear()


# -- rendering -------------------------------------------------------------------------------------------------
def _atom_time(value: datetime) -> str:
    return iso(value)


def _updated(entry: Entry) -> str:
    """When the result happened (the one clock's ``result_time``: its finish, else its start), else when it was
    committed."""
    for value in (entry.finished_at, entry.started_at):
        when = when_of(value)
        if when is not None:
            return iso(when)
    return _atom_time(datetime.fromtimestamp(entry.committed_at, UTC))


def _cell_words(key: CellKey, config: Config) -> str:
    project = config.projects.get(key.project)
    words = f"{project.display_name if project else key.project} {key.release} {key.stage}"
    if key.cloud:
        cloud = config.clouds.get(key.cloud)
        words += f" on {cloud.display_name if cloud else key.cloud}"
    if project is not None and len(project.arch) > 1:
        words += f" ({key.arch})"
    if key.environment not in (None, NO_KUBERNETES, "stable"):
        words += f" with Kubernetes {key.environment}"
    return words


def _cell_page(base: str, key: CellKey) -> str:
    url = f"{base}/projects/{quote(key.project, safe='')}"
    if key.cloud is None:
        return url
    query = {"arch": key.arch}
    if key.environment not in (None, NO_KUBERNETES):
        query["kubernetes"] = str(key.environment)
    return f"{url}/{quote(key.release, safe='')}/{quote(key.cloud, safe='')}?{urlencode(query)}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render(changes: list[Change], config: Config, *, base: str, self_url: str, title: str) -> bytes:
    """The Atom document (UTF-8 bytes) of ``changes``. ``base`` is the site's absolute URL (no slash at the end)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", self_url)
    _sub(feed, "title", title)
    # the newest change's time (an empty feed has nothing newer than the epoch: the answer stays per commit)
    _sub(feed, "updated", max((_updated(c.entry) for c in changes), default=_atom_time(datetime.fromtimestamp(0, UTC))))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/")
    author = _sub(feed, "author")
    _sub(author, "name", "Cross-Cloud CI")
    _sub(feed, "generator", "Cross-Cloud CI")
    for change in changes:
        entry = change.entry
        words = _cell_words(entry.key, config)
        item = _sub(feed, "entry")
        _sub(item, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"cross-cloud-ci:{entry.commit}:{entry.path}").urn)
        was = f" (was {word(change.previous)})" if change.previous else " (first result)"
        _sub(item, "title", f"{words}: {word(change.status)}{was}")
        _sub(item, "updated", _updated(entry))
        _sub(item, "link", rel="alternate", type="text/html", href=_cell_page(base, entry.key))
        if entry.url and entry.url.startswith(("https://", "http://")):
            _sub(item, "link", rel="related", href=entry.url, title="job")
        lines = [f"{words}: {word(change.status)}{was}."]
        release = " ".join(part for part in (entry.ref, f"({entry.sha[:12]})" if entry.sha else None) if part)
        if release:
            lines.append(f"Release: {release}.")
        if entry.reason:
            lines.append(f"Reason: {entry.reason}")
        if entry.error:
            lines.append(f"The result file is not a valid record: {entry.error}")
        if entry.url:
            lines.append(f"Job: {entry.url}")
        lines.append(f"Status repository commit {entry.commit}, {entry.path}.")
        _sub(item, "content", "\n".join(lines), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


# -- the route -------------------------------------------------------------------------------------------------
FEED_CACHE_SIZE: Final = 256
"""Rendered feeds kept at most (one per project and link base; the bases are few, see ``public_url``)."""


class _Cache:
    """Rendered feeds of the newest commit, by filter (an older commit's answers are dropped), at most
    ``FEED_CACHE_SIZE``."""

    def __init__(self) -> None:
        self.commit: str | None = None
        self.bodies: dict[tuple[str | None, str], bytes] = {}
        self.lock = threading.Lock()

    def get(self, commit: str, key: tuple[str | None, str]) -> bytes | None:
        with self.lock:
            return self.bodies.get(key) if self.commit == commit else None

    def put(self, commit: str, key: tuple[str | None, str], body: bytes) -> None:
        with self.lock:
            if self.commit != commit or len(self.bodies) >= FEED_CACHE_SIZE:
                self.commit, self.bodies = commit, {}
            self.bodies[key] = body


def etag(commit: str, project: str | None, base: str) -> str:
    return hashlib.sha256(f"feed\0{commit}\0{project or ''}\0{base}".encode()).hexdigest()[:32]


@bp.get("/feed.xml")
def feed() -> Response:
    project = request.args.get("project")
    if project is not None and not project:
        raise HttpError(400, "project must name a project (or be left out)")
    state = get_state()
    snapshot = state.snapshot()
    config = snapshot.config
    if project is not None and project not in config.projects:
        raise HttpError(404, f"no project {project!r} in the configuration")
    base = public_url.base_url()
    tag = etag(snapshot.commit, project, base)
    if request.if_none_match.contains(tag):  # strong comparison: the body is the same byte for byte
        response = Response(status=304)
        response.set_etag(tag)
        return response
    cache: _Cache = current_app.extensions.setdefault("crosscloud.feed", _Cache())
    commit = snapshot.commit
    body = cache.get(commit, (project, base))
    if body is None:
        with state.query() as index:
            commit = index.commit or commit  # a refresh may have indexed a newer commit meanwhile
            changes = status_changes(index, project)
        query = f"?{urlencode({'project': project})}" if project else ""
        self_url = base + request.path + query  # request.path is below the base, which already has the mount
        name = config.projects[project].display_name if project else None
        title = f"Cross-Cloud CI: status changes of {name}" if name else "Cross-Cloud CI: status changes"
        body = render(changes, config, base=base, self_url=self_url, title=title)
        cache.put(commit, (project, base), body)
    response = Response(body, status=200, content_type=CONTENT_TYPE)
    response.set_etag(etag(commit, project, base))
    response.headers["Cache-Control"] = "no-cache"
    return response
