"""Results for the app's tests: records of a pipeline, hours ago, a night of a project."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crosscloud.records import format_time
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers.status_repos import make_record

Writer = Callable[..., StatusRepoWriter]


def hours_ago(hours: float) -> str:
    return format_time(datetime.now(UTC) - timedelta(hours=hours))


def result(
    project: str, release: str, stage: str, status: str, *, at: float = 1.0, run: int = 100, **extra: Any
) -> Any:
    """A record of the default configuration on the ``local`` cloud, started ``at`` hours ago."""
    fields: dict[str, Any] = {
        "project": project,
        "release": release,
        "stage": stage,
        "status": status,
        "started_at": hours_ago(at),
        "finished_at": None if status == "running" else hours_ago(at - 0.05),
        "url": f"https://github.com/example/{project}/actions/runs/{run}/job/{run}{len(stage)}",
        "run": {
            "repository": f"example/{project}",
            "id": run,
            "attempt": 1,
            "job": "cross-cloud",
            "workflow": "Cross-Cloud CI",
            "url": f"https://github.com/example/{project}/actions/runs/{run}",
        },
        "reason": None if status in ("success", "running") else f"{stage} {status} in the test",
        "ref": {"prometheus": "v2.42.0", "etcd": "v3.4.23", "nats": "v2.9.10"}[project],
        "sha": {"prometheus": "a", "etcd": "b", "nats": "c"}[project] * 40,
    }
    if stage != "build":
        fields["cloud"] = "local"
    fields.update(extra)
    return make_record(**fields)


def pipeline(project: str, release: str, statuses: dict[str, str], **kwargs: Any) -> list[Any]:
    """One record per stage, started in pipeline order (later stages a little later)."""
    at = float(kwargs.pop("at", 1.0))
    return [
        result(project, release, stage, status, at=at - i * 0.01, **kwargs)
        for i, (stage, status) in enumerate(statuses.items())
    ]


ALL_GREEN = {"build": "success", "provision": "success", "deploy": "success", "e2e": "success"}


def night(writer: StatusRepoWriter, n: int, statuses: dict[str, str], project: str = "etcd") -> None:
    """One commit with a result per stage of ``project`` stable on local, on night ``n`` (November 2026)."""
    records = []
    for i, (stage, status) in enumerate(statuses.items()):
        fields: dict[str, Any] = {
            "project": project,
            "stage": stage,
            "status": status,
            "ref": {"etcd": "v3.4.23", "prometheus": "v2.42.0", "nats": "v2.9.10"}[project],
            "started_at": f"2026-11-{n:02d}T03:{i:02d}:00Z",
            "finished_at": f"2026-11-{n:02d}T03:{i:02d}:30Z",
            "url": f"https://github.com/example/{project}/actions/runs/{n}/job/{i}",
            "run": {"repository": f"example/{project}", "id": n, "attempt": 1, "job": "cross-cloud",
                    "workflow": "Cross-Cloud CI", "url": f"https://github.com/example/{project}/actions/runs/{n}"},
            "reason": None if status == "success" else f"{stage} {status} on night {n}",
        }  # fmt: skip
        if stage == "build":
            fields.update(cloud=None)
        records.append(make_record(**fields))
    writer.write(records)
