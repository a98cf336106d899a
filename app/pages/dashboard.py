"""The dashboard ``/``: the grid of the original cncf.ci, one section per ``cncf_relation``.

Rows are projects at a release (stable, head); the cloud columns show one pipeline stage (``?stage=``,
the deploy by default, provisioning for Kubernetes itself; the build view has the build column only);
``?kubernetes=`` and ``?arch=`` choose the test environment. The Summary column aggregates every cell of the
row (``cell_rules.summary``). Everything comes from the snapshot's cached ``Grid`` (one per view), so a page
view does no git and no SQLite work.

Every status cell opens its deployment page (``/projects/<p>/<release>/<cloud>``, which links the job; the
build and summary cells open the project page), and its hover text (``hover_text``) says why it shows what
it shows: the reason of a failure, since when it fails and the last green release, how old a stale result
is. A failing cell says whose fault it is (``crosscloud.insight``): an infrastructure failure carries the
class ``failure-infrastructure``, the word "infra" and ``data-failure-kind``, so it looks different from a
project failure without relying on colour. Cloud columns are headed by the cloud's short name
(``presentation.cloud_heading``), the full name on hover, so 8 clouds fit 1280 px."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from crosscloud import clock, presentation
from crosscloud.cell_rules import VIEW_STAGES, CellView, Grid, Row
from crosscloud.failure_kind import FAILURES, INFRASTRUCTURE, UNKNOWN, classify_failure
from crosscloud.insight import CellInsight
from crosscloud.records import CellKey
from crosscloud.vocabulary import ARCHES, RELEASES
from crosscloud_app.pages.template_helpers import FAILURE_KIND_TITLE, failure_kind_text
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import Snapshot, get_state

bp = Blueprint("dashboard", __name__)

SUB_TITLE_CHARS = 21
"""The original showed at most this much of a project's ``sub_title``."""


@dataclass(frozen=True)
class Choice:
    """The test environment and stage a page shows, from the query string (checked)."""

    stage: str = "deploy"
    kubernetes: str = "stable"
    arch: str | None = None

    def but(self, **change: str | None) -> Choice:
        """This view with ``change`` applied (``arch=None``: each project's first)."""
        return replace(self, **change)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        """The link to this view: ``/`` for the default one, else ``/views/<stage>/<kubernetes>/<arch>/``
        (``any`` for each project's first architecture). Every view is a path, not a query, so that the
        published site (``crosscloud publish``, one file per path) has each one, and the app and the site
        answer a link with the same bytes; ``/?stage=...`` still answers as before."""
        if self == Choice():
            return url_for("dashboard.index")
        return url_for("dashboard.view", stage=self.stage, kubernetes=self.kubernetes, arch=self.arch or ANY_ARCH)


ANY_ARCH = "any"
"""The ``arch`` of a view's path for each project's first architecture."""


def parse_choice() -> Choice:
    """The view asked for, or 400 naming the parameter at fault."""

    def pick(name: str, allowed: Sequence[str], default: str | None) -> str | None:
        value = request.args.get(name, "")
        if value in ("", "any") and default is None:
            return None
        if value == "":
            return default
        if value not in allowed:
            raise HttpError(400, f"bad {name} {value[:40]!r}: use one of {', '.join(allowed)}")
        return value

    stage = pick("stage", VIEW_STAGES, "deploy")
    kubernetes = pick("kubernetes", RELEASES, "stable")
    assert stage is not None and kubernetes is not None
    return Choice(stage, kubernetes, pick("arch", ARCHES, None))


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


_STALE_MARK = Markup(' <span class="mark stale-mark">stale</span>')
_INFRA_MARK = Markup(' <span class="mark kind-mark">infra</span>')


def status_cell(col: Column, row: Row, href: str, now: datetime, cloud_name: str = "") -> Markup:
    """One status cell: the badge (linked to ``href``, the cell's deployment page, which links the job), its
    accessible name, its hover text, and the ``data-*`` attributes scripts and tests read. Built here rather
    than in a Jinja macro because the dashboard has thousands of them (130 projects x 20 clouds) and a macro
    call (or ``Markup.format``) costs several times more. Every value goes through ``escape``."""
    where = f" on {cloud_name}" if cloud_name else ""
    what = "summary" if col.stage == SUMMARY else col.stage
    label = escape(f"{row.project.display_name} {row.release} {what}{where}: {presentation.word(col.status)}")
    label += " (stale)" if col.stale else ""
    kind = col.failure_kind
    if kind is not None:
        label += escape(f" ({FAILURE_KIND_TITLE.get(kind, kind)})")
    title = escape(hover_text(col, now))
    text = escape(presentation.word(col.status))
    if kind == INFRASTRUCTURE and col.status != "infra_failed":  # "infra failed" says so already
        text += _INFRA_MARK
    text += _STALE_MARK if col.stale else ""
    cls = presentation.css_class(col.status) + (" stale" if col.stale else "")
    kind_attribute = ""
    if kind is not None:
        cls += f" failure-{kind}"
        kind_attribute = f' data-failure-kind="{escape(kind)}"'
    cloud = escape(col.cloud or "")
    return Markup(  # noqa: S704 - every interpolated value above is escaped
        f'<td class="{cls}" data-project="{escape(row.project.name)}" data-release="{escape(row.release)}"'
        f' data-stage="{escape(col.stage)}" data-cloud="{cloud}" data-status="{escape(col.status)}"{kind_attribute}'
        f' data-label="{escape(cloud_name or what.capitalize())}">'
        f'<a class="badge" href="{escape(href)}" aria-label="{label}" title="{title}">{text}</a></td>'
    )


def cell_links(row: Row, choice: Choice) -> tuple[str, dict[str, str]]:
    """(the project page's link for the row's build and summary cells, each cloud's deployment page link),
    made by ``url_for`` (the one URL helper, so published pages can make them relative)."""
    query: dict[str, Any] = {}
    if choice.kubernetes != "stable":
        query["kubernetes"] = choice.kubernetes
    if row.arch != row.project.arch[0]:
        query["arch"] = row.arch
    project_page = url_for("projects.project_page", project=row.project.name, **query, _anchor=f"release-{row.release}")
    # one url_for per row, not per cell (a 200 x 12 view has 4,800 cells): the cloud is a path segment put in
    # place of a marker, quoted as url_for would quote it
    pattern = url_for("projects.cell_page", project=row.project.name, release=row.release, cloud=_CLOUD, **query)
    clouds = {
        cell.key.cloud: pattern.replace(_CLOUD, quote(cell.key.cloud, safe=""), 1) for cell in row.e2e if cell.key.cloud
    }
    return project_page, clouds


_CLOUD: Final = "CLOUD-SEGMENT-MARKER"
"""Stands for the cloud in a deployment page's link while ``cell_links`` builds it (no name has upper case)."""


PAGES = "crosscloud_dashboard_pages"
"""``app.extensions`` key of the rendered pages: ``Choice`` -> (snapshot, grid, html)."""


@bp.get("/")
def index() -> ResponseReturnValue:
    """The page for the view the query chooses (see ``page``)."""
    return page(parse_choice())


@bp.get("/views/<stage>/<kubernetes>/<arch>/")
def view(stage: str, kubernetes: str, arch: str) -> ResponseReturnValue:
    """A view named by its path (``Choice.url``); 404 naming the part at fault for anything else."""
    for name, value, allowed in (("stage", stage, VIEW_STAGES), ("kubernetes", kubernetes, RELEASES),
                                 ("arch", arch, (*ARCHES, ANY_ARCH))):  # fmt: skip
        if value not in allowed:
            raise HttpError(404, f"no {name} {value[:40]!r}: use one of {', '.join(allowed)}")
    return page(Choice(stage, kubernetes, None if arch == ANY_ARCH else arch))


def page(choice: Choice) -> ResponseReturnValue:
    """The page for ``choice``, rendered once per cached grid (a minute at most, see ``state.GRID_TTL``): the
    relative times in it are kept current by ``static/relative-time.js``."""
    snapshot = get_state().snapshot()
    grid = snapshot.grid(kubernetes=choice.kubernetes, arch=choice.arch, stage=choice.stage)
    pages: dict[Choice, tuple[Snapshot, Grid, str]] = current_app.extensions.setdefault(PAGES, {})
    cached = pages.get(choice)
    if cached is not None and cached[0] is snapshot and cached[1] is grid:
        return cached[2]
    html = render_page(snapshot, grid, choice)
    pages[choice] = (snapshot, grid, html)
    return html


def render_page(snapshot: Snapshot, grid: Grid, choice: Choice) -> str:
    now = snapshot.now()
    sections: list[tuple[str | None, list[Line]]] = []
    for relation, rows in grid.sections:
        lines = []
        for row in rows:
            project_page, cloud_pages = cell_links(row, choice)
            lines.append(Line(row, summary_column(row, snapshot.insight), project_page, cloud_pages))
        sections.append((relation, lines))
    return render_template(
        "dashboard.html",
        snapshot=snapshot,
        grid=grid,
        sections=sections,
        choice=choice,
        stages=VIEW_STAGES,
        releases=RELEASES,
        arches=(None, *ARCHES),
        insights=snapshot.insight,
        now=now,
        looks=[presentation.LOOKS[s] for s in LEGEND],
    )


@dataclass(frozen=True)
class Line:
    """A row as the template draws it: the row, its Summary column and its links."""

    row: Row
    summary: Column
    project_page: str
    cloud_pages: Mapping[str, str]


LEGEND: Final = ("success", "failed", "timed_out", "infra_failed", "cancelled", "running", "n/a")
"""The statuses the legend explains, in its order."""
