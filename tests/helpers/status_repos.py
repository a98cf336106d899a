"""Status repositories in tests: git in a repository, a snapshot of its refs, result records to write."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from crosscloud.records import Record


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def snapshot(repo: Path) -> str:
    """Every ref and its commit: equal snapshots mean the repository did not change."""
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


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
