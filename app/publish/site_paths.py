"""The paths that make the published site, and which of them a set of changed cells can change.

The site is every answer of the app that takes no query and is a function of one status repository commit:

- the dashboard (``/``) and every view of it (``/views/<stage>/<kubernetes>/<arch>/``: each stage and test
  environment); each project's page and each deployment page (``/projects/<project>/<release>/<cloud>``);
- every badge of a project, a release and a cloud, as ``.svg`` and as shields endpoint ``.json``;
- the API answers that take no query: projects (and each project), clouds, cells, insight, history and each
  cell's history (its first page), the OpenAPI document and the API's index page; the list of projects; the
  Atom feed; every static file.

Project and deployment pages are published in their default test environment (the project's first
architecture, Kubernetes stable), as the dashboard links them; the dashboard itself is published in every one.

Paths are grouped by what they show: ``GLOBAL`` ones (the dashboard views, the feed, the API's lists) change
with any new result; a project's, a release's or a deployment's paths only when a cell of theirs changes.
``affected`` is what an incremental publish renders again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from crosscloud.cell_rules import VIEW_STAGES
from crosscloud.config import Config
from crosscloud.records import CellKey
from crosscloud.vocabulary import ARCHES, CLOUD_STAGES, RELEASES
from crosscloud_app.api.components import PREFIX
from crosscloud_app.pages.dashboard import ANY_ARCH

STATIC_FILES = tuple(sorted(p.name for p in (Path(__file__).parent.parent / "static").iterdir() if p.is_file()))
"""Every file of the app's ``static/`` folder (what the pages link: the stylesheet, scripts, icon)."""
BADGE_FORMATS = (".svg", ".json")


def _q(name: str) -> str:
    return quote(name, safe="")


def global_paths() -> list[str]:
    """What any new result can change, and what depends on no project (see the module doc)."""
    paths = ["/"]
    paths += [
        f"/views/{stage}/{kubernetes}/{arch}/"
        for stage in VIEW_STAGES
        for kubernetes in RELEASES
        for arch in (ANY_ARCH, *ARCHES)
    ]
    paths += ["/projects", "/feed.xml", *(f"/static/{name}" for name in STATIC_FILES)]
    paths += [f"{PREFIX}/{name}" for name in ("projects", "clouds", "cells", "insight", "history", "openapi.json")]
    paths += [f"{PREFIX}/"]  # the API's index for people
    return paths


def view_environment(path: str) -> tuple[str, str] | None:
    """(Kubernetes release, arch or ``any``) of a dashboard view's path (``/`` is deploy, stable, any); None
    for any other path."""
    if path == "/":
        return "stable", ANY_ARCH
    parts = path.split("/")
    if len(parts) == 6 and parts[1] == "views" and parts[5] == "":
        return parts[3], parts[4]
    return None


@dataclass(frozen=True)
class Scope:
    """A part of the site a cell belongs to: a project, one of its releases, or one of its deployments."""

    project: str
    release: str | None = None
    cloud: str | None = None


def scope_paths(scope: Scope) -> list[str]:
    """The paths of exactly this scope (not those of the scopes inside it)."""
    p = _q(scope.project)
    if scope.release is None:
        return [f"/projects/{p}", f"{PREFIX}/projects/{p}", *(f"/badge/{p}{f}" for f in BADGE_FORMATS)]
    r = _q(scope.release)
    if scope.cloud is None:
        return [*(f"/badge/{p}/{r}{f}" for f in BADGE_FORMATS), f"{PREFIX}/history/{p}/{r}/build"]
    c = _q(scope.cloud)
    return [
        f"/projects/{p}/{r}/{c}",
        *(f"/badge/{p}/{r}/{c}{f}" for f in BADGE_FORMATS),
        *(f"{PREFIX}/history/{p}/{r}/{c}/{stage}" for stage in CLOUD_STAGES),
    ]


def scopes(config: Config) -> list[Scope]:
    """Every scope of the configuration: each project, its releases, and each release on each active cloud."""
    clouds = [c.name for c in config.active_clouds()]
    out = []
    for project in config.projects.values():
        out.append(Scope(project.name))
        for release in project.releases:
            out.append(Scope(project.name, release))
            out += [Scope(project.name, release, cloud) for cloud in clouds]
    return out


def site_paths(config: Config) -> list[str]:
    """Every path of the site, in a stable order."""
    paths = global_paths()
    for scope in scopes(config):
        paths += scope_paths(scope)
    return paths


def affected(config: Config, cells: Iterable[CellKey]) -> list[str]:
    """The paths whose answer a change of ``cells`` can change: the global ones, and the scopes of each cell
    (a build is shown on every deployment page of its release)."""
    clouds = [c.name for c in config.active_clouds()]
    chosen: set[Scope] = set()
    for key in cells:
        if key.project not in config.projects:
            continue
        chosen |= {Scope(key.project), Scope(key.project, key.release)}
        for cloud in [key.cloud] if key.cloud is not None else clouds:
            if cloud in clouds:
                chosen.add(Scope(key.project, key.release, cloud))
    paths = global_paths()
    for scope in scopes(config):  # in the site's order
        if scope in chosen:
            paths += scope_paths(scope)
    return paths
