"""Results, not steps: every stage writes ``running`` and then its result; histories and ``crosscloud history``
show the results (and a run in progress once, while it is the cell's newest version). Written with the real
writer into a real status repository, read through the real index."""

from __future__ import annotations

from pathlib import Path

from crosscloud.cli import main
from crosscloud.records import CellKey
from crosscloud.result_history import cell_results, results
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.reader import StatusIndex
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers.status_repos import make_record

DEPLOY = CellKey("etcd", "stable", "amd64", "deploy", "local", "host")


def run(writer: StatusRepoWriter, night: int, final: str | None, stage: str = "deploy") -> None:
    """One run of a stage on night ``night``: ``running``, then ``final`` (None: still running)."""
    started = f"2026-11-{night:02d}T03:00:00Z"
    writer.write([make_record(stage=stage, status="running", started_at=started, finished_at=None, reason=None)])
    if final is not None:
        reason = None if final == "success" else f"{stage} {final.replace('_', ' ')} on night {night}"
        done = f"2026-11-{night:02d}T03:05:00Z"
        writer.write([make_record(stage=stage, status=final, started_at=started, finished_at=done, reason=reason)])


def test_histories_show_results_and_a_run_in_progress_once(tmp_path: Path, capsys: object) -> None:
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    writer = StatusRepoWriter(Remote.parse(str(repo)))
    run(writer, 1, "success")
    run(writer, 2, "failed")
    run(writer, 3, "timed_out")
    index = StatusIndex(repo)
    index.refresh()
    assert len(index.cell_history(DEPLOY)) == 6  # every version is kept (the API's raw history)
    assert [e.status for e in cell_results(index, DEPLOY, 10)] == ["timed_out", "failed", "success"]
    assert [e.status for e in cell_results(index, DEPLOY, 2)] == ["timed_out", "failed"]

    run(writer, 4, None)  # the fourth run has started
    index.refresh()
    shown = cell_results(index, DEPLOY, 10)
    assert [e.status for e in shown] == ["running", "timed_out", "failed", "success"]
    everything = results(index, index.current(), 10, project="etcd")
    assert [e.status for e in everything] == ["running", "timed_out", "failed", "success"]

    run(writer, 5, "success")  # a run that never finished is followed by a newer one: it is no result
    index.refresh()
    assert [e.status for e in cell_results(index, DEPLOY, 10)] == ["success", "timed_out", "failed", "success"]

    assert main(["history", "--repo", str(repo), "--project", "etcd"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split()[:2] == ["WHEN", "STATUS"]  # the one clock: the finish time, exact
    assert [line.split()[:4] for line in table[1:]] == [
        ["2026-11-05", "03:05", "UTC", "success"],
        ["2026-11-03", "03:05", "UTC", "timed"],
        ["2026-11-02", "03:05", "UTC", "failed"],
        ["2026-11-01", "03:05", "UTC", "success"],
    ]
    assert len(table) == 5 and "timed_out" not in out  # one row per run; the word, never the raw status
