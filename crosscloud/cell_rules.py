"""What a cell shows, from what is stored: the one place for the rules the original learned the hard way.

- **Cascade.** A cell runs after the stages before it (build, then provision, deploy, e2e on its cloud).
  When an earlier stage has a newer result than the cell, the cell belongs to an older pipeline. If that
  newer earlier stage failed (or was cancelled), the cell will not run in the newer pipeline: it reads
  ``n/a`` ("build failed"), the original's "build or provisioning failed: deploy badges read N/A". If the
  newer earlier stage passed or is running, the cell keeps its last result, marked **stale** with how old it
  is ("not run since the newer build"): a four-day-old success is not the same as a cell that never ran.
- **N/A** means exactly two things: nothing ran (no result yet), or an earlier stage of a newer pipeline
  failed.
- **Test environment.** ``app_layer: false`` projects (Kubernetes) are the environment: their cloud
  cells are provisioning results; every other project's cloud cells are its deploys.
- **Staleness.** A result older than ``settings.stale_after_hours`` looks stale; a ``running`` result
  older than the project's timeout (plus a grace period) is stuck and looks stale too.
- **Aggregation** (a badge made of several cells), as the original: the first failure wins, ``running``
  beats ``success``, and nothing at all is ``n/a``.
- **The summary** of a dashboard row aggregates every cell of the row (the build, then per cloud the deploy,
  or provisioning for Kubernetes, and the e2e): it never says success while any cell of the row failed or
  runs, and says success only when something passed. With ``settings.ignore_infra_failures`` a cell that
  failed because of the infrastructure (``crosscloud.failure_kind``) counts as ``n/a``: a cloud's lack of
  quota says nothing about the project."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from crosscloud.clock import age
from crosscloud.config import Cloud, Config, Project
from crosscloud.failure_kind import INFRASTRUCTURE, classify_failure
from crosscloud.presentation import ERROR as ERROR  # re-exported: cell views show it
from crosscloud.presentation import word
from crosscloud.records import CellKey, parse_time
from crosscloud.status_repo.reader import Entry
from crosscloud.vocabulary import CLOUD_STAGES, FINAL_FAILURES, NO_KUBERNETES, STAGES

RUNNING_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class CellView:
    key: CellKey
    status: str
    """What the cell shows: a record status, or ``error``."""
    entry: Entry | None
    """The stored result behind it, if any (also when the cascade hides it)."""
    stale: bool = False
    note: str | None = None
    """Why the cell shows what it shows, when that is not simply the stored status."""

    @property
    def url(self) -> str | None:
        return self.entry.url if self.entry and self.status == self.entry.status else None


def environment(cloud: Cloud, kubernetes_release: str) -> str:
    """The test-environment segment of ``cloud``'s cells for a Kubernetes release (``host`` without one)."""
    return kubernetes_release if cloud.kubernetes else NO_KUBERNETES


def upstream(key: CellKey) -> list[CellKey]:
    """The cells that must succeed before ``key`` runs, in pipeline order."""
    if key.stage == "build":
        return []
    build = CellKey(key.project, key.release, key.arch, "build")
    before = STAGES[1 : STAGES.index(key.stage)]
    return [build] + [CellKey(key.project, key.release, key.arch, s, key.cloud, key.environment) for s in before]


def is_stale(entry: Entry, now: datetime, stale_after: timedelta, timeout: timedelta) -> str | None:
    """Why ``entry`` is stale at ``now``, or None."""
    if entry.started_at is None:
        return None
    started = parse_time(entry.started_at)
    if entry.status == "running":
        if now - started > timeout + RUNNING_GRACE:
            return (
                f"running since {age(entry.started_at, now)}, longer than the {int(timeout.total_seconds())} s timeout"
            )
        return None
    last = parse_time(entry.finished_at) if entry.finished_at else started
    if now - last > stale_after:
        hours = stale_after.total_seconds() / 3600
        return f"last result {age(entry.finished_at or entry.started_at, now)}, older than {hours:g} h"
    return None


def view(
    key: CellKey,
    entries: Mapping[CellKey, Entry],
    *,
    now: datetime,
    stale_after: timedelta,
    timeout: timedelta,
    before: Sequence[CellKey] | None = None,
) -> CellView:
    """What the cell ``key`` shows, given the stored ``entries`` (see the module doc). ``before``: its
    ``upstream`` cells, when the caller has them already (a grid makes each row's keys once)."""
    entry = entries.get(key)
    if entry is not None and (entry.error or entry.status is None):
        # A broken file has no time to weigh against its upstream: it shows as broken, whatever came before.
        return CellView(key, ERROR, entry, note=entry.error)
    failed: list[str] = []  # why the cell will not run in a newer pipeline
    newer: list[str] = []  # why its result belongs to an older pipeline
    for earlier in upstream(key) if before is None else before:
        held = entries.get(earlier)
        if held is None or held.status is None or held.started_at is None:
            continue
        if entry is None or entry.started_at is None or held.started_at > entry.started_at:
            if held.status in FINAL_FAILURES:
                failed.append(f"{earlier.stage} {word(held.status)}")
            elif held.status == "running":
                newer.append(f"{earlier.stage} is running again")
            else:
                newer.append(f"not run since the newer {earlier.stage}")
    if failed:
        return CellView(key, "n/a", entry, note=failed[0])
    if entry is None or entry.status is None:  # (a None status was answered as an error above)
        running = next((why.removesuffix(" again") for why in newer if why.endswith("is running again")), None)
        return CellView(key, "n/a", entry, note=running or "no result yet")
    if newer:
        when = age(entry.finished_at or entry.started_at, now)
        return CellView(key, entry.status, entry, stale=True, note=f"{newer[0]}; this result is from {when}")
    stale = is_stale(entry, now, stale_after, timeout)
    return CellView(key, entry.status, entry, stale=stale is not None, note=stale)


def settled(cell: CellView, last_finished: str | None) -> CellView:
    """What a badge shows for ``cell``: its last finished result while it runs again (a badge is pasted into a
    README and read at any moment: it must not read ``running`` for the length of every run). ``last_finished``
    is the status of the cell's newest final result (``CellInsight.last_finished``); a cell that never
    finished stays ``running``."""
    if cell.status != "running" or last_finished is None or cell.stale:
        return cell
    return CellView(cell.key, last_finished, cell.entry, stale=False, note=f"running again; last {word(last_finished)}")


def aggregate(statuses: Iterable[str]) -> str:
    """One badge of several cells: the first failure wins, running beats success, none at all is n/a."""
    result = "n/a"
    for status in statuses:
        if status in FINAL_FAILURES or status == ERROR:
            return status
        if status == "running":
            result = "running"
        elif status == "success" and result == "n/a":
            result = "success"
    return result


def summary(cells: Iterable[CellView]) -> str:
    """What a dashboard row's Summary column says: ``aggregate`` of every cell of the row, so it is never
    ``success`` while a build, a deploy (provisioning) or an e2e of the row failed or runs. A cell whose
    result is kept from an older pipeline counts with its own status (it is marked stale, not hidden)."""
    return aggregate(cell.status for cell in cells)


def aggregate_ignoring_infra(views: Iterable[CellView], ignore_infra: bool = True) -> str:
    """``aggregate`` of ``views``, where a cell that failed because of the infrastructure counts as ``n/a``
    (no evidence about the project) when ``ignore_infra`` (``settings.ignore_infra_failures``)."""
    statuses = []
    for cell in views:
        status = cell.status
        entry = cell.entry
        if (
            ignore_infra
            and entry is not None
            and status == entry.status
            and classify_failure(status, cell.key.stage, entry.reason) == INFRASTRUCTURE
        ):
            status = "n/a"
        statuses.append(status)
    return aggregate(statuses)


VIEW_STAGES: Final = ("build", "provision", "deploy")
"""What a grid's cloud columns can show (the dashboard's three views, ``crosscloud status --stage``): ``deploy``
(provisioning for ``app_layer: false`` projects, whose deploy is their provisioning), ``provision``, or
``build``, which has no cloud columns (a build does not depend on the cloud)."""


@dataclass(frozen=True)
class Row:
    """One line of the dashboard: a project at one release."""

    project: Project
    release: str
    arch: str
    build: CellView
    clouds: Sequence[CellView]
    """One per cloud column, in order: the chosen stage (the deploy, provisioning for Kubernetes, by default);
    empty in the build view."""
    e2e: Sequence[CellView]
    summary: str
    """The Summary column: every cell of the row aggregated (see ``summary`` and the module doc)."""
    summary_cells: Sequence[CellView]
    """The cells the summary aggregates: the build, then per cloud provision, deploy and e2e."""
    ref: str | None
    sha: str | None

    @property
    def release_label(self) -> str:
        """The stable ref, or the short head sha, as the original showed them."""
        if self.release == "head" and self.sha:
            return self.sha[:7]
        return self.ref or self.project.ref(self.release) or self.release

    @property
    def summary_cell(self) -> CellView | None:
        """The cell that decided the summary (the first failure, the first running cell, the first success)."""
        return next((c for c in self.summary_cells if c.status == self.summary), None)


@dataclass(frozen=True)
class Grid:
    config: Config
    arch: str | None
    kubernetes: str
    sections: Sequence[tuple[str | None, Sequence[Row]]]
    clouds: Sequence[Cloud]
    stage: str = "deploy"
    """What the cloud columns show (one of ``VIEW_STAGES``)."""


def build_grid(
    config: Config,
    entries: Mapping[CellKey, Entry],
    *,
    now: datetime,
    kubernetes: str = "stable",
    arch: str | None = None,
    stage: str = "deploy",
    views: dict[tuple[str, str, str, str], RowViews] | None = None,
) -> Grid:
    """The dashboard for one test environment (Kubernetes release, arch; each project's first arch when
    ``arch`` is None), its cloud columns showing ``stage`` (one of ``VIEW_STAGES``). ``views``: what the rows'
    cells show at this ``now`` over these ``entries``, by (project, release, arch, Kubernetes release), kept by
    the caller across grids (the views by stage and by arch show the same rows again); filled in here."""
    if stage not in VIEW_STAGES:
        raise ValueError(f"no grid of stage {stage!r}: use one of {', '.join(VIEW_STAGES)}")
    clouds = config.active_clouds()
    sections = []
    for relation, projects in config.sections():
        rows = []
        for project in projects:
            row_arch = arch or project.arch[0]
            for release in project.releases:
                rows.append(_row(config, project, release, row_arch, clouds, kubernetes, stage, entries, now,
                                 {} if views is None else views))  # fmt: skip
        sections.append((relation, rows))
    return Grid(config, arch, kubernetes, sections, clouds, stage)


RowViews = tuple[CellView, tuple[Mapping[str, CellView], ...], list[CellView], str]
"""A row's cells, whatever stage its view shows: the build, each cloud's stages, all of them, their summary."""


def _row_views(
    config: Config,
    project: Project,
    release: str,
    arch: str,
    clouds: Sequence[Cloud],
    kubernetes: str,
    entries: Mapping[CellKey, Entry],
    now: datetime,
) -> RowViews:
    timeout = timedelta(seconds=project.timeout)

    def cell(key: CellKey, before: list[CellKey]) -> CellView:
        return view(key, entries, now=now, stale_after=config.stale_after, timeout=timeout, before=before)

    build_key = CellKey(project.name, release, arch, "build")
    build = cell(build_key, [])
    per_cloud = []
    every = [build]
    for cloud in clouds:
        env = environment(cloud, kubernetes)
        before = [build_key]  # each stage's upstream: the build, then the cloud's earlier stages (``upstream``)
        per_stage = {}
        for stage in CLOUD_STAGES:
            key = CellKey(project.name, release, arch, stage, cloud.name, env)
            per_stage[stage] = cell(key, before)
            before = [*before, key]
        every += per_stage.values()
        per_cloud.append(per_stage)
    return build, tuple(per_cloud), every, summary(every)


def _row(
    config: Config,
    project: Project,
    release: str,
    arch: str,
    clouds: Sequence[Cloud],
    kubernetes: str,
    stage: str,
    entries: Mapping[CellKey, Entry],
    now: datetime,
    views: dict[tuple[str, str, str, str], RowViews],
) -> Row:
    known = views.get((project.name, release, arch, kubernetes))
    if known is None:
        known = views[(project.name, release, arch, kubernetes)] = _row_views(
            config, project, release, arch, clouds, kubernetes, entries, now
        )
    build, per_cloud, every, summarised = known
    shown = project.cloud_stage() if stage == "deploy" else stage
    cloud_cells = [] if stage == "build" else [per_stage[shown] for per_stage in per_cloud]
    built = build.entry
    return Row(
        project=project,
        release=release,
        arch=arch,
        build=build,
        clouds=cloud_cells,
        e2e=[per_stage["e2e"] for per_stage in per_cloud],
        summary=summarised,
        summary_cells=every,
        ref=built.ref if built else None,
        sha=built.sha if built else None,
    )
