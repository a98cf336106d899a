"""Shared fixtures: real git repositories in temporary directories, the original cncf.ci configurations."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from tests.helpers import required_tools
from tests.helpers.paths import CNCF_2018


def pytest_configure(config: pytest.Config) -> None:
    """Stop before collecting anything when a tool the tests run is missing, naming each one and how
    ``make test`` installs it (``tests/helpers/required_tools.py``): a missing tool fails the run, never skips."""
    if config.option.help or config.option.version:
        return
    absent = required_tools.missing()
    if absent:
        raise pytest.UsageError(required_tools.describe(absent))


def _unexplained_skip(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The reason of a skip that is not one of the two impossibilities of a machine without Kubernetes."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    return None if any(allowed in reason for allowed in required_tools.ALLOWED_SKIPS) else reason


def _fail_unexplained_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    reason = _unexplained_skip(report)
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = (
            f"skipped ({reason}), but only these may skip: {'; '.join(required_tools.ALLOWED_SKIPS)}. "
            "A missing tool is a failure: add it to tests/helpers/required_tools.py."
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    _fail_unexplained_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    _fail_unexplained_skip(report)
    return report


@pytest.fixture
def status_repo(tmp_path: Path) -> Path:
    """A bare status repository seeded with the embedded default configuration."""
    path = tmp_path / "status.git"
    init_status_repo(path)
    return path


@pytest.fixture
def cncf_repo(tmp_path: Path) -> Path:
    """A bare status repository seeded with the December 2018 cncf.ci configuration (8 clouds)."""
    path = tmp_path / "cncf.git"
    init_status_repo(path, CNCF_2018)
    return path


@pytest.fixture
def writer_for() -> Callable[..., StatusRepoWriter]:
    def make(repo: Path | str, **kwargs: Any) -> StatusRepoWriter:
        kwargs.setdefault("backoff", Backoff(attempts=30, base=0.01, cap=0.5))
        return StatusRepoWriter(Remote.parse(str(repo)), **kwargs)

    return make
