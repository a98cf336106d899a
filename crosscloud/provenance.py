"""The GitHub Actions run a record comes from, read from the runner's standard environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def run_provenance(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """``run`` of a result record (repository, id, attempt, job, workflow, url), or None outside Actions."""
    env = os.environ if env is None else env
    if not env.get("GITHUB_RUN_ID", "").isdigit():
        return None
    run: dict[str, Any] = {"id": int(env["GITHUB_RUN_ID"])}
    if env.get("GITHUB_RUN_ATTEMPT", "").isdigit():
        run["attempt"] = int(env["GITHUB_RUN_ATTEMPT"])
    for field, name in (("repository", "GITHUB_REPOSITORY"), ("job", "GITHUB_JOB"), ("workflow", "GITHUB_WORKFLOW")):
        if env.get(name):
            run[field] = env[name]
    if env.get("GITHUB_REPOSITORY"):
        run["url"] = f"{server(env)}/{env['GITHUB_REPOSITORY']}/actions/runs/{run['id']}"
    return run


def server(env: Mapping[str, str]) -> str:
    return env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")


def job_url(env: Mapping[str, str] | None = None, job_id: str | None = None) -> str | None:
    """``<server>/<repo>/actions/runs/<run>/job/<check run id>`` when the job id is known (the action
    passes ``job.check_run_id``), else the run's URL."""
    env = os.environ if env is None else env
    run = run_provenance(env)
    if run is None or "url" not in run:
        return None
    return f"{run['url']}/job/{job_id}" if job_id and job_id.isdigit() else str(run["url"])
