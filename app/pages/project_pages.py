"""Per-project pages: ``/projects/<project>`` (every cell's recent history as a strip of squares, since when
each cell has been failing and whose fault that is, its flakiness and trend, and per cloud the last success:
the rollback target) and ``/projects/<project>/<release>/<cloud>`` (every stage of one cloud with times,
pinned artifacts, links and the same insight).

The strips read history from the index (``StatusState.query``); everything the history means (failing since,
last success, flakiness, failure kind) comes from ``crosscloud.insight`` through ``Snapshot.insight``, the one
place for those rules. Only the dashboard must avoid SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from crosscloud.cell_rules import CellView, environment
from crosscloud.config import Cloud, Project
from crosscloud.errors import CrossCloudError
from crosscloud.insight import CellInsight, RunRef
from crosscloud.records import CellKey
from crosscloud.result_history import cell_results
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud.vocabulary import ARCHES, RELEASES, STAGES
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.status_state import Snapshot, get_state

bp = Blueprint("projects", __name__)

STRIP = 30
"""How many recent results a history strip shows."""


@dataclass(frozen=True)
class Story:
    """One cell: what it shows now, its recent results (newest first) and what its history means."""

    key: CellKey
    label: str
    now: CellView
    history: Sequence[Entry]
    insight: CellInsight | None
    """None when the cell has no result at all."""

    @property
    def strip(self) -> list[Entry]:
        """Oldest first, as a timeline reads."""
        return list(reversed(self.history))

    @property
    def failing_since(self) -> RunRef | None:
        """The first failure after the last success, while the cell keeps failing."""
        return self.insight.failing_since if self.insight else None

    @property
    def last_success(self) -> RunRef | None:
        return self.insight.last_success if self.insight else None


def story(index: StatusIndex, snapshot: Snapshot, key: CellKey, label: str) -> Story:
    """A cell's story: its results, not its steps (``crosscloud.result_history``)."""
    history = cell_results(index, key, STRIP)
    return Story(key, label, snapshot.cell(key), history, snapshot.insight.get(key))


def choose(name: str, allowed: Sequence[str], default: str) -> str:
    value = request.args.get(name) or default
    if value not in allowed:
        raise HttpError(400, f"bad {name} {value[:40]!r}: use one of {', '.join(allowed)}")
    return value


def known_project(snapshot: Snapshot, name: str) -> Project:
    project = snapshot.config.projects.get(name)
    if project is None:
        raise HttpError(404, f"no project {name!r} in the configuration")
    return project


@dataclass(frozen=True)
class Snippet:
    """A badge people paste into a README, in the three markups READMEs use."""

    title: str
    badge: str
    page: str
    preview: str
    """The badge's path on this site, for the page's own ``<img>`` (no absolute URL of this host in a page)."""

    @property
    def markdown(self) -> str:
        return f"[![{self.title}]({self.badge})]({self.page})"

    @property
    def html(self) -> str:
        return f'<a href="{self.page}"><img src="{self.badge}" alt="{self.title}"></a>'

    @property
    def rst(self) -> str:
        return f".. image:: {self.badge}\n   :target: {self.page}\n   :alt: {self.title}"


def badge_snippets(project: Project, clouds: Sequence[Cloud]) -> list[Snippet]:
    """The project's badge, each release's, and the stable release's on the first active cloud (as an example
    of a cloud's badge), with absolute links (``url_for`` with ``_external``)."""
    page = url_for("projects.project_page", project=project.name, _external=True)

    def snippet(title: str, endpoint: str, there: str, **values: Any) -> Snippet:
        badge = url_for(endpoint, **values, _external=True)
        return Snippet(title, badge, there, url_for(endpoint, **values))

    out = [snippet("cross-cloud", "badges.project_badge", page, name=f"{project.name}.svg")]
    for release in project.releases:
        name = f"{release}.svg"
        there = f"{page}#release-{release}"
        out.append(snippet(f"cross-cloud {release}", "badges.release_badge", there, project=project.name, name=name))
    if clouds:
        release, cloud = project.releases[0], clouds[0]
        there = url_for("projects.cell_page", project=project.name, release=release, cloud=cloud.name, _external=True)
        values = {"project": project.name, "release": release, "name": f"{cloud.name}.svg"}
        out.append(snippet(f"{cloud.name} {release}", "badges.cloud_badge", there, **values))
    return out


@bp.get("/projects")
def project_list() -> ResponseReturnValue:
    """Every project of the configuration, by section, with its releases and badges' page; inactive ones too
    (marked), so a link to one still leads somewhere."""
    snapshot = get_state().snapshot()
    config = snapshot.config
    listed = {p.name for _, projects in config.sections() for p in projects}
    inactive = [p for p in config.projects.values() if p.name not in listed]
    return render_template("projects.html", snapshot=snapshot, sections=config.sections(), inactive=inactive)


@bp.get("/projects/<project>")
def project_page(project: str) -> ResponseReturnValue:
    state = get_state()
    snapshot = state.snapshot()
    proj = known_project(snapshot, project)
    kubernetes = choose("kubernetes", RELEASES, "stable")
    arch = choose("arch", proj.arch, proj.arch[0])
    clouds = snapshot.config.active_clouds()
    releases: list[dict[str, Any]] = []
    with state.query() as index:
        for release in proj.releases:
            build_key = CellKey(proj.name, release, arch, "build")
            per_cloud = []
            for cloud in clouds:
                env = environment(cloud, kubernetes)
                stories = [
                    story(index, snapshot, CellKey(proj.name, release, arch, s, cloud.name, env), s) for s in STAGES[1:]
                ]
                final = snapshot.insight.get(CellKey(proj.name, release, arch, proj.cloud_stage(), cloud.name, env))
                per_cloud.append(
                    {"cloud": cloud, "stories": stories, "last_green": final.last_success if final else None}
                )
            releases.append(
                {"release": release, "build": story(index, snapshot, build_key, "build"), "clouds": per_cloud}
            )
    return render_template(
        "project.html",
        snapshot=snapshot,
        project=proj,
        releases=releases,
        kubernetes=kubernetes,
        arch=arch,
        all_releases=RELEASES,
        arches=ARCHES,
        snippets=badge_snippets(proj, clouds),
    )


@bp.get("/projects/<project>/<release>/<cloud>")
def cell_page(project: str, release: str, cloud: str) -> ResponseReturnValue:
    state = get_state()
    snapshot = state.snapshot()
    proj = known_project(snapshot, project)
    if release not in proj.releases:
        raise HttpError(404, f"{project} has no release {release!r} (it has {', '.join(proj.releases)})")
    target: Cloud | None = snapshot.config.clouds.get(cloud)
    if target is None:
        raise HttpError(404, f"no cloud {cloud!r} in the configuration")
    kubernetes = choose("kubernetes", RELEASES, "stable")
    arch = choose("arch", proj.arch, proj.arch[0])
    env = environment(target, kubernetes)
    stages = []
    with state.query() as index:
        for stage in STAGES:
            key = (
                CellKey(proj.name, release, arch, stage)
                if stage == "build"
                else CellKey(proj.name, release, arch, stage, cloud, env)
            )
            told = story(index, snapshot, key, stage)
            record, problem = None, None
            entry = told.now.entry
            if entry is not None and entry.error is None:
                try:
                    record = index.record(entry).data
                except CrossCloudError as exc:
                    problem = str(exc)
            stages.append({"story": told, "record": record, "problem": problem})
    # Every stage carries the artifacts its build pinned: shown once, from the latest stage that has them.
    pinned = next(
        ((item["story"].key.stage, item["record"]["artifacts"]) for item in reversed(stages)
         if item["record"] and item["record"].get("artifacts")),
        (None, None),
    )  # fmt: skip
    return render_template(
        "cell.html",
        snapshot=snapshot,
        project=proj,
        release=release,
        cloud=target,
        environment=env,
        kubernetes=kubernetes,
        arch=arch,
        stages=stages,
        artifacts_stage=pinned[0],
        artifacts=pinned[1],
    )
