"""Shared fixtures: real git repositories in temporary directories, the original cncf.ci configurations."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from crosscloud.records import Record
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from tests import required_tools

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
"""Real-world inputs copied into the project (their origins: ``tests/fixtures/README.md``)."""
CNCF_2018 = FIXTURES / "cncf-configuration" / "cross-cloud.2018-12-04.yml"
CNCF_2020 = FIXTURES / "cncf-configuration" / "cross-cloud.2020-11-30.yml"


def pytest_configure(config: pytest.Config) -> None:
    """Stop before collecting anything when a tool the tests run is missing, naming each one and how
    ``make test`` installs it (``tests/required_tools.py``): a missing tool fails the run, never skips."""
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
            "A missing tool is a failure: add it to tests/required_tools.py."
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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def snapshot(repo: Path) -> str:
    """Every ref and its commit: equal snapshots mean the repository did not change."""
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


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


def record_data(**overrides: Any) -> dict[str, Any]:
    """A valid record of the default configuration (etcd stable deploy on local), with ``overrides``."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "project": "etcd",
        "release": "stable",
        "ref": "v3.4.23",
        "sha": "a" * 40,
        "stage": "deploy",
        "cloud": "local",
        "arch": "amd64",
        "kubernetes": None,
        "status": "success",
        "reason": None,
        "started_at": "2026-11-01T08:00:00Z",
        "finished_at": "2026-11-01T08:05:00Z",
        "url": "https://github.com/etcd-io/etcd/actions/runs/100/job/200",
        "run": {
            "repository": "etcd-io/etcd",
            "id": 100,
            "attempt": 1,
            "job": "cross-cloud",
            "workflow": "Cross-Cloud CI",
            "url": "https://github.com/etcd-io/etcd/actions/runs/100",
        },
    }
    if overrides.get("stage") == "build":
        data.update(cloud=None, kubernetes=None)
    data.update(overrides)
    return data


def make_record(**overrides: Any) -> Record:
    return Record.from_dict(record_data(**overrides))
