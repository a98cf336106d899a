"""Which cells a night runs, and how they spread over runners: the one place for both.

``plan()`` chooses the jobs (``crosscloud run`` runs them, ``crosscloud plan`` prints them): active
projects x their releases x their architectures, each on every active cloud that offers the architecture,
once per Kubernetes release of the test cluster where the cloud has Kubernetes (once, on the host, where it
has not). A job is a build, or a cloud job: provision, deploy and e2e of one built release on one cloud in one
test environment.

``shard()`` splits a plan into at most ``max_jobs`` shards for a GitHub Actions matrix (256 jobs is GitHub's
limit for one matrix). The unit is a row, a build and its cloud jobs, because the cloud jobs deploy what the
build pinned on the same runner. A shard holds rows of one architecture only (it needs a runner of that
architecture), and the rows are packed by their worst-case time (the project's ``timeout`` for each of the
row's jobs), longest first, each into the shard of its architecture that is least loaded so far (greedy
longest-processing-time packing: the longest shard is at most the mean plus one row). Shards are numbered
1..N, architectures in the vocabulary's order.

A shard is described in a matrix by its number and its architecture only: every job recomputes the same plan
from the same configuration and filters (the plan file, ``Sharding.to_json``) and checks its digest, so
GitHub's limits on job outputs never bound how many cells a night has."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from crosscloud import layout
from crosscloud.config import Cloud, Config, Project
from crosscloud.errors import BadInputError, UnknownNameError
from crosscloud.records import CellKey
from crosscloud.vocabulary import ARCHES, CLOUD_STAGES, NO_KUBERNETES, RELEASES, host_arch

MAX_JOBS: Final = 256
"""GitHub Actions runs at most 256 jobs per matrix (per workflow run)."""
PLAN_FORMAT: Final = 1
"""Version of the plan file ``Sharding.to_json`` writes."""


@dataclass(frozen=True, eq=False)
class BuildJob:
    """One build; jobs are compared by identity (each is planned once)."""

    project: Project
    release: str
    arch: str

    @property
    def label(self) -> str:
        return f"{self.project.name} {self.release} build"

    def cells(self) -> list[CellKey]:
        return [CellKey(self.project.name, self.release, self.arch, "build")]


@dataclass(frozen=True, eq=False)
class CloudJob:
    build: BuildJob
    cloud: Cloud
    kubernetes: str = "stable"
    """The Kubernetes release of the test cluster (ignored on a cloud without Kubernetes)."""

    @property
    def environment(self) -> str:
        """The test environment of the job's cells: the Kubernetes release, or ``host``."""
        return self.kubernetes if self.cloud.kubernetes else NO_KUBERNETES

    @property
    def label(self) -> str:
        where = f" k8s-{self.kubernetes}" if self.cloud.kubernetes else ""
        return f"{self.build.project.name} {self.build.release} {self.cloud.name}{where}"

    def cells(self) -> list[CellKey]:
        b = self.build
        return [CellKey(b.project.name, b.release, b.arch, s, self.cloud.name, self.environment) for s in CLOUD_STAGES]


@dataclass
class Plan:
    builds: list[BuildJob] = field(default_factory=list)
    clouds: dict[BuildJob, list[CloudJob]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.builds) + sum(len(c) for c in self.clouds.values())

    def cells(self) -> list[CellKey]:
        """Every cell the plan records, in plan order."""
        cells: list[CellKey] = []
        for build in self.builds:
            cells += build.cells()
            for job in self.clouds[build]:
                cells += job.cells()
        return cells

    def only(self, builds: Sequence[BuildJob]) -> Plan:
        """The plan of these rows (builds of this plan) and their cloud jobs."""
        return Plan(list(builds), {b: self.clouds[b] for b in builds})


def _choose(kind: str, wanted: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    if not wanted:
        return list(available)
    for name in wanted:
        if name not in available:
            raise UnknownNameError(kind, name, list(available))
    return [name for name in available if name in wanted]


def plan(
    config: Config,
    *,
    projects: Sequence[str] | None = None,
    clouds: Sequence[str] | None = None,
    releases: Sequence[str] | None = None,
    arches: Sequence[str] | None = None,
    kubernetes: Sequence[str] | None = None,
    every_arch: bool = False,
) -> Plan:
    """The jobs to run: active projects x their releases x their architectures, each on every active cloud
    that offers the architecture, per Kubernetes release (``kubernetes``, default both) on a cloud with
    Kubernetes. Filters must name active projects and clouds; an unknown name fails before anything runs,
    listing the allowed ones. ``arches`` defaults to this machine's architecture (what runs here runs on this
    host's processor), or to every architecture with ``every_arch`` (a plan for runners of each). Kubernetes
    itself (``app_layer: false``) only runs on clouds with Kubernetes: on the host there is no cluster."""
    chosen_projects = _choose("project", projects, [p.name for p in config.active_projects()])
    chosen_clouds = _choose("cloud", clouds, [c.name for c in config.active_clouds()])
    chosen_releases = _choose("release", releases, list(RELEASES))
    chosen_k8s = _choose("kubernetes", kubernetes, list(RELEASES))
    here = None if every_arch else host_arch()
    chosen_arches = _choose("arch", arches or ([here] if here else None), list(ARCHES))
    result = Plan()
    for name in chosen_projects:
        project = config.projects[name]
        for release in project.releases:
            if release not in chosen_releases:
                continue
            for arch in project.arch:
                if arch not in chosen_arches:
                    continue
                build = BuildJob(project, release, arch)
                result.builds.append(build)
                result.clouds[build] = [
                    CloudJob(build, cloud, k8s)
                    for cloud in (config.clouds[c] for c in chosen_clouds)
                    if arch in cloud.arch and (project.app_layer or cloud.kubernetes)
                    for k8s in (chosen_k8s if cloud.kubernetes else chosen_k8s[:1])
                ]
    return result


# -- shards --------------------------------------------------------------------------------------------------
def row_seconds(plan_: Plan, build: BuildJob) -> int:
    """The worst-case time of a row: each of its jobs may take up to the project's ``timeout``."""
    return build.project.timeout * (1 + len(plan_.clouds[build]))


@dataclass
class Shard:
    number: int
    """1..count."""
    arch: str
    of: int = 0
    """How many shards the plan has."""
    builds: list[BuildJob] = field(default_factory=list)
    seconds: int = 0
    """The sum of its rows' worst-case times."""

    def matrix_entry(self) -> dict[str, Any]:
        """What one job of the matrix is told: as short as can be (GitHub limits a job's outputs)."""
        return {"shard": self.number, "of": self.of, "arch": self.arch}


@dataclass
class Sharding:
    """A plan cut into shards, with what it was made from (so that every job can make it again)."""

    plan: Plan
    shards: list[Shard]
    filters: dict[str, list[str] | None]
    max_jobs: int

    @property
    def count(self) -> int:
        return len(self.shards)

    def shard(self, number: int) -> Shard:
        if not 1 <= number <= self.count:
            raise BadInputError(f"shard {number} does not exist: the plan has {self.count} shard(s)")
        return self.shards[number - 1]

    def matrix(self) -> dict[str, list[dict[str, Any]]]:
        """``strategy.matrix`` for ``fromJSON``: one ``include`` entry per shard."""
        return {"include": [s.matrix_entry() for s in self.shards]}

    def digest(self) -> str:
        """What the plan is, in 16 hex digits: the cells of every shard, in order. Two jobs that computed
        the same digest run the same cells."""
        text = json.dumps([[s.arch, [layout.cell_path(c) for c in self.plan.only(s.builds).cells()]]
                           for s in self.shards])  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """The plan file: filters, ``max_jobs``, digest and each shard's rows (for people; jobs recompute)."""
        return json.dumps(
            {
                "format": PLAN_FORMAT,
                "filters": self.filters,
                "max_jobs": self.max_jobs,
                "digest": self.digest(),
                "jobs": self.plan.size,
                "cells": len(self.plan.cells()),
                "shards": [
                    {
                        "shard": s.number,
                        "arch": s.arch,
                        "seconds": s.seconds,
                        "rows": [f"{b.project.name} {b.release} {b.arch}" for b in s.builds],
                        "cells": len(self.plan.only(s.builds).cells()),
                    }
                    for s in self.shards
                ],
            },
            indent=1,
        )


def shard(the_plan: Plan, max_jobs: int = MAX_JOBS, filters: Mapping[str, list[str] | None] | None = None) -> Sharding:
    """Cut ``the_plan`` into at most ``max_jobs`` shards (see the module doc)."""
    if max_jobs < 1:
        raise BadInputError(f"--max-jobs must be at least 1, not {max_jobs}")
    rows: dict[str, list[BuildJob]] = {arch: [b for b in the_plan.builds if b.arch == arch] for arch in ARCHES}
    rows = {arch: builds for arch, builds in rows.items() if builds}
    if len(rows) > max_jobs:
        raise BadInputError(f"--max-jobs {max_jobs} is fewer than the plan's architectures ({', '.join(rows)})")
    weight = {arch: sum(row_seconds(the_plan, b) for b in builds) for arch, builds in rows.items()}
    counts = _apportion(weight, {arch: len(builds) for arch, builds in rows.items()}, max_jobs)
    shards: list[Shard] = []
    for arch, builds in rows.items():
        mine = [Shard(0, arch) for _ in range(counts[arch])]
        # longest first; ties keep plan order, so the packing is the same in every job
        for build in sorted(builds, key=lambda b: -row_seconds(the_plan, b)):
            target = min(mine, key=lambda s: s.seconds)  # the first of the least loaded
            target.builds.append(build)
            target.seconds += row_seconds(the_plan, build)
        for s in mine:
            s.builds.sort(key=the_plan.builds.index)
        shards += mine
    for number, s in enumerate(shards, start=1):
        s.number, s.of = number, len(shards)
    return Sharding(the_plan, shards, dict(filters or {}), max_jobs)


def _apportion(weight: Mapping[str, int], rows: Mapping[str, int], total: int) -> dict[str, int]:
    """Shards per architecture: ``total`` (or one per row, if fewer) shared in proportion to the
    architectures' weights, at least one each and never more than its rows (largest remainder)."""
    total = min(total, sum(rows.values()))
    whole = sum(weight.values()) or 1
    share = {arch: total * weight[arch] / whole for arch in weight}
    counts = {arch: max(1, min(rows[arch], int(share[arch]))) for arch in weight}
    while sum(counts.values()) > total:  # the minimum of one each overshot: take from the largest
        arch = max(counts, key=lambda a: (counts[a], a))
        counts[arch] -= 1
    while sum(counts.values()) < total:
        open_ = [a for a in counts if counts[a] < rows[a]]
        arch = max(open_, key=lambda a: (share[a] - counts[a], -list(weight).index(a)))
        counts[arch] += 1
    return counts


_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (shard I of N, from 1) of ``--shard``."""
    match = _SHARD.fullmatch(text.strip())
    if not match or int(match.group(1)) > int(match.group(2)):
        raise BadInputError(f"--shard {text!r}: expected I/N, shard I of N counted from 1 (e.g. 3/8)")
    return int(match.group(1)), int(match.group(2))


def read_plan_file(text: str, source: str) -> dict[str, Any]:
    """The filters, ``max_jobs`` and digest of a plan file, checked."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{source}: not a plan file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise BadInputError(f"{source}: not a plan file of format {PLAN_FORMAT} (made by 'crosscloud plan --out')")
    filters = data.get("filters")
    ok = isinstance(filters, dict) and all(
        v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)) for v in filters.values()
    )
    if not ok or not isinstance(data.get("max_jobs"), int) or not isinstance(data.get("digest"), str):
        raise BadInputError(f"{source}: 'filters', 'max_jobs' or 'digest' is missing or malformed")
    return data
