"""The reader's index: built from git alone, incremental, keyed by commit, and robust to broken files."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from crosscloud.records import CellKey
from crosscloud.status_repo.git import Git
from crosscloud.status_repo.reader import StatusIndex
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers.status_repos import git, make_record

Writer = Callable[..., StatusRepoWriter]
DEPLOY = CellKey("etcd", "stable", "amd64", "deploy", "local", "host")
BUILD = CellKey("etcd", "stable", "amd64", "build")


def night(day: int, status: str = "success", **kw: object) -> dict[str, object]:
    return {"started_at": f"2026-11-{day:02d}T08:00:00Z", "finished_at": f"2026-11-{day:02d}T08:05:00Z",
            "status": status, "run": {"id": 1000 + day, "attempt": 1}, **kw}  # fmt: skip


def commit_file(repo: Path, path: str, content: bytes) -> str:
    """Put a file on main by hand, the way a person with push access could break things."""
    g = Git(repo)
    tip = g.text("rev-parse", "main")
    return g.commit_files("refs/heads/main", {path: content}, message="manual edit\n", identity=("A", "a@b"),
                          when=1_800_000_000, parent=tip)  # fmt: skip


def test_cold_index_has_every_version_and_the_current_state(status_repo: Path, writer_for: Writer) -> None:
    writer = writer_for(status_repo)
    for day, status in ((1, "success"), (2, "failed"), (3, "success")):
        writer.write([make_record(**night(day, status)), make_record(stage="build", **night(day))])
    index = StatusIndex(status_repo)
    stats = index.refresh()
    assert stats.rebuilt and stats.commits == 3 and stats.entries == 6
    assert index.commit == git(status_repo, "rev-parse", "main")
    current = index.current()
    assert set(current) == {DEPLOY, BUILD}
    assert current[DEPLOY].status == "success" and current[DEPLOY].started_at == "2026-11-03T08:00:00Z"
    assert [e.status for e in index.cell_history(DEPLOY)] == ["success", "failed", "success"]
    assert [e.status for e in index.history(project="etcd", stage="deploy", status="failed")] == ["failed"]
    assert index.record(current[DEPLOY]).data["run"]["id"] == 1003


def test_refresh_reads_only_new_commits_and_matches_a_cold_rebuild(status_repo: Path, writer_for: Writer) -> None:
    writer = writer_for(status_repo)
    writer.write([make_record(**night(1))])
    index = StatusIndex(status_repo)
    index.refresh()
    assert index.refresh().commits == 0  # nothing new: nothing read
    writer.write([make_record(**night(2, "failed"))])
    writer.write([make_record(project="nats", **night(2))])
    stats = index.refresh()
    assert not stats.rebuilt and stats.commits == 2 and stats.entries == 2
    cold = StatusIndex(status_repo)
    cold.refresh()
    assert index.current() == cold.current()
    assert index.history() == cold.history()


def test_rewritten_history_is_rebuilt_from_scratch(status_repo: Path, writer_for: Writer) -> None:
    writer = writer_for(status_repo)
    writer.write([make_record(**night(1))])
    base = git(status_repo, "rev-parse", "main")
    writer.write([make_record(**night(2, "failed"))])
    index = StatusIndex(status_repo)
    index.refresh()
    git(status_repo, "update-ref", "refs/heads/main", base)  # a force-push back in time
    writer.write([make_record(project="nats", **night(3))])
    stats = index.refresh()
    assert stats.rebuilt
    assert [e.status for e in index.cell_history(DEPLOY)] == ["success"]


def test_the_index_persists_on_disk_and_resumes_from_its_commit(
    tmp_path: Path, status_repo: Path, writer_for: Writer
) -> None:
    writer = writer_for(status_repo)
    writer.write([make_record(**night(1))])
    db = tmp_path / "index.sqlite"
    first = StatusIndex(status_repo, db)
    first.refresh()
    first.close()
    writer.write([make_record(**night(2, "failed"))])
    again = StatusIndex(status_repo, db)
    stats = again.refresh()
    assert not stats.rebuilt and stats.commits == 1
    assert [e.status for e in again.cell_history(DEPLOY)] == ["failed", "success"]


def test_a_broken_file_breaks_one_cell_not_the_rest(status_repo: Path, writer_for: Writer) -> None:
    writer_for(status_repo).write([make_record(**night(1)), make_record(stage="build", **night(1))])
    commit_file(status_repo, "results/etcd/stable/amd64/local/host/deploy.json", b"{not json")
    schema_invalid = make_record(project="nats").to_json().replace('"success"', '"green"')
    commit_file(status_repo, "results/nats/stable/amd64/local/host/deploy.json", schema_invalid.encode())
    commit_file(status_repo, "results/README.txt", b"not a cell, ignored")
    index = StatusIndex(status_repo)
    index.refresh()
    current = index.current()
    assert current[BUILD].status == "success" and current[BUILD].error is None
    assert current[DEPLOY].status is None and "not JSON" in (current[DEPLOY].error or "")
    nats = current[CellKey("nats", "stable", "amd64", "deploy", "local", "host")]
    assert nats.status is None and "status" in (nats.error or "")
    assert len(current) == 3


def test_a_record_filed_under_another_cells_path_is_an_error(status_repo: Path, writer_for: Writer) -> None:
    writer_for(status_repo).write([make_record(**night(1))])
    commit_file(status_repo, "results/etcd/head/amd64/local/host/deploy.json", make_record().to_json().encode())
    index = StatusIndex(status_repo)
    index.refresh()
    entry = index.current()[CellKey("etcd", "head", "amd64", "deploy", "local", "host")]
    assert entry.status is None and "do not match its path" in (entry.error or "")


def test_a_deleted_cell_file_leaves_the_current_state(status_repo: Path, writer_for: Writer) -> None:
    writer_for(status_repo).write([make_record(**night(1)), make_record(stage="build", **night(1))])
    index = StatusIndex(status_repo)
    index.refresh()
    work = status_repo.parent / "work"
    subprocess.run(["git", "clone", "--quiet", str(status_repo), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "rm", "--quiet", "results/etcd/stable/amd64/build.json"], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=A", "-c", "user.email=a@b", "commit", "--quiet",
                    "-m", "drop"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(work), "push", "--quiet", "origin", "HEAD:main"], check=True)
    index.refresh()
    assert set(index.current()) == {DEPLOY}
    assert len(index.cell_history(BUILD)) == 1  # history keeps what was
