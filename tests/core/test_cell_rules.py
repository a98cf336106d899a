"""What a cell shows: cascade, Kubernetes as the test environment, staleness, aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosscloud.cell_rules import aggregate, build_grid, view
from crosscloud.config import load_config
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry
from tests.helpers.paths import CNCF_2018

NOW = datetime(2018, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=48)


def entry(
    key: CellKey, status: str | None, started: str, finished: str | None = "same", error: str | None = None
) -> Entry:
    done = (started if finished == "same" else finished) if status != "running" else None
    return Entry(key, 0, "p", "c" * 40, 0, "b" * 40, status, started, done, None, None,
                 "https://ci/job", None, error)  # fmt: skip


BUILD = CellKey("coredns", "stable", "amd64", "build")
PROVISION = CellKey("coredns", "stable", "amd64", "provision", "aws", "stable")
DEPLOY = CellKey("coredns", "stable", "amd64", "deploy", "aws", "stable")
E2E = CellKey("coredns", "stable", "amd64", "e2e", "aws", "stable")


def show(key: CellKey, *entries: Entry, now: datetime = NOW) -> tuple[str, str | None]:
    cell = view(key, {e.key: e for e in entries}, now=now, stale_after=DAY, timeout=timedelta(seconds=350))
    return cell.status, cell.note


def test_a_failed_build_makes_the_later_cells_n_a_not_failed() -> None:
    build = entry(BUILD, "failed", "2018-12-04T08:00:00Z")
    old_deploy = entry(DEPLOY, "success", "2018-12-03T08:10:00Z")
    assert show(DEPLOY, build, old_deploy) == ("n/a", "build failed")
    assert show(E2E, build) == ("n/a", "build failed")


def test_a_failed_provisioning_cascades_to_deploy_and_e2e() -> None:
    cells = [entry(BUILD, "success", "2018-12-04T08:00:00Z"), entry(PROVISION, "infra_failed", "2018-12-04T08:05:00Z"),
             entry(DEPLOY, "success", "2018-12-03T08:10:00Z")]  # fmt: skip
    assert show(DEPLOY, *cells) == ("n/a", "provision infra_failed")
    assert show(E2E, *cells) == ("n/a", "provision infra_failed")


def test_a_new_build_resets_deploys_until_they_report() -> None:
    cells = [entry(BUILD, "running", "2018-12-04T08:00:00Z"), entry(DEPLOY, "failed", "2018-12-03T08:10:00Z")]
    assert show(DEPLOY, *cells) == ("n/a", "build is running")
    cells[0] = entry(BUILD, "success", "2018-12-04T08:00:00Z")
    assert show(DEPLOY, *cells) == ("n/a", "waiting for deploy after a newer build")
    cells.append(entry(DEPLOY, "failed", "2018-12-04T08:10:00Z"))
    assert show(DEPLOY, *cells) == ("failed", None)


def test_a_result_newer_than_a_failed_upstream_is_shown() -> None:
    cells = [entry(BUILD, "failed", "2018-12-04T08:00:00Z"), entry(DEPLOY, "success", "2018-12-04T09:00:00Z")]
    assert show(DEPLOY, *cells) == ("success", None)


def test_staleness_and_stuck_running() -> None:
    assert show(BUILD, entry(BUILD, "success", "2018-12-01T08:00:00Z"))[1] == (
        "last result 2018-12-01T08:00:00Z, older than 48 h"
    )
    assert show(BUILD, entry(BUILD, "running", "2018-12-04T11:55:00Z")) == ("running", None)
    status, note = show(BUILD, entry(BUILD, "running", "2018-12-04T08:00:00Z"))
    assert status == "running" and "longer than the 350 s timeout" in (note or "")


def test_a_broken_record_shows_an_error_in_its_cell_only() -> None:
    assert show(BUILD, entry(BUILD, None, "2018-12-04T08:00:00Z", error="not JSON")) == ("error", "not JSON")
    # A broken deploy file has no start time to weigh against its build: it still shows as broken, not n/a.
    build = entry(BUILD, "success", "2018-12-04T08:00:00Z")
    broken = entry(DEPLOY, None, None, error="not a record")
    assert show(DEPLOY, build, broken) == ("error", "not a record")
    assert show(DEPLOY, entry(BUILD, "failed", "2018-12-04T08:00:00Z"), broken) == ("error", "not a record")


def test_nothing_stored_is_n_a() -> None:
    assert show(DEPLOY) == ("n/a", "no result yet")


@pytest.mark.parametrize(
    "statuses,expected",
    [
        ([], "n/a"),
        (["n/a", "n/a"], "n/a"),
        (["success", "success"], "success"),
        (["success", "running", "success"], "running"),
        (["success", "failed", "running"], "failed"),
        (["running", "cancelled", "failed"], "cancelled"),
        (["n/a", "success"], "success"),
        (["success", "infra_failed"], "infra_failed"),
    ],
)
def test_aggregation_follows_the_original(statuses: list[str], expected: str) -> None:
    assert aggregate(statuses) == expected


def test_grid_of_december_2018_kubernetes_rows_show_provisioning() -> None:
    config = load_config(CNCF_2018)
    k8s_provision = CellKey("kubernetes", "stable", "amd64", "provision", "aws", "stable")
    grid = build_grid(config, {k8s_provision: entry(k8s_provision, "success", "2018-12-04T08:00:00Z")}, now=NOW)
    ((_, rows),) = grid.sections
    assert [(r.project.name, r.release) for r in rows][:4] == [
        ("kubernetes", "stable"), ("kubernetes", "head"), ("prometheus", "stable"), ("prometheus", "head"),
    ]  # fmt: skip
    assert len(rows) == 14 and next(c.name for c in grid.clouds) == "aws" and len(rows[0].clouds) == 8
    assert rows[0].clouds[0].status == "success" and rows[0].clouds[0].key.stage == "provision"
    assert rows[2].clouds[0].key.stage == "deploy" and rows[2].clouds[0].status == "n/a"
    assert rows[2].release_label == "v2.5.0" and rows[3].release_label == "master"
