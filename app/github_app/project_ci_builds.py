"""A project's own CI as its build cell: a completed ``workflow_run`` becomes a build record.

Many projects already build every release in their own GitHub Actions workflow; rebuilding it here would
only repeat that work. A project opts in by naming that workflow file, either in its configuration
(``build: {mode: ci, workflow: release.yml}``, once the configuration schema has that mode) or, until
then, in the app setting ``CI_WORKFLOWS`` (``{"etcd": "release.yml"}``). A completed run of that workflow
in the project's ``repository`` on its stable or head ref is recorded as the build of that release, with
the run as provenance, through the same writer the action uses.

Only the project's own runs of its own code count: the run's head repository must be the project's (a
fork's pull request runs in the project's repository, on a branch that may be named like ``stable_ref``),
its event one of ``BUILD_EVENTS`` (never ``pull_request``), and its head the release's ref (the branch or tag
it ran on is the ref's name, or its head sha is the ref when the ref is a commit). Anything else is
acknowledged and ignored with the reason."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from crosscloud.config import Config, Project
from crosscloud.errors import RecordError
from crosscloud.records import Record, format_time, parse_time

STATUS_OF_CONCLUSION: Final[Mapping[str, str]] = {
    "success": "success",
    "failure": "failed",
    "startup_failure": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
    "skipped": "n/a",
    "neutral": "n/a",
}
"""GitHub's run conclusions as record statuses; the others (``action_required``, ``stale``) are not results."""
BUILD_EVENTS: Final = ("push", "schedule", "workflow_dispatch")
"""The events of a run that may be a release build: runs the project's maintainers started on its own refs."""
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class CiBuild:
    project: Project
    release: str
    record: Record


def ci_workflow(project: Project, workflows: Mapping[str, str] | None) -> str | None:
    """The workflow file whose runs are ``project``'s builds, or None when it has not opted in."""
    if project.build.mode == "ci" and project.build.workflow:
        return project.build.workflow
    if workflows and project.name in workflows:
        return str(workflows[project.name])
    return None


def _same_workflow(path: str, workflow: str) -> bool:
    return path == workflow or path.endswith("/" + workflow.lstrip("/"))


def release_of(project: Project, run: Mapping[str, Any]) -> str | None:
    """``stable`` or ``head`` when the run built the project's stable or head ref (a branch or tag name,
    or the commit sha itself), else None: a run on a pull request branch is not a release build."""
    for release in project.releases:
        ref = project.ref(release)
        if ref and ref == run.get("head_sha" if _SHA.fullmatch(ref) else "head_branch"):
            return release
    return None


def _full_name(value: Any) -> str:
    return str(value.get("full_name") or "") if isinstance(value, Mapping) else ""


def not_own_run(run: Mapping[str, Any], repository: str) -> str | None:
    """Why a run of ``repository`` cannot be a build of it (a fork's head, an event a stranger can cause),
    or None when it can."""
    event = run.get("event")
    if event not in BUILD_EVENTS:
        return f"workflow_run {run.get('id')} of {repository} ran on {event!r}, not on {', '.join(BUILD_EVENTS)}"
    head = _full_name(run.get("head_repository"))
    if head.lower() != repository.lower():
        return f"workflow_run {run.get('id')} of {repository} ran on the code of {head or 'an unnamed repository'}"
    return None


def build_from_run(config: Config, payload: Mapping[str, Any], workflows: Mapping[str, str] | None) -> CiBuild | str:
    """The build record a ``workflow_run`` completed payload stands for, or a string saying why there is none."""
    run = payload.get("workflow_run") or {}
    repository = (payload.get("repository") or {}).get("full_name")
    conclusion = run.get("conclusion")
    status = STATUS_OF_CONCLUSION.get(str(conclusion))
    if payload.get("action") != "completed" or status is None:
        return f"not a result: action {payload.get('action')!r}, conclusion {conclusion!r}"
    stranger = not_own_run(run, str(repository))
    if stranger is not None:
        return stranger
    for project in config.active_projects():
        if not project.repository or project.repository.lower() != str(repository).lower():
            continue
        workflow = ci_workflow(project, workflows)
        if workflow is None or not _same_workflow(str(run.get("path", "")), workflow):
            continue
        release = release_of(project, run)
        if release is None:
            continue
        try:
            record = _record(project, release, status, run, str(repository), payload)
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            return f"workflow_run {run.get('id')} of {repository} cannot be recorded: {exc}"
        return CiBuild(project, release, record)
    return f"no project builds with {repository} {run.get('path')!r} on {run.get('head_branch')!r}"


def _record(
    project: Project, release: str, status: str, run: Mapping[str, Any], repository: str, payload: Mapping[str, Any]
) -> Record:
    started = parse_time(str(run.get("run_started_at") or run.get("created_at")))
    finished = parse_time(str(run.get("updated_at"))) if run.get("updated_at") else started
    workflow_name = run.get("name") or (payload.get("workflow") or {}).get("name") or run.get("path")
    provenance: dict[str, Any] = {"repository": repository, "id": int(run["id"]), "url": run["html_url"]}
    if run.get("run_attempt"):
        provenance["attempt"] = int(run["run_attempt"])
    if workflow_name:
        provenance["workflow"] = str(workflow_name)[:200]
    data: dict[str, Any] = {
        "schema_version": 1,
        "project": project.name,
        "release": release,
        "ref": project.ref(release),
        "sha": run.get("head_sha"),
        "stage": "build",
        "cloud": None,
        "arch": project.arch[0],
        "kubernetes": None,
        "status": status,
        "reason": None if status == "success" else f"{workflow_name} concluded {run.get('conclusion')}",
        "started_at": format_time(started),
        "finished_at": format_time(max(started, finished)),
        "url": run["html_url"],
        "run": provenance,
    }
    return Record.from_dict(data, source=f"workflow_run {run.get('id')} of {repository}")
