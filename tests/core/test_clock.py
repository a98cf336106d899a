"""The one clock: which time a result shows and how a time reads, on every face."""

from __future__ import annotations

from datetime import UTC, datetime

from crosscloud import clock
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry

NOW = datetime(2018, 12, 4, 12, 0, tzinfo=UTC)


def entry(started: str | None, finished: str | None) -> Entry:
    key = CellKey("coredns", "stable", "amd64", "build")
    return Entry(key, 0, "p", "c" * 40, 0, None, "success", started, finished, None, None, None, None, None)


def test_a_result_shows_its_finish_else_its_start() -> None:
    assert clock.result_time_text(entry("2018-12-04T08:00:00Z", "2018-12-04T08:06:00Z")) == "2018-12-04T08:06:00Z"
    assert clock.result_time_text(entry("2018-12-04T08:00:00Z", None)) == "2018-12-04T08:00:00Z"
    assert clock.result_time(entry(None, None)) is None
    assert clock.result_time(entry("not a time", None)) is None


def test_relative_times_with_the_exact_time_beside_them() -> None:
    assert clock.relative(datetime(2018, 12, 4, 11, 59, 30, tzinfo=UTC), NOW) == "just now"
    assert clock.relative(datetime(2018, 12, 4, 11, 57, tzinfo=UTC), NOW) == "3 minutes ago"
    assert clock.relative(datetime(2018, 12, 4, 11, 0, tzinfo=UTC), NOW) == "1 hour ago"
    assert clock.relative(datetime(2018, 11, 30, 12, 0, tzinfo=UTC), NOW) == "4 days ago"
    assert clock.relative(datetime(2018, 12, 4, 12, 5, tzinfo=UTC), NOW) == "in 5 minutes"  # a clock ahead of ours
    assert clock.exact(NOW) == "2018-12-04 12:00 UTC"
    assert clock.iso(NOW) == "2018-12-04T12:00:00Z"
    assert clock.age("2018-11-30T12:00:00Z", NOW) == "4 days ago (2018-11-30 12:00 UTC)"
    assert clock.age(None, NOW) == "at an unknown time"
