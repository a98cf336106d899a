"""The dashboard ``/``: the grid of the original cncf.ci, one section per ``cncf_relation``.

Rows are projects at a release (stable, head); the cloud columns show one pipeline stage (``?stage=``,
the deploy by default, provisioning for Kubernetes itself; the build view has the build column only);
``?kubernetes=`` and ``?arch=`` choose the test environment. The Summary column aggregates every cell of the
row (``cell_rules.summary``). Everything comes from the snapshot's cached ``Grid`` (one per view), so a page
view does no git and no SQLite work.

What a row and each of its cells show, say on hover and link is ``dashboard_rows``. Cloud columns are headed
by the cloud's short name (``presentation.cloud_heading``), the full name on hover, so 8 clouds fit 1280 px."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from crosscloud import presentation
from crosscloud.cell_rules import VIEW_STAGES, Grid
from crosscloud.vocabulary import ARCHES, RELEASES
from crosscloud_app.pages.dashboard_rows import Rows
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import Snapshot, get_state

bp = Blueprint("dashboard", __name__)


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
    rows: Rows | None = current_app.extensions.get(ROWS)
    if rows is None or rows.snapshot is not snapshot or rows.now != now:
        rows = current_app.extensions[ROWS] = Rows(snapshot, now)
    return render_template(
        "dashboard.html",
        snapshot=snapshot,
        grid=grid,
        rows=rows,
        choice=choice,
        stages=VIEW_STAGES,
        releases=RELEASES,
        arches=(None, *ARCHES),
        now=now,
        looks=[presentation.LOOKS[s] for s in LEGEND],
    )


ROWS = "crosscloud_dashboard_rows"
"""``app.extensions`` key of the ``Rows`` of the last snapshot and instant a page was rendered at (the views
rendered at that instant share them: ``crosscloud publish`` renders every view at its commit's time)."""

LEGEND: Final = ("success", "failed", "timed_out", "infra_failed", "cancelled", "running", "n/a")
"""The statuses the legend explains, in its order."""
