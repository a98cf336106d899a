"""The dashboard ``/``: the grid of the original cncf.ci, one section per ``cncf_relation``.

Rows are projects at a release (stable, head); the cloud columns show one pipeline stage (``?stage=``,
the deploy by default, provisioning for Kubernetes itself); ``?kubernetes=`` and ``?arch=`` choose the
test environment. Everything comes from the snapshot's cached ``Grid`` (and a per-snapshot cache of the
other stages' cells), so a page view does no git and no SQLite work.

A failing cell says whose fault it is (``crosscloud.insight``): an infrastructure failure carries the class
``failure-infrastructure``, the word "infra" and ``data-failure-kind``, so it looks different from a project
failure without relying on colour; its title says since when it fails and the last green release."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from crosscloud import presentation
from crosscloud.cell_rules import CellView, Grid, Row, environment
from crosscloud.failure_kind import FAILURES, INFRASTRUCTURE, UNKNOWN, classify_failure
from crosscloud.insight import CellInsight
from crosscloud.records import CellKey
from crosscloud.vocabulary import ARCHES, RELEASES
from crosscloud_app.pages.template_helpers import FAILURE_KIND_TITLE, failure_kind_text
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import Snapshot, get_state

bp = Blueprint("dashboard", __name__)

VIEW_STAGES = ("build", "provision", "deploy")
"""What the cloud columns can show (``?stage=``)."""
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
    """One status column of a row: the cells it shows (one, or several aggregated for Test)."""

    cell: CellView
    status: str
    stage: str
    cloud: str | None
    url: str | None
    stale: bool
    note: str | None
    failure_kind: str | None = None
    """Whose fault the failure shown is (None unless the cell shows a stored failure)."""
    insight: CellInsight | None = None
    """The cell's insight while it shows a stored failure."""


Insights = Mapping[CellKey, CellInsight]


def column(cell: CellView, insights: Insights | None = None) -> Column:
    kind, found = _failure(cell, insights)
    return Column(cell, cell.status, cell.key.stage, cell.key.cloud, cell.url, cell.stale, cell.note, kind, found)


def _failure(cell: CellView, insights: Insights | None) -> tuple[str | None, CellInsight | None]:
    """(failure kind, insight) of a cell that shows its stored failure; (None, None) for anything else (a
    cascaded ``n/a``, a running or green cell)."""
    entry = cell.entry
    if entry is None or cell.status not in FAILURES or entry.status != cell.status:
        return None, None
    found = insights.get(cell.key) if insights is not None else None
    if found is not None and found.failure_kind is not None:
        return found.failure_kind, found
    return classify_failure(cell.status, cell.key.stage, entry.reason), found


def test_column(row: Row, insights: Insights | None = None) -> Column:
    """The Test column: the e2e cells aggregated, linked to the job of the cell that decided it."""
    decider = next((c for c in row.e2e if c.status == row.test), None)
    key = CellKey(row.project.name, row.release, row.arch, "e2e")
    cell = decider or CellView(key, row.test, None)
    stale = any(c.stale for c in row.e2e if c.status == row.test)
    note = decider.note if decider else "no e2e result yet"
    kind, found = _failure(cell, insights)
    return Column(cell, row.test, "e2e", None, decider.url if decider else None, stale, note, kind, found)


def failing_title(col: Column) -> str | None:
    """The title of a cell: its note and, while it fails, since when and the last green release."""
    found = col.insight
    if found is None or not found.consecutive_failures or found.failing_since is None:
        return col.note
    since = found.failing_since
    runs = "1 run" if found.consecutive_failures == 1 else f"{found.consecutive_failures} runs in a row"
    parts = [col.note] if col.note else []
    parts.append(f"failing since {since.time} ({runs}, {failure_kind_text(col.failure_kind or UNKNOWN)})")
    last = found.last_success
    parts.append(f"last green {last.label()} at {last.time}" if last else "never green")
    return "; ".join(parts)


def cloud_cells(snapshot: Snapshot, grid: Grid, choice: Choice) -> list[list[CellView]]:
    """The cloud cells of every row (flattened over sections) for the chosen stage: the grid's own for the
    deploy view (provisioning for ``app_layer: false`` projects), computed from the snapshot otherwise."""
    rows = [row for _, rows in grid.sections for row in rows]
    if choice.stage == "deploy":
        return [list(row.clouds) for row in rows]
    return [
        [
            snapshot.cell(
                CellKey(row.project.name, row.release, row.arch, choice.stage, c.name, environment(c, grid.kubernetes))
            )
            for c in grid.clouds
        ]
        for row in rows
    ]


_STALE_MARK = Markup(' <span class="stale-mark">stale</span>')
_INFRA_MARK = Markup(' <span class="kind-mark">infra</span>')


def status_cell(col: Column, row: Row, cloud_name: str = "") -> Markup:
    """One status cell: the badge (linked to the job that produced it), its accessible name, and the
    ``data-*`` attributes scripts and tests read. Built here rather than in a Jinja macro because the
    dashboard has thousands of them (130 projects x 20 clouds) and a macro call (or ``Markup.format``)
    costs several times more. Every value goes through ``escape``."""
    where = f" on {cloud_name}" if cloud_name else ""
    label = escape(f"{row.project.display_name} {row.release} {col.stage}{where}: {presentation.word(col.status)}")
    label += " (stale)" if col.stale else ""
    kind = col.failure_kind
    if kind is not None:
        label += escape(f" ({FAILURE_KIND_TITLE.get(kind, kind)})")
    note = failing_title(col)
    title = f' title="{escape(note)}"' if note else ""
    text = escape(presentation.word(col.status))
    if kind == INFRASTRUCTURE and col.status != "infra_failed":  # "infra failed" says so already
        text += _INFRA_MARK
    text += _STALE_MARK if col.stale else ""
    if col.url:
        badge = f'<a class="badge" href="{escape(col.url)}" aria-label="{label}"{title}>{text}</a>'
    else:
        badge = f'<span class="badge" role="img" aria-label="{label}"{title}>{text}</span>'
    cls = presentation.css_class(col.status) + (" stale" if col.stale else "")
    kind_attribute = ""
    if kind is not None:
        cls += f" failure-{kind}"
        kind_attribute = f' data-failure-kind="{escape(kind)}"'
    cloud = escape(col.cloud or "")
    return Markup(  # noqa: S704 - every interpolated value above is escaped
        f'<td class="{cls}" data-project="{escape(row.project.name)}" data-release="{escape(row.release)}"'
        f' data-stage="{escape(col.stage)}" data-cloud="{cloud}" data-status="{escape(col.status)}"{kind_attribute}>'
        f"{badge}</td>"
    )


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
    grid = snapshot.grid(kubernetes=choice.kubernetes, arch=choice.arch)
    pages: dict[Choice, tuple[Snapshot, Grid, str]] = current_app.extensions.setdefault(PAGES, {})
    cached = pages.get(choice)
    if cached is not None and cached[0] is snapshot and cached[1] is grid:
        return cached[2]
    html = render_page(snapshot, grid, choice)
    pages[choice] = (snapshot, grid, html)
    return html


def render_page(snapshot: Snapshot, grid: Grid, choice: Choice) -> str:
    cells = cloud_cells(snapshot, grid, choice) if choice.stage != "build" else None
    sections: list[tuple[str | None, list[tuple[Row, list[CellView] | None, Column]]]] = []
    position = 0
    for relation, rows in grid.sections:
        lines = []
        for row in rows:
            lines.append((row, cells[position] if cells is not None else None, test_column(row, snapshot.insight)))
            position += 1
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
        now=snapshot.now(),
    )
