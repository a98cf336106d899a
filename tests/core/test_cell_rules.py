"""What a cell shows: cascade, Kubernetes as the test environment, staleness, aggregation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosscloud.cell_rules import aggregate, build_grid, summary, view
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
    assert show(DEPLOY, *cells) == ("n/a", "provision infra failed")  # the word, never the raw status
    assert show(E2E, *cells) == ("n/a", "provision infra failed")


def test_an_old_result_is_not_n_a_but_stale_with_its_age() -> None:
    """A cloud not run again since a newer build keeps its last result, marked stale, saying how old it is; a
    four-day-old success and a never-run cell no longer look the same."""
    old_deploy = entry(DEPLOY, "failed", "2018-12-03T08:10:00Z")
    cells = [entry(BUILD, "running", "2018-12-04T08:00:00Z"), old_deploy]
    cell = view(DEPLOY, {e.key: e for e in cells}, now=NOW, stale_after=DAY, timeout=timedelta(seconds=350))
    assert (cell.status, cell.stale) == ("failed", True)
    assert cell.note == "build is running again; this result is from 1 day ago (2018-12-03 08:10 UTC)"
    cells[0] = entry(BUILD, "success", "2018-12-04T08:00:00Z")
    assert show(DEPLOY, *cells) == (
        "failed", "not run since the newer build; this result is from 1 day ago (2018-12-03 08:10 UTC)"
    )  # fmt: skip
    four_days = entry(DEPLOY, "success", "2018-11-30T08:10:00Z", "2018-11-30T08:20:00Z")
    assert show(DEPLOY, cells[0], four_days) == (
        "success", "not run since the newer build; this result is from 4 days ago (2018-11-30 08:20 UTC)"
    )  # fmt: skip
    assert show(DEPLOY, cells[0]) == ("n/a", "no result yet")  # nothing ran: that is N/A
    assert show(DEPLOY, entry(BUILD, "running", "2018-12-04T08:00:00Z")) == ("n/a", "build is running")
    cells.append(entry(DEPLOY, "failed", "2018-12-04T08:10:00Z"))
    assert show(DEPLOY, *cells) == ("failed", None)


def test_a_result_newer_than_a_failed_upstream_is_shown() -> None:
    cells = [entry(BUILD, "failed", "2018-12-04T08:00:00Z"), entry(DEPLOY, "success", "2018-12-04T09:00:00Z")]
    assert show(DEPLOY, *cells) == ("success", None)


def test_staleness_and_stuck_running() -> None:
    assert show(BUILD, entry(BUILD, "success", "2018-12-01T08:00:00Z"))[1] == (
        "last result 3 days ago (2018-12-01 08:00 UTC), older than 48 h"
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


def test_the_summary_never_says_success_while_a_cell_of_its_row_failed_or_runs() -> None:
    """Fluentd in December 2018: its Azure deploy failed, so Azure's e2e is N/A; the old Test column
    aggregated the e2e cells only and said success. The summary aggregates every cell of the row."""
    config = load_config(CNCF_2018)
    key = CellKey("fluentd", "stable", "amd64", "build")
    stored = [entry(key, "success", "2018-12-04T08:00:00Z")]
    for cloud in ("aws", "azure"):
        at = f"2018-12-04T08:{10 if cloud == 'aws' else 20}:00Z"
        for stage in ("provision", "deploy", "e2e"):
            status = "failed" if (cloud, stage) == ("azure", "deploy") else "success"
            stored.append(entry(CellKey("fluentd", "stable", "amd64", stage, cloud, "stable"), status, at))
            if status == "failed":
                break
    grid = build_grid(config, {e.key: e for e in stored}, now=NOW)
    row = next(r for _, rows in grid.sections for r in rows if (r.project.name, r.release) == ("fluentd", "stable"))
    assert [c.status for c in row.e2e[:2]] == ["success", "n/a"]
    assert aggregate(c.status for c in row.e2e) == "success"  # what the Test column used to say
    assert row.summary == "failed"
    assert row.summary_cell is not None and row.summary_cell.key.cloud == "azure"
    running = [*stored[:-1], entry(stored[-1].key, "running", "2018-12-04T08:20:00Z")]
    assert build_grid(config, {e.key: e for e in running}, now=NOW).sections[0][1][6].summary == "running"
    assert summary([]) == "n/a"


def test_a_failed_provision_is_the_kubernetes_project_s_own_failure() -> None:
    """``app_layer: false``: Kubernetes' provisioning is the project under test."""
    from crosscloud.failure_kind import INFRASTRUCTURE, PROJECT, UNKNOWN, classify_failure

    flag = "terraform apply: kubeadm init: unknown flag: --experimental-upload-certs"
    assert classify_failure("failed", "provision", flag, provisions_itself=True) == PROJECT
    assert classify_failure("failed", "provision", "kubeadm exited 1", provisions_itself=True) == PROJECT
    assert classify_failure("failed", "provision", "terraform apply failed", provisions_itself=True) == PROJECT
    assert classify_failure("timed_out", "provision", None, provisions_itself=True) == UNKNOWN
    # unless the reason names the environment
    quota = "QuotaExceeded: cores quota exceeded"
    assert classify_failure("failed", "provision", quota, provisions_itself=True) == INFRASTRUCTURE
    # an application's provisioning is still its environment
    assert classify_failure("failed", "provision", "terraform apply failed") == INFRASTRUCTURE
    assert classify_failure("failed", "provision", None) == INFRASTRUCTURE


def test_every_cell_of_a_grid_shows_what_view_says_of_it_alone() -> None:
    """A grid hands each cell the upstream keys it has already made for its row (``view``'s ``before``); what
    every cell shows must still be ``view``'s answer with ``upstream``'s keys: the cascades of the tests
    above (failed and running builds, failed provisioning, results from an older pipeline) on two clouds,
    in every test environment."""
    config = load_config(CNCF_2018)
    stored = [entry(BUILD, "failed", "2018-12-04T08:00:00Z"), entry(DEPLOY, "success", "2018-12-03T08:10:00Z")]
    fluentd = [CellKey("fluentd", "stable", "amd64", s, c, "stable") for c in ("aws", "azure") for s in
               ("provision", "deploy", "e2e")]  # fmt: skip
    stored += [
        entry(CellKey("fluentd", "stable", "amd64", "build"), "running", "2018-12-04T08:00:00Z"),
        entry(fluentd[0], "infra_failed", "2018-12-04T08:05:00Z"),
        entry(fluentd[1], "success", "2018-12-03T08:10:00Z"),
        entry(fluentd[3], "success", "2018-12-04T08:10:00Z"),
        entry(fluentd[4], "failed", "2018-12-02T08:10:00Z"),
        entry(fluentd[5], "success", "2018-12-04T09:10:00Z"),
    ]
    entries = {e.key: e for e in stored}
    for kubernetes in ("stable", "head"):
        for arch in (None, "arm64"):
            grid = build_grid(config, entries, now=NOW, kubernetes=kubernetes, arch=arch)
            for row in (r for _, rows in grid.sections for r in rows):
                timeout = timedelta(seconds=row.project.timeout)
                for cell in row.summary_cells:
                    alone = view(cell.key, entries, now=NOW, stale_after=config.stale_after, timeout=timeout)
                    assert cell == alone, cell.key
    shown = {c.key: c.status for _, rows in build_grid(config, entries, now=NOW).sections for r in rows
             for c in r.summary_cells}  # fmt: skip
    assert shown[DEPLOY] == "n/a" and shown[fluentd[1]] == "n/a" and shown[fluentd[5]] == "success"
