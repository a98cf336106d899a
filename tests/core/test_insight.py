"""Insight on histories whose answers the tests know: sequences such as ``S S F F F S F S`` (oldest first)
computed directly, and the same written commit by commit into real status repositories, read back through
the reader's index, incrementally and cold; ``crosscloud rollback-target`` and the history lines through
``crosscloud.cli.main``."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosscloud import insight
from crosscloud.cell_rules import CellView, aggregate_ignoring_infra
from crosscloud.cli import main
from crosscloud.failure_kind import INFRASTRUCTURE, PROJECT, UNKNOWN, classify_failure
from crosscloud.insight import InsightCache, cell_insight
from crosscloud.insight_text import insight_lines
from crosscloud.records import CellKey, Record, format_time
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.reader import Entry, StatusIndex
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from tests.helpers.status_repos import git, record_data

E2E = CellKey("etcd", "stable", "amd64", "e2e", "local", "host")
DEPLOY = CellKey("etcd", "stable", "amd64", "deploy", "local", "host")
NATS = CellKey("nats", "stable", "amd64", "e2e", "local", "host")
TOKENS = {"S": "success", "F": "failed", "I": "infra_failed", "T": "timed_out", "C": "cancelled", "N": "n/a",
          "R": "running"}  # fmt: skip
REASONS = {"F": "e2e: 2 of 40 tests failed", "I": "local: quota exceeded"}
START = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def rows(spec: str, stage: str = "e2e") -> list[insight.Row]:
    """The versions of a cell from ``spec`` (oldest first, one token per run), newest first as the index
    gives them; run n has seq n, sha n*7, and ref ``vN``."""
    out: list[insight.Row] = []
    for n, token in enumerate(spec.split(), start=1):
        when = format_time(START + timedelta(days=n))
        reason = REASONS.get(token) if stage == "e2e" else None
        out.append((n, TOKENS[token], reason, when, when, f"v{n}", f"{n:07d}", f"https://ci.example/{n}", f"c{n}"))
    return out[::-1]


def of(spec: str, window: int = insight.DEFAULT_WINDOW, stage: str = "e2e") -> insight.CellInsight:
    found = cell_insight(E2E if stage == "e2e" else DEPLOY, rows(spec, stage), window)
    assert found is not None
    return found


# -- the computation, on sequences with known answers ------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "since", "last", "streak", "flakiness"),
    [
        ("S S F F F S F S", None, 8, 0, 1 / 5),  # FFF set aside: S S S F S, one flip
        ("S F F", 2, 1, 2, 1 / 3),
        ("S S F F F", 3, 2, 3, 0.0),  # broken, not flaky
        ("F F F F", 1, None, 4, 0.0),  # never succeeded: the first failure ever
        ("F S F", 3, 2, 1, 1 / 3),  # the oldest failure has no run before it: no flip
        ("S F F S", None, 4, 0, 1 / 4),  # a streak of two is one flip
        ("S F C F", 2, 1, 2, 1 / 3),  # a cancellation ends nothing and is no run
        ("S F F C F S", None, 6, 0, 0.0),  # ... so F F (C) F is a streak of three
        ("S N R F", 4, 1, 1, 1 / 2),  # n/a and running are no runs
        ("S I T F S F", 6, 5, 1, 1 / 3),  # I T F is a broken streak: S S F remain; every failure status counts
        ("C N", None, None, 0, None),  # no runs at all
    ],
)
def test_known_answers(spec: str, since: int | None, last: int | None, streak: int, flakiness: float | None) -> None:
    found = of(spec)
    assert (found.failing_since.seq if found.failing_since else None) == since
    assert (found.last_success.seq if found.last_success else None) == last
    assert found.consecutive_failures == streak
    assert found.flakiness == (pytest.approx(flakiness) if flakiness is not None else None)
    assert found.latest_seq == len(spec.split())
    assert found.latest_status == TOKENS[spec.split()[-1]]


def test_rollback_target_carries_ref_sha_time_link_and_commit() -> None:
    found = of("S S F F")
    assert found.last_success == insight.RunRef(
        "success", "2026-11-03T03:00:00Z", "v2", "0000002", "https://ci.example/2", "c2", 2
    )
    assert found.failing_since is not None and found.failing_since.time == "2026-11-04T03:00:00Z"
    assert found.failure_kind == PROJECT and not found.green
    assert found.alerting() is False and found.alerting(after=2) is True
    assert of("S S F F F").alerting() is True
    assert of("F S").green and not of("F").green


def test_window_and_trend() -> None:
    # window 4: newest S S S S (0.0), before it F S F S (one flip in 4, the oldest failure has no predecessor)
    found = of("F S F S S S S S", window=4)
    assert (found.flakiness, found.previous_flakiness, found.trend, found.window_runs) == (0.0, 0.25, "improving", 4)
    worse = of("S S S S F S F S", window=4)
    assert (worse.flakiness, worse.previous_flakiness, worse.trend) == (0.5, 0.0, "worsening")
    assert of("S F S S F S", window=3).trend == "steady"
    assert of("S F S", window=3).trend is None  # no earlier window
    # a broken streak across the windows' edge is seen whole: F F | F S S S is three failures
    assert of("S F F F S S S", window=4).previous_flakiness == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        of("S", window=0)


def test_reads_only_what_it_needs() -> None:
    consumed = 0

    def newest_first() -> Iterator[insight.Row]:
        nonlocal consumed
        for row in rows(" ".join(["S"] * 1000)):
            consumed += 1
            yield row

    found = cell_insight(E2E, newest_first(), window=30)
    assert found is not None and found.flakiness == 0.0
    assert consumed == 2 * 30 + insight.BROKEN_STREAK - 1
    consumed = 0
    red = cell_insight(E2E, iter(rows(" ".join(["S"] * 500 + ["F"] * 200))), window=30)
    assert red is not None and red.failing_since is not None and red.failing_since.seq == 501
    assert red.last_success is not None and red.last_success.seq == 500


@pytest.mark.parametrize(
    ("status", "stage", "reason", "kind"),
    [
        ("infra_failed", "e2e", "e2e: 3 of 120 tests failed", INFRASTRUCTURE),  # the stage said so
        ("failed", "deploy", "aws: quota exceeded", INFRASTRUCTURE),
        ("failed", "deploy", "gce: ZONE_RESOURCE_POOL_EXHAUSTED in us-central1-a", INFRASTRUCTURE),
        ("failed", "e2e", "helm upgrade: Kubernetes cluster unreachable: dial tcp 10.0.0.1:443: i/o timeout",
         INFRASTRUCTURE),
        ("timed_out", "deploy", "dial tcp 34.1.2.3:6443: connect: no route to host", INFRASTRUCTURE),
        ("failed", "provision", None, INFRASTRUCTURE),
        ("timed_out", "provision", None, INFRASTRUCTURE),
        ("failed", "e2e", "e2e: 1 of 120 tests failed", PROJECT),
        ("failed", "e2e", "2 of 9 tests failed: TestDial (connection refused)", PROJECT),  # the project's words first
        ("failed", "build", "compile error", PROJECT),
        ("failed", "deploy", "deploy failed: pods not ready", PROJECT),
        ("failed", "provision", "provision failed: pods not ready", PROJECT),  # Kubernetes itself
        ("failed", "deploy", None, PROJECT),
        ("timed_out", "e2e", None, UNKNOWN),
        ("timed_out", "build", "its wait did not finish in time", UNKNOWN),
        ("cancelled", "e2e", "quota exceeded", None),
        ("success", "e2e", None, None),
        ("n/a", "e2e", "build failed", None),
        ("running", "e2e", None, None),
        (None, "e2e", None, None),
    ],
)  # fmt: skip
def test_classify_failure(status: str | None, stage: str, reason: str | None, kind: str | None) -> None:
    assert classify_failure(status, stage, reason) == kind


def test_failure_kinds_in_the_window_and_of_the_current_streak() -> None:
    found = of("S F S I S T S I")
    assert found.failures_by_kind == {PROJECT: 1, INFRASTRUCTURE: 2, UNKNOWN: 1}
    assert found.failure_kind == INFRASTRUCTURE
    assert found.as_dict()["failures_by_kind"] == {INFRASTRUCTURE: 2, PROJECT: 1, UNKNOWN: 1}
    assert of("S I F").failure_kind == PROJECT  # the newest failure of the streak


def test_as_dict_is_json() -> None:
    data = json.loads(json.dumps(of("S F S F F").as_dict()))
    assert data["project"] == "etcd" and data["stage"] == "e2e" and data["environment"] == "host"
    assert data["failing_since"]["time"] == "2026-11-05T03:00:00Z"
    assert data["last_success"] == {
        "status": "success", "time": "2026-11-04T03:00:00Z", "ref": "v3", "sha": "0000003",
        "url": "https://ci.example/3", "commit": "c3", "reason": None,
    }  # fmt: skip
    assert data["flakiness"] == round(2 / 5, 4) and data["trend"] is None


def _view(key: CellKey, status: str, reason: str | None, shown: str | None = None) -> CellView:
    entry = Entry(key, 1, "p", "c", 0, "b", status, "2026-11-01T00:00:00Z", None, None, None, None, reason, None)
    return CellView(key, shown or status, entry)


def test_aggregate_ignoring_infra() -> None:
    infra = _view(E2E, "infra_failed", "local: cloud API unavailable")
    quota = _view(DEPLOY, "failed", "aws: quota exceeded")
    ok = _view(NATS, "success", None)
    broken = _view(NATS, "failed", "e2e: 3 of 9 tests failed")
    assert aggregate_ignoring_infra([infra, ok]) == "success"
    assert aggregate_ignoring_infra([infra, ok], ignore_infra=False) == "infra_failed"
    assert aggregate_ignoring_infra([quota, ok]) == "success"
    assert aggregate_ignoring_infra([infra, quota]) == "n/a"
    assert aggregate_ignoring_infra([infra, broken, ok]) == "failed"
    cascade = _view(E2E, "infra_failed", "local: quota exceeded", shown="n/a")  # the view, not the entry, counts
    assert aggregate_ignoring_infra([cascade, ok]) == "success"


# -- real status repositories ----------------------------------------------------------------------------
def _record(key: CellKey, token: str, n: int) -> Record:
    started = START + timedelta(hours=n)
    status = TOKENS[token]
    return Record.from_dict(
        record_data(
            project=key.project, stage=key.stage, status=status, reason=REASONS.get(token),
            ref=f"v{n}", sha=f"{n:07x}", started_at=format_time(started),
            finished_at=None if status == "running" else format_time(started + timedelta(minutes=5)),
            url=f"https://github.com/etcd-io/etcd/actions/runs/{n}/job/{n}",
        )
    )  # fmt: skip


def write(writer: StatusRepoWriter, commits: list[dict[CellKey, str]], first: int = 1) -> int:
    """One commit per dict (one record per cell in it); returns the next run number."""
    n = first
    for commit in commits:
        records = []
        for key, token in commit.items():
            records.append(_record(key, token, n))
            n += 1
        assert writer.write(records).commit
    return n


def _writer(repo: Path) -> StatusRepoWriter:
    return StatusRepoWriter(Remote.parse(str(repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))


def test_index_backed_answers_match_the_sequence(status_repo: Path) -> None:
    writer = _writer(status_repo)
    spec = "S S F F F S F S I F"
    write(writer, [{E2E: token} for token in spec.split()])
    index = StatusIndex(status_repo)
    index.refresh()
    found = insight.insights(index)
    assert set(found) == {E2E}
    cell = found[E2E]
    assert cell.consecutive_failures == 2 and cell.failure_kind == PROJECT
    assert cell.failing_since is not None and cell.failing_since.ref == "v9"
    assert cell.last_success is not None and cell.last_success.ref == "v8"
    assert cell.last_success.commit == git(status_repo, "log", "-1", "--format=%H", "--skip=2", "main")
    assert cell.flakiness == pytest.approx(2 / 7)  # S S (FFF) S F S I F -> S S S F S I F
    assert insight.insight_of(index, E2E) == cell
    assert insight.insight_of(index, NATS) is None
    naive = insight.cell_insight(E2E, [insight.row_of(e) for e in index.cell_history(E2E)])
    assert naive == cell


def test_cache_recomputes_only_changed_cells_and_follows_a_rewrite(status_repo: Path) -> None:
    writer = _writer(status_repo)
    n = write(writer, [{E2E: "S", NATS: "S"}, {E2E: "F"}])
    index = StatusIndex(status_repo)
    index.refresh()
    cache = InsightCache()
    assert cache.update(index) == {E2E, NATS}
    assert cache.update(index) == set()
    keep = git(status_repo, "rev-parse", "main")
    n = write(writer, [{NATS: "F"}], n)
    index.refresh()
    assert cache.update(index) == {NATS}
    assert cache.cells == insight.insights(index)
    # rewrite history: main goes back and on differently; the reader rebuilds, and so must the cache
    git(status_repo, "update-ref", "refs/heads/main", keep)
    write(writer, [{E2E: "I", DEPLOY: "F"}], n)
    stats = index.refresh()
    assert stats.rebuilt
    assert cache.update(index) == {E2E, NATS, DEPLOY}
    assert cache.cells == insight.insights(index)
    assert cache.cells[NATS].latest_status == "success"
    assert [row["stage"] for row in cache.summary()] == ["deploy", "e2e", "e2e"]


def test_cache_drops_deleted_cells(status_repo: Path, tmp_path: Path) -> None:
    writer = _writer(status_repo)
    write(writer, [{E2E: "S", NATS: "F"}])
    index = StatusIndex(status_repo)
    index.refresh()
    cache = InsightCache()
    cache.update(index)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(status_repo), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "rm", "-q", "results/nats/stable/amd64/local/host/e2e.json"], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm",
                    "drop nats"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True)
    write(writer, [{E2E: "F"}], 10)
    index.refresh()
    assert cache.update(index) == {E2E}
    assert set(cache.cells) == {E2E} and cache.cells == insight.insights(index)


CELLS = (E2E, NATS, DEPLOY)
commits_strategy = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(CELLS), st.sampled_from(sorted(TOKENS)), min_size=1, max_size=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=8, deadline=None)
@given(commits=commits_strategy, window=st.integers(min_value=1, max_value=4))
def test_incremental_equals_cold(commits: list[tuple[dict[CellKey, str], bool]], window: int) -> None:
    with tempfile.TemporaryDirectory(prefix="insight-") as scratch:
        repo = Path(scratch) / "status.git"
        init_status_repo(repo)
        writer = _writer(repo)
        index = StatusIndex(repo)
        cache = InsightCache(window)
        n = 1
        for commit, look in commits:
            n = write(writer, [commit], n)
            if look:
                index.refresh()
                cache.update(index)
        index.refresh()
        cache.update(index)
        cold = insight.insights(index, window)
        assert cache.cells == cold
        for key, found in cold.items():
            naive = insight.cell_insight(key, [insight.row_of(e) for e in index.cell_history(key)], window)
            assert naive == found


# -- the command line ------------------------------------------------------------------------------------
@pytest.fixture
def red_repo(status_repo: Path) -> Path:
    """etcd stable e2e on local: S S F F (the last green is run 2, ref v2); nats: only failures."""
    writer = _writer(status_repo)
    write(writer, [{E2E: "S"}, {E2E: "S", NATS: "F"}, {E2E: "F"}, {E2E: "F", NATS: "I"}])
    return status_repo


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rollback_target(red_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = str(red_repo)
    code, out, err = run_cli(capsys, "rollback-target", "--repo", repo, "--project", "etcd", "--release", "stable",
                             "--cloud", "local")  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "etcd stable local e2e: roll back to v2 (0000002)"
    assert lines[1] == "  last success  2026-11-01T05:05:00Z"
    assert lines[2] == "  job           https://github.com/etcd-io/etcd/actions/runs/2/job/2"
    assert lines[4] == "  failing since 2026-11-01T07:05:00Z (2 in a row, project)"
    code, out, _ = run_cli(capsys, "rollback-target", "--repo", repo, "--project", "etcd", "--release", "stable",
                           "--cloud", "local", "--json")  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["last_success"]["ref"] == "v2" and data["consecutive_failures"] == 2


def test_rollback_target_without_a_success_exits_3(red_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("rollback-target", "--repo", str(red_repo), "--release", "stable", "--cloud", "local")
    code, out, err = run_cli(capsys, *base, "--project", "nats")
    assert (code, out) == (3, "")
    assert err.strip() == (
        "crosscloud: nats stable local e2e has no success in its history (latest: infra_failed): "
        "nothing to roll back to"
    )
    code, out, err = run_cli(capsys, *base, "--project", "nats", "--json")
    assert code == 3 and json.loads(out)["last_success"] is None
    code, _, err = run_cli(capsys, *base, "--project", "etcd", "--stage", "deploy")
    assert code == 3 and "etcd stable local deploy has no result" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "unknown project 'nope'"),
        (["--project", "etcd", "--kubernetes", "head"], "runs projects on the host: drop --kubernetes"),
        (["--project", "etcd", "--window", "0"], "--window must be at least 1"),
    ],
)
def test_rollback_target_bad_input(
    red_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "rollback-target", "--repo", str(red_repo), "--release", "stable", "--cloud",
                           "local", *args)  # fmt: skip
    assert code == 2 and message in err


def test_insight_lines_for_history(red_repo: Path) -> None:
    index = StatusIndex(red_repo)
    index.refresh()
    keys = [e.key for e in index.history(project="etcd")] + [NATS]
    lines = insight_lines(index, keys)
    assert lines == [
        "etcd stable local e2e: failing since 2026-11-01T07:05:00Z (2 in a row, project); last success v2 (0000002) "
        "at 2026-11-01T05:05:00Z https://github.com/etcd-io/etcd/actions/runs/2/job/2; flakiness 0.25 over 4 runs",
        "nats stable local e2e: failing since 2026-11-01T06:05:00Z (2 in a row, infrastructure); never succeeded; "
        "flakiness 0.00 over 2 runs",
    ]


def test_the_last_finished_result_and_kubernetes_provisioning() -> None:
    """``last_finished`` is the newest final result (what a badge shows while the cell runs again); a failed
    provisioning of a project that provisions itself (Kubernetes, ``app_layer: false``) is its own failure."""
    found = cell_insight(E2E, rows("S F R"), window=30)
    assert found is not None and found.last_finished is not None
    assert (found.latest_status, found.last_finished.status, found.last_finished.ref) == ("running", "failed", "v2")
    assert found.as_dict()["last_finished"]["status"] == "failed"
    cancelled = cell_insight(E2E, rows("S C R"), window=30)
    assert (
        cancelled is not None and cancelled.last_finished is not None and cancelled.last_finished.status == "cancelled"
    )
    started = cell_insight(E2E, rows("R"), window=30)
    assert started is not None and started.last_finished is None
    provision = CellKey("kubernetes", "stable", "amd64", "provision", "aws", "stable")
    assert (cell_insight(provision, rows("S F", "provision"), window=30) or found).failure_kind == INFRASTRUCTURE
    own = cell_insight(provision, rows("S F", "provision"), window=30, provisions_itself=True)
    assert own is not None and own.failure_kind == PROJECT
