"""What a cell shows, from what is stored: the one place for the rules the original learned the hard way.

- **Cascade.** A cell runs after the stages before it (build, then provision, deploy, e2e on its cloud).
  When an earlier stage has a newer result than the cell, the cell belongs to an older pipeline: it reads
  ``n/a`` (with the reason: the earlier stage failed, or is running again) rather than its old result.
  That is both of the original's rules: "build or provisioning failed: deploy badges read N/A" and
  "a new build resets the deploy badges to N/A until they report".
- **Test environment.** ``app_layer: false`` projects (Kubernetes) are the environment: their cloud
  cells are provisioning results; every other project's cloud cells are its deploys.
- **Staleness.** A result older than ``settings.stale_after_hours`` looks stale; a ``running`` result
  older than the project's timeout (plus a grace period) is stuck and looks stale too.
- **Aggregation** (a badge made of several cells), as the original: the first failure wins, ``running``
  beats ``success``, and nothing at all is ``n/a``. With ``settings.ignore_infra_failures`` a cell that
  failed because of the infrastructure (``crosscloud.failure_kind``) counts as ``n/a``: a cloud's lack of
  quota says nothing about the project."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crosscloud.config import Cloud, Config, Project
from crosscloud.failure_kind import INFRASTRUCTURE, classify_failure
from crosscloud.presentation import ERROR as ERROR  # re-exported: cell views show it
from crosscloud.records import CellKey, parse_time
from crosscloud.status_repo.reader import Entry
from crosscloud.vocabulary import FINAL_FAILURES, NO_KUBERNETES, STAGES

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
            return f"running since {entry.started_at}, longer than the {int(timeout.total_seconds())} s timeout"
        return None
    last = parse_time(entry.finished_at) if entry.finished_at else started
    if now - last > stale_after:
        return (
            f"last result {entry.finished_at or entry.started_at}, older than {stale_after.total_seconds() / 3600:g} h"
        )
    return None


def view(
    key: CellKey,
    entries: Mapping[CellKey, Entry],
    *,
    now: datetime,
    stale_after: timedelta,
    timeout: timedelta,
) -> CellView:
    """What the cell ``key`` shows, given the stored ``entries`` (see the module doc)."""
    entry = entries.get(key)
    if entry is not None and (entry.error or entry.status is None):
        # A broken file has no time to weigh against its upstream: it shows as broken, whatever came before.
        return CellView(key, ERROR, entry, note=entry.error)
    reasons: list[tuple[int, str]] = []  # (priority, note): a failure says most, then running, then waiting
    for earlier in upstream(key):
        held = entries.get(earlier)
        if held is None or held.status is None or held.started_at is None:
            continue
        if entry is None or entry.started_at is None or held.started_at > entry.started_at:
            if held.status in FINAL_FAILURES:
                reasons.append((0, f"{earlier.stage} {held.status}"))
            elif held.status == "running":
                reasons.append((1, f"{earlier.stage} is running"))
            elif entry is not None:
                reasons.append((2, f"waiting for {key.stage} after a newer {earlier.stage}"))
    if reasons:
        return CellView(key, "n/a", entry, note=min(reasons, key=lambda r: r[0])[1])
    if entry is None or entry.status is None:  # (a None status was answered as an error above)
        return CellView(key, "n/a", entry, note="no result yet")
    stale = is_stale(entry, now, stale_after, timeout)
    return CellView(key, entry.status, entry, stale=stale is not None, note=stale)


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


@dataclass(frozen=True)
class Row:
    """One line of the dashboard: a project at one release."""

    project: Project
    release: str
    arch: str
    build: CellView
    clouds: Sequence[CellView]
    """One per active cloud, in order: the deploy (provisioning for Kubernetes)."""
    e2e: Sequence[CellView]
    test: str
    """The Test column: the e2e cells aggregated."""
    ref: str | None
    sha: str | None

    @property
    def release_label(self) -> str:
        """The stable ref, or the short head sha, as the original showed them."""
        if self.release == "head" and self.sha:
            return self.sha[:7]
        return self.ref or self.project.ref(self.release) or self.release


@dataclass(frozen=True)
class Grid:
    config: Config
    arch: str | None
    kubernetes: str
    sections: Sequence[tuple[str | None, Sequence[Row]]]
    clouds: Sequence[Cloud]


def build_grid(
    config: Config,
    entries: Mapping[CellKey, Entry],
    *,
    now: datetime,
    kubernetes: str = "stable",
    arch: str | None = None,
) -> Grid:
    """The dashboard for one test environment (Kubernetes release, arch; each project's first arch when
    ``arch`` is None)."""
    clouds = config.active_clouds()
    sections = []
    for relation, projects in config.sections():
        rows = []
        for project in projects:
            row_arch = arch or project.arch[0]
            for release in project.releases:
                rows.append(_row(config, project, release, row_arch, clouds, kubernetes, entries, now))
        sections.append((relation, rows))
    return Grid(config, arch, kubernetes, sections, clouds)


def _row(
    config: Config,
    project: Project,
    release: str,
    arch: str,
    clouds: Sequence[Cloud],
    kubernetes: str,
    entries: Mapping[CellKey, Entry],
    now: datetime,
) -> Row:
    timeout = timedelta(seconds=project.timeout)

    def cell(key: CellKey) -> CellView:
        return view(key, entries, now=now, stale_after=config.stale_after, timeout=timeout)

    build = cell(CellKey(project.name, release, arch, "build"))
    stage = project.cloud_stage()
    cloud_cells, e2e_cells = [], []
    for cloud in clouds:
        env = environment(cloud, kubernetes)
        cloud_cells.append(cell(CellKey(project.name, release, arch, stage, cloud.name, env)))
        e2e_cells.append(cell(CellKey(project.name, release, arch, "e2e", cloud.name, env)))
    built = build.entry
    return Row(
        project=project,
        release=release,
        arch=arch,
        build=build,
        clouds=cloud_cells,
        e2e=e2e_cells,
        test=aggregate(c.status for c in e2e_cells),
        ref=built.ref if built else None,
        sha=built.sha if built else None,
    )
