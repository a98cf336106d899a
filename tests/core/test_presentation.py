"""What a status looks like: one table (``crosscloud.presentation``), and the core's and the action's faces
(the ``crosscloud status`` grid, ``crosscloud history``, the job summary, the matrix summary) showing what it
says, ``cancelled`` and ``timed_out`` included."""

from __future__ import annotations

from datetime import UTC, datetime

from crosscloud import presentation
from crosscloud.cell_rules import build_grid
from crosscloud.config import parse_config
from crosscloud.failure_kind import FAILURES
from crosscloud.grid_text import grid_table, history_table
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry
from crosscloud.status_repo.seed import default_config_text
from crosscloud.vocabulary import STATUSES
from crosscloud_action.gha import summary_markdown
from tests.helpers.status_repos import make_record

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BUILD = CellKey("etcd", "stable", "amd64", "build")
DEPLOY = CellKey("etcd", "stable", "amd64", "deploy", "local", "host")
E2E = CellKey("etcd", "stable", "amd64", "e2e", "local", "host")


def entry(key: CellKey, status: str | None, started: str, error: str | None = None) -> Entry:
    return Entry(key, 0, "p", "c" * 40, 0, "b" * 40, status, started, started, "v3.4.23", "a" * 40, None, None,
                 error)  # fmt: skip


def test_every_status_a_face_can_show_has_one_look() -> None:
    shown = [*STATUSES, presentation.ERROR, presentation.UNKNOWN]
    assert set(presentation.LOOKS) == set(shown)
    assert len({look.css for look in presentation.LOOKS.values()}) == len(shown)
    assert all("_" not in look.word for look in presentation.LOOKS.values())
    # The failures of the insight and the alerts are the table's, and cancelled is none of them.
    assert {s for s in STATUSES if presentation.is_failure(s)} == FAILURES == {"failed", "timed_out", "infra_failed"}
    cancelled = presentation.look("cancelled")
    assert (cancelled.word, cancelled.colour, cancelled.failure) == ("cancelled", "lightgrey", False)


def test_the_grid_and_the_history_show_the_words_of_the_table() -> None:
    config = parse_config(default_config_text(), "cross-cloud.yml")
    entries = {
        BUILD: entry(BUILD, "success", "2026-11-01T07:00:00Z"),
        DEPLOY: entry(DEPLOY, "timed_out", "2026-11-01T08:00:00Z"),
        E2E: entry(E2E, "cancelled", "2026-11-01T09:00:00Z"),
    }
    table = grid_table(build_grid(config, entries, now=NOW), repo="status.git", commit="c" * 40)
    etcd = next(line for line in table.splitlines() if line.split()[:2] == ["etcd", "stable"])
    assert etcd.split()[3:] == ["success", "timed", "out", "timed", "out"]  # the summary: the first failure
    nats = next(line for line in table.splitlines() if line.split()[:2] == ["nats", "stable"])
    assert nats.split()[-3:] == ["N/A", "N/A", "N/A"]

    broken = entry(E2E, None, "2026-11-01T10:00:00Z", error="invalid JSON")
    history = history_table([broken, entries[E2E], entries[DEPLOY]]).splitlines()
    assert [line.split()[3] for line in history[1:]] == ["error", "cancelled", "timed"]  # after "2026-11-01 10:00 UTC"


def test_the_job_summary_shows_the_icon_and_word_of_the_table() -> None:
    records = [
        make_record(stage="build", status="success"),
        make_record(stage="provision", status="infra_failed", reason="local: quota exceeded"),
        make_record(stage="deploy", status="timed_out", reason="not ready after 300 s"),
        make_record(stage="e2e", status="cancelled"),
        make_record(stage="e2e", status="n/a", reason="deploy failed"),
    ]
    summary = summary_markdown(records, title="etcd stable")
    cells = [line.split(" | ")[2] for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert cells[1:] == [f"{presentation.look(r.status).icon} {presentation.word(r.status)}" for r in records]
    assert cells[1:] == ["✅ success", "🌩️ infra failed", "⏱️ timed out", "⏹️ cancelled", "- N/A"]
