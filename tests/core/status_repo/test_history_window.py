"""The bounded read side: a mirror that keeps only the last days of history (``Mirror(history_days=...)``,
the app's ``HISTORY_DAYS``), the index forgetting what fell out of it, and the blob stream the index reads
through. Real git repositories in temporary directories; the commits are dated by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crosscloud import layout
from crosscloud.errors import BadInputError
from crosscloud.records import format_time
from crosscloud.status_repo.git import Git, Remote
from crosscloud.status_repo.mirror import Mirror
from crosscloud.status_repo.reader import StatusIndex
from tests.helpers.status_repos import git, make_record

NOW = datetime.now(UTC).replace(microsecond=0)
CELLS = ("etcd", "nats", "prometheus")


def night(repo: Path, days_ago: int, status: str = "success") -> str:
    """One commit dated ``days_ago`` days back that records a deploy of every project."""
    when = NOW - timedelta(days=days_ago)
    files = {}
    for project in CELLS:
        began = format_time(when - timedelta(hours=1))
        record = make_record(project=project, ref=None, status=status, started_at=began,
                             finished_at=format_time(when), run={"id": 5000 - days_ago, "attempt": 1})  # fmt: skip
        files[layout.cell_path(record.key)] = record.to_json().encode()
    g = Git(repo)
    return g.commit_files("refs/heads/main", files, message=f"night -{days_ago}\n", identity=("N", "n@example.org"),
                          when=int(when.timestamp()), parent=g.text("rev-parse", "main"))  # fmt: skip


def test_a_windowed_mirror_keeps_the_last_days_and_the_index_serves_every_cell(
    status_repo: Path, tmp_path: Path
) -> None:
    for days_ago in (20, 10, 5, 2, 1):
        night(status_repo, days_ago, "failed" if days_ago == 10 else "success")
    mirror = Mirror(Remote.parse(str(status_repo)), tmp_path / "cache", history_days=3)
    assert mirror.is_copy and mirror.git_dir != status_repo
    mirror.fetch()
    assert git(mirror.git_dir, "rev-parse", "main") == git(status_repo, "rev-parse", "main")
    assert git(mirror.git_dir, "rev-list", "--count", "main") == "2"  # the nights of 2 and 1 days ago
    assert (mirror.git_dir / "shallow").is_file()
    index = StatusIndex(mirror.git_dir)
    index.refresh()
    current = index.current()
    assert sorted(k.project for k in current if k.stage == "deploy") == list(CELLS)
    assert all(e.error is None and e.status == "success" for e in current.values())
    # the boundary commit stands for the whole tree it holds: every cell has its 2 versions of the window
    assert [len(index.cell_history(k)) for k in current if k.stage == "deploy"] == [2, 2, 2]

    night(status_repo, 0)  # a new night: fetched into the window, indexed incrementally
    mirror.fetch()
    stats = index.refresh()
    assert not stats.rebuilt and stats.commits == 1 and stats.entries == 3


def test_the_window_moves_and_the_index_forgets_what_fell_out(status_repo: Path, tmp_path: Path) -> None:
    for days_ago in (9, 6, 3):
        night(status_repo, days_ago)
    index = StatusIndex(status_repo)
    index.refresh()
    assert index.size() == 9
    gone = index.forget_before(int((NOW - timedelta(days=4)).timestamp()))
    assert gone == 6 and index.size() == 3
    assert len(index.current()) == 3  # what a cell shows is never forgotten
    old_only = StatusIndex(status_repo)
    old_only.refresh()
    assert old_only.forget_before(int((NOW + timedelta(days=1)).timestamp())) == 6  # the current ones stay


def test_a_window_with_nothing_new_keeps_the_tip(status_repo: Path, tmp_path: Path) -> None:
    night(status_repo, 30)
    mirror = Mirror(Remote.parse(str(status_repo)), tmp_path / "cache", history_days=1)
    mirror.fetch()
    assert git(mirror.git_dir, "rev-parse", "main") == git(status_repo, "rev-parse", "main")
    assert git(mirror.git_dir, "rev-list", "--count", "main") == "1"


def test_a_bad_window_is_refused(status_repo: Path) -> None:
    for days in (0, -1):
        with pytest.raises(BadInputError, match="positive number of days"):
            Mirror(Remote.parse(str(status_repo)), history_days=days)


def test_the_blob_stream_answers_in_order_and_can_stop_early(status_repo: Path) -> None:
    night(status_repo, 1)
    g = Git(status_repo)
    blobs = git(status_repo, "ls-tree", "-r", "--format=%(objectname)", "main", "results").split()
    tree = g.text("rev-parse", "main^{tree}")
    ids = [*blobs, "0" * 40, tree, blobs[0]]
    streamed = list(g.stream_blobs(ids))
    assert [i for i, _ in streamed] == ids
    assert [c is None for _, c in streamed] == [False] * len(blobs) + [True, True, False]
    assert json.loads(streamed[0][1] or b"")["status"] == "success"
    many = blobs * 3000  # more than a pipe holds: the feeder must not block a reader that stops
    stream = g.stream_blobs(many)
    assert next(stream)[0] == many[0]
    stream.close()


def test_full_validations_are_kept_in_the_index_file(status_repo: Path, tmp_path: Path) -> None:
    night(status_repo, 1)
    db = tmp_path / "index.sqlite3"
    first = StatusIndex(status_repo, db)
    first.refresh()
    shown = first.current()
    first.close()
    again = StatusIndex(status_repo, db)
    validated = again.db.execute("SELECT COUNT(*) FROM validated").fetchone()[0]
    assert validated == len(shown)
    assert again.current() == shown


def test_reading_many_paths_at_once_agrees_with_reading_them_one_by_one(status_repo: Path) -> None:
    """``Git.read_paths``: past 64 paths one ``ls-tree`` finds the blobs (the writer reads a night of 58,400
    cells this way); missing paths, directories, the configuration and a file over the limit (never read)
    answer as they do one by one."""
    g = Git(status_repo)
    files = {f"results/p{n:03d}/stable/amd64/build.json": f'{{"n": {n}}}\n'.encode() for n in range(100)}
    files["results/p050/stable/amd64/build.json"] = b"x" * 300_000
    tip = g.commit_files("refs/heads/main", files, message="many\n", identity=("N", "n@example.org"),
                         when=1_800_000_000, parent=g.text("rev-parse", "main"))  # fmt: skip
    paths = [*files, "results/nope.json", "results/p001", layout.CONFIG_PATH, "results/p099/stable/amd64/build.json"]
    many = g.read_paths(tip, paths, limit=200_000)
    one_by_one = {p: g.read_paths(tip, [p], limit=200_000)[p] for p in paths}
    assert many == one_by_one
    assert many["results/p007/stable/amd64/build.json"] == b'{"n": 7}\n'
    assert many["results/nope.json"] is None and many["results/p001"] is None
    assert many["results/p050/stable/amd64/build.json"] is None
    assert many[layout.CONFIG_PATH] is not None
