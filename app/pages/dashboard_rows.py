"""One row of the dashboard as HTML: a project at a release, its build, its cloud columns and its Summary.

Every status cell opens its deployment page (``/projects/<p>/<release>/<cloud>``, which links the job; the
build and summary cells open the project page), and its hover text (``hover_text``) says why it shows what
it shows: the reason of a failure, since when it fails and the last green release, how old a stale result
is. A failing cell says whose fault it is (``crosscloud.insight``): an infrastructure failure carries the
class ``failure-infrastructure``, the word "infra" and ``data-failure-kind``, so it looks different from a
project failure without relying on colour.

Rows are built here in Python rather than in the template because a view has thousands of cells (130
projects x 20 clouds: 5,720) and a Jinja macro or call per cell costs several times more; every value goes
through ``escape``. ``Rows`` keeps the rows of one snapshot at one instant, so the views that show the same
row (each project's first architecture and that architecture by name; the deploy and provision views of
Kubernetes, whose deploy is its provisioning) render it once."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from markupsafe import Markup, escape

from crosscloud import clock, presentation
from crosscloud.cell_rules import CellView, Grid, Row
from crosscloud.failure_kind import FAILURES, INFRASTRUCTURE, UNKNOWN, classify_failure
from crosscloud.insight import CellInsight
from crosscloud.records import CellKey
from crosscloud_app.pages.template_helpers import FAILURE_KIND_TITLE, failure_kind_text, result_time, safe_logo
from crosscloud_app.web.status_state import Snapshot
from crosscloud_app.web.url_patterns import UrlPattern

SUB_TITLE_CHARS = 21
"""The original showed at most this much of a project's ``sub_title``."""


@dataclass(frozen=True)
class Column:
    """One status column of a row: the cell it shows (for the Summary, the cell that decided it)."""

    cell: CellView
    status: str
    stage: str
    """The cell's stage, or ``summary``."""
    cloud: str | None
    stale: bool
    note: str | None
    failure_kind: str | None = None
    """Whose fault the failure shown is (None unless the cell shows a stored failure)."""
    insight: CellInsight | None = None
    """The cell's insight while it shows a stored failure."""


Insights = Mapping[CellKey, CellInsight]
SUMMARY = "summary"
"""The ``data-stage`` of the Summary column."""


def column(cell: CellView, insights: Insights | None = None, provisions_itself: bool = False) -> Column:
    kind, found = _failure(cell, insights, provisions_itself)
    return Column(cell, cell.status, cell.key.stage, cell.key.cloud, cell.stale, cell.note, kind, found)


def _failure(
    cell: CellView, insights: Insights | None, provisions_itself: bool = False
) -> tuple[str | None, CellInsight | None]:
    """(failure kind, insight) of a cell that shows its stored failure; (None, None) for anything else (a
    cascaded ``n/a``, a running or green cell)."""
    entry = cell.entry
    if entry is None or cell.status not in FAILURES or entry.status != cell.status:
        return None, None
    found = insights.get(cell.key) if insights is not None else None
    if found is not None and found.failure_kind is not None:
        return found.failure_kind, found
    return classify_failure(cell.status, cell.key.stage, entry.reason, provisions_itself=provisions_itself), found


def summary_column(row: Row, insights: Insights | None = None) -> Column:
    """The Summary column: every cell of the row aggregated (``cell_rules.summary``), with the note of the
    cell that decided it."""
    decider = row.summary_cell
    cell = decider or CellView(CellKey(row.project.name, row.release, row.arch, "build"), row.summary, None)
    stale = any(c.stale for c in row.summary_cells if c.status == row.summary)
    kind, found = _failure(cell, insights, not row.project.app_layer)
    if decider is None:
        note = "nothing has run yet"
    else:
        where = f" on {decider.key.cloud}" if decider.key.cloud else ""
        note = f"decided by {decider.key.stage}{where}" + (f": {decider.note}" if decider.note else "")
    return Column(cell, row.summary, SUMMARY, None, stale, note, kind, found)


def hover_text(col: Column, now: datetime) -> str:
    """What a cell says on hover: its status and why (the cascade or staleness note), the failure's reason,
    since when it fails (and whose fault that is) and the last green release; times as the one clock says."""
    parts = [presentation.word(col.status) + (" (stale)" if col.stale else "")]
    if col.note:
        parts.append(col.note)
    entry = col.cell.entry
    shown = entry is not None and entry.status == col.status
    if shown and entry is not None:
        if entry.reason:
            parts.append(f"reason: {entry.reason}")
        if col.status == "running":
            parts.append(f"started {clock.age(entry.started_at, now)}")
        elif not col.stale:
            parts.append(f"finished {clock.age(clock.result_time_text(entry), now)}")
    found = col.insight
    if found is not None and found.consecutive_failures and found.failing_since is not None:
        runs = "1 run" if found.consecutive_failures == 1 else f"{found.consecutive_failures} runs in a row"
        kind = failure_kind_text(col.failure_kind or UNKNOWN)
        parts.append(f"failing since {clock.age(found.failing_since.time, now)} ({runs}, {kind})")
        last = found.last_success
        parts.append(f"last green {last.label()} {clock.age(last.time, now)}" if last else "never green")
    return "; ".join(parts)


def _e(value: str) -> str:
    return str(escape(value))


_STALE_MARK: Final = ' <span class="mark stale-mark">stale</span>'
_INFRA_MARK: Final = ' <span class="mark kind-mark">infra</span>'


@dataclass(frozen=True)
class _Look:
    """How a status looks in a cell, escaped once: its CSS class, its word."""

    css: str
    word: str
    status: str


@dataclass(frozen=True)
class _Place:
    """Where a cell is in its row, escaped once: its stage and cloud attributes, its part of the label, and
    what a narrow screen shows before it (``data-label``)."""

    attributes: str
    label: str
    """``<stage> on <cloud>: `` (``summary: `` for the Summary)."""
    data_label: str


@dataclass(frozen=True)
class _RowText:
    """What every cell of a row repeats, escaped once: its attributes and the start of its label."""

    attributes: str
    label: str


@functools.lru_cache(maxsize=64)
def _look(status: str) -> _Look:
    return _Look(_e(presentation.css_class(status)), _e(presentation.word(status)), _e(status))


@functools.lru_cache(maxsize=4096)
def _place(stage: str, cloud: str | None, cloud_name: str) -> _Place:
    what = "summary" if stage == SUMMARY else stage
    where = f" on {cloud_name}" if cloud_name else ""
    attributes = f' data-stage="{_e(stage)}" data-cloud="{_e(cloud or "")}"'
    return _Place(attributes, _e(f"{what}{where}: "), _e(cloud_name or what.capitalize()))


def status_cell(col: Column, row: _RowText, href: str, now: datetime, cloud_name: str = "") -> str:
    """One status cell: the badge (linked to ``href``, the cell's deployment page, which links the job), its
    accessible name, its hover text, and the ``data-*`` attributes scripts and tests read. Every value is
    escaped (once per status, place or row for what repeats)."""
    look = _look(col.status)
    place = _place(col.stage, col.cloud, cloud_name)
    label = row.label + place.label + look.word
    cls = look.css
    text = look.word
    kind_attribute = ""
    if col.stale:
        label += " (stale)"
        cls += " stale"
    kind = col.failure_kind
    if kind is not None:
        label += _e(f" ({FAILURE_KIND_TITLE.get(kind, kind)})")
        cls += f" failure-{_e(kind)}"
        kind_attribute = f' data-failure-kind="{_e(kind)}"'
        if kind == INFRASTRUCTURE and col.status != "infra_failed":  # "infra failed" says so already
            text += _INFRA_MARK
    if col.stale:
        text += _STALE_MARK
    return (
        f'<td class="{cls}"{row.attributes}{place.attributes} data-status="{look.status}"{kind_attribute}'
        f' data-label="{place.data_label}"><a class="badge" href="{_e(href)}" aria-label="{label}"'
        f' title="{_e(hover_text(col, now))}">{text}</a></td>'
    )


class Rows:
    """The rows of the views of one snapshot at one instant, each rendered once (see the module doc)."""

    def __init__(self, snapshot: Snapshot, now: datetime):
        self.snapshot = snapshot
        self.now = now
        self._done: dict[tuple[str, str, str, str, str, bool], str] = {}
        self._links: dict[tuple[Any, ...], UrlPattern] = {}

    def section(self, grid: Grid, rows: Sequence[Row]) -> Markup:
        """The rows of one section of ``grid``, as HTML."""
        out = []
        previous = None
        for row in rows:
            first = row.project.name != previous
            previous = row.project.name
            shown = row.project.cloud_stage() if grid.stage == "deploy" else grid.stage
            key = (row.project.name, row.release, row.arch, grid.kubernetes, shown, first)
            html = self._done.get(key)
            if html is None:
                html = self._done[key] = self.row_html(row, grid, first)
            out.append(html)
        return Markup("".join(out))  # noqa: S704 - row_html escapes every value

    def _link(self, endpoint: str, varying: tuple[str, ...], **values: Any) -> UrlPattern:
        """The ``UrlPattern`` of links of one shape, made once."""
        shape = (endpoint, varying, *sorted(values.items()))
        found = self._links.get(shape)
        if found is None:
            found = self._links[shape] = UrlPattern(endpoint, varying, **values)
        return found

    def cell_links(self, row: Row, kubernetes: str) -> tuple[str, UrlPattern]:
        """(the project page's link for the row's build and summary cells, the pattern of its deployment
        pages' links by cloud) in the test environment of the row (``kubernetes``, the row's arch): ``url_for``'s
        links (the one URL helper, so published pages can make them relative), made once per shape."""
        query: dict[str, Any] = {}
        if kubernetes != "stable":
            query["kubernetes"] = kubernetes
        if row.arch != row.project.arch[0]:
            query["arch"] = row.arch
        project_page = self._link("projects.project_page", ("project",), **query, _anchor=f"release-{row.release}")
        cell_page = self._link("projects.cell_page", ("project", "release", "cloud"), **query)
        return project_page(project=row.project.name), cell_page

    def row_html(self, row: Row, grid: Grid, first: bool) -> str:
        """The ``<tr>`` of ``row`` in ``grid`` (``first``: the project's first release, which carries the
        project's name, logo and sub-title for all its releases)."""
        project = row.project
        insights, now = self.snapshot.insight, self.now
        provisions_itself = not project.app_layer
        project_page, cell_page = self.cell_links(row, grid.kubernetes)
        name = _e(project.display_name)
        page = _e(self._link("projects.project_page", ("project",))(project=project.name))
        release = _e(row.release)
        text = _RowText(f' data-project="{_e(project.name)}" data-release="{release}"', f"{name} {release} ")
        out = [f"<tr{text.attributes}{_FIRST if first else ''}>"]
        if first:
            logo = safe_logo(project.logo_url)
            rowspan = len(project.releases)
            out.append(f'\n<th scope="rowgroup" rowspan="{rowspan}" class="project"><div class="project-box">')
            if logo:
                out.append(f'<img class="logo" src="{_e(logo)}" {_LOGO_ATTRIBUTES}>')
            out.append(f'\n<span class="project-words"><a class="name" href="{page}">{name}</a>')
            if project.sub_title:
                sub_title = _e(project.sub_title[:SUB_TITLE_CHARS])
                out.append(f'\n<span class="sub-title" title="{_e(project.sub_title)}">{sub_title}</span>')
            out.append("</span></div></th>")
        commit = project.commit_url(row.sha) if row.sha else None
        label = _e(row.release_label)
        out.append(
            f'\n<td class="release" data-release-name="{release}"><a class="card-project" href="{page}">{name}</a>'
            f'\n<span class="release-name">{release}</span>\n'
        )
        if commit:
            out.append(f'<a class="ref" href="{_e(commit)}" title="{release}: {_e(row.sha or "")}">{label}</a></td>')
        else:
            out.append(f'<span class="ref" title="{release}">{label}</span></td>')
        out.append("\n" + status_cell(column(row.build, insights, provisions_itself), text, project_page, now))
        if grid.stage == "build":
            built = result_time(row.build.entry, now) if row.build.entry else "never"
            out.append(f'\n<td class="built" data-label="Built">{built}</td>')
            if commit:
                sha = f'<a href="{_e(commit)}"><code>{_e((row.sha or "")[:12])}</code></a>'
            elif row.sha:
                sha = f"<code>{_e(row.sha[:12])}</code>"
            else:
                sha = "—"
            out.append(f'\n<td class="built-commit" data-label="Commit">{sha}</td>')
        else:
            out.append("\n")
            for cell, cloud in zip(row.clouds, grid.clouds, strict=True):
                col = column(cell, insights, provisions_itself)
                href = cell_page(project=project.name, release=row.release, cloud=cloud.name)
                out.append(status_cell(col, text, href, now, cloud.display_name))
        out.append("\n" + status_cell(summary_column(row, insights), text, project_page, now) + "\n</tr>\n")
        return "".join(out)


_FIRST: Final = ' class="first-release"'
_LOGO_ATTRIBUTES: Final = 'alt="" width="28" height="28" loading="lazy" decoding="async" referrerpolicy="no-referrer"'
