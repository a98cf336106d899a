"""Builds the betamax cassettes of the check-run tests: ``python -m tests.helpers.check_run_cassettes`` writes
``tests/app/cassettes/check_runs_*.json``.

Like the other cassettes here they are not recordings (this machine cannot reach GitHub) but GitHub's
documented conversations, written down: the requests are what the REST reference says the checks API
takes (``POST /repos/{owner}/{repo}/check-runs``, ``PATCH /repos/{owner}/{repo}/check-runs/{id}``,
``GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=``) with the exact bodies the code must
send, and the answers are shaped like GitHub's documented check-run object (the ``check_run`` of GitHub's
``check_run`` webhook example, octokit/webhooks) and the installation, token and repository answers of the
existing cassettes. Each answer is used once (betamax, ``tests/helpers/github_replay.py``): a duplicated check
run, an extra request or a different body fails the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

CASSETTES = Path(__file__).resolve().parents[1] / "app" / "cassettes"
API = "https://api.github.com"
REPOSITORY = "etcd-io/etcd"
SHA = "a" * 40
INSTALLATION = 1234
PUBLIC_URL = "https://ci.example.org"
JOB = "https://github.com/etcd-io/etcd/actions/runs/100/job/200"
BUILD = "cross-cloud / stable / build"
LOCAL = "cross-cloud / stable / local"
BUILD_ID, LOCAL_ID = 11, 12
STARTED, FINISHED = "2026-11-01T08:00:00Z", "2026-11-01T08:05:00Z"

HEADERS = {
    "content-type": ["application/json; charset=utf-8"],
    "x-github-media-type": ["github.v3; format=json"],
    "x-ratelimit-limit": ["5000"],
    "x-ratelimit-remaining": ["4999"],
    "x-ratelimit-reset": ["4102444800"],
    "x-ratelimit-resource": ["core"],
    "x-ratelimit-used": ["1"],
}


def interaction(method: str, path: str, status: int, body: Any, request: Any = None) -> dict[str, Any]:
    return {
        "recorded_at": "2026-11-01T09:00:00",
        "request": {
            "body": {"encoding": "utf-8", "string": "" if request is None else json.dumps(request)},
            "headers": {"Accept": ["application/vnd.github.v3+json"], "Authorization": ["<AUTHORIZATION>"]},
            "method": method,
            "uri": f"{API}{path}",
        },
        "response": {
            "body": {"encoding": "utf-8", "string": "" if body is None else json.dumps(body, indent=1)},
            "headers": HEADERS,
            "status": {"code": status, "message": {200: "OK", 201: "Created", 404: "Not Found"}[status]},
            "url": f"{API}{path}",
        },
    }


def installation() -> dict[str, Any]:
    return interaction("GET", f"/repos/{REPOSITORY}/installation", 200, {
        "id": INSTALLATION, "account": {"login": "etcd-io", "id": 2000, "type": "Organization"},
        "repository_selection": "selected", "app_id": 4242, "app_slug": "cross-cloud-ci",
        "access_tokens_url": f"{API}/app/installations/{INSTALLATION}/access_tokens",
        "permissions": {"checks": "write", "issues": "write", "metadata": "read"}, "events": ["check_run"],
    })  # fmt: skip


def not_installed() -> dict[str, Any]:
    return interaction("GET", f"/repos/{REPOSITORY}/installation", 404, {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app",
    })  # fmt: skip


def token() -> dict[str, Any]:
    return interaction("POST", f"/app/installations/{INSTALLATION}/access_tokens", 201, {
        "token": "ghs_111111111111111111111111111111111111", "expires_at": "2099-01-01T00:00:00Z",
        "permissions": {"checks": "write", "issues": "write", "metadata": "read"}, "repository_selection": "selected",
    }, request={"permissions": {}})  # fmt: skip


def repository() -> dict[str, Any]:
    return interaction("GET", f"/repos/{REPOSITORY}", 200, {
        "id": 1000, "node_id": "MDEwOlJlcG9zaXRvcnkxMDAw", "name": "etcd", "full_name": REPOSITORY,
        "private": False, "owner": {"login": "etcd-io", "id": 2000, "type": "Organization"},
        "html_url": f"https://github.com/{REPOSITORY}", "url": f"{API}/repos/{REPOSITORY}", "default_branch": "main",
    })  # fmt: skip


def check_run(number: int, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A check run as GitHub answers it (the documented object), with what ``body`` set."""
    return {
        "id": number,
        "node_id": f"CR_kwDOA{number}",
        "head_sha": SHA,
        "external_id": body["external_id"],
        "url": f"{API}/repos/{REPOSITORY}/check-runs/{number}",
        "html_url": f"https://github.com/{REPOSITORY}/runs/{number}",
        "details_url": body.get("details_url"),
        "status": body["status"],
        "conclusion": body.get("conclusion"),
        "started_at": body["started_at"],
        "completed_at": body.get("completed_at"),
        "output": {
            **body["output"],
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{API}/repos/{REPOSITORY}/check-runs/{number}/annotations",
        },
        "name": name,
        "check_suite": {"id": 5},
        "app": {"id": 4242, "slug": "cross-cloud-ci", "name": "Cross-Cloud CI"},
        "pull_requests": [],
    }


def commit() -> dict[str, Any]:
    """GitHub's "get a commit" (``?page=1``: PyGithub pages the commit's files)."""
    return interaction("GET", f"/repos/{REPOSITORY}/commits/{SHA}?page=1", 200, {
        "sha": SHA, "node_id": "C_kwDOA", "url": f"{API}/repos/{REPOSITORY}/commits/{SHA}",
        "html_url": f"https://github.com/{REPOSITORY}/commit/{SHA}",
        "commit": {"message": "Release v3.4.23", "author": {"name": "A", "email": "a@example.org",
                                                             "date": "2026-10-31T12:00:00Z"}},
        "parents": [], "files": [], "stats": {"additions": 0, "deletions": 0, "total": 0},
    })  # fmt: skip


def listing(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return interaction("GET", f"/repos/{REPOSITORY}/commits/{SHA}/check-runs?check_name={quote(name)}", 200,
                       {"total_count": len(runs), "check_runs": runs})  # fmt: skip


def build_body() -> dict[str, Any]:
    return {
        "external_id": "results/etcd/stable/amd64@etcd-io/etcd/100",
        "status": "completed",
        "started_at": STARTED,
        "output": {
            "title": "success: build",
            "summary": "**etcd stable build** at ` v3.4.23 ` (aaaaaaaaaaaa), by Cross-Cloud CI.\n\n"
            "| stage | status | reason |\n| --- | --- | --- |\n| build | success |  |\n\n"
            f"[deployment page]({PUBLIC_URL}/projects/etcd) · [job]({JOB})",
        },
        "details_url": f"{PUBLIC_URL}/projects/etcd",
        "conclusion": "success",
        "completed_at": FINISHED,
    }


def local_body(*, failed: bool) -> dict[str, Any]:
    page = f"{PUBLIC_URL}/projects/etcd/stable/local?arch=amd64"
    deploy = "| deploy | failed | ` etcd did not answer on 127.0.0.1:2379 ` |" if failed else "| deploy | success |  |"
    e2e = "| e2e | n/a | ` deploy failed ` |" if failed else "| e2e | success |  |"
    return {
        "external_id": "results/etcd/stable/amd64/local/host@etcd-io/etcd/100",
        "status": "completed",
        "started_at": STARTED,
        "output": {
            "title": "deploy: failed: etcd did not answer on 127.0.0.1:2379"
            if failed
            else "success: provision, deploy, e2e",
            "summary": "**etcd stable on local** at ` v3.4.23 ` (aaaaaaaaaaaa), by Cross-Cloud CI.\n\n"
            f"| stage | status | reason |\n| --- | --- | --- |\n| provision | success |  |\n{deploy}\n{e2e}\n\n"
            f"[deployment page]({page}) · [job]({JOB})",
        },
        "details_url": page,
        "conclusion": "failure" if failed else "success",
        "completed_at": FINISHED,
    }


def create(number: int, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return interaction("POST", f"/repos/{REPOSITORY}/check-runs", 201, check_run(number, name, body),
                       request={"name": name, "head_sha": SHA, **body})  # fmt: skip


def update(number: int, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return interaction("PATCH", f"/repos/{REPOSITORY}/check-runs/{number}", 200, check_run(number, name, body),
                       request=body)  # fmt: skip


def cassettes() -> dict[str, list[dict[str, Any]]]:
    failed, green = local_body(failed=True), local_body(failed=False)
    earlier_run = {**build_body(), "external_id": "results/etcd/stable/amd64@etcd-io/etcd/7"}  # another run's
    return {
        # A first result: the build and the cloud, each created after a search that finds nothing.
        "check_runs_create": [
            installation(), token(), repository(),
            commit(), listing(BUILD, []), create(BUILD_ID, BUILD, build_body()),
            commit(), listing(LOCAL, []), create(LOCAL_ID, LOCAL, failed),
        ],
        # A re-run of the same workflow run (attempt 2) turned the cloud green: found and updated in place.
        "check_runs_rerun": [
            installation(), token(), repository(),
            commit(), listing(LOCAL, [check_run(LOCAL_ID, LOCAL, failed)]), update(LOCAL_ID, LOCAL, green),
        ],
        # The store was lost: both check runs are found by name and external id, updated, none created.
        "check_runs_found": [
            installation(), token(), repository(),
            commit(),
            listing(BUILD, [check_run(99, BUILD, earlier_run), check_run(BUILD_ID, BUILD, build_body())]),
            update(BUILD_ID, BUILD, build_body()),
            commit(), listing(LOCAL, [check_run(LOCAL_ID, LOCAL, green)]), update(LOCAL_ID, LOCAL, green),
        ],
        # The App is not installed on the project's repository: one question, then nothing.
        "check_runs_not_installed": [not_installed()],
    }  # fmt: skip


def main() -> None:
    for name, interactions in cassettes().items():
        text = json.dumps({"http_interactions": interactions, "recorded_with": "betamax/0.9.0"}, indent=1)
        (CASSETTES / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        print(f"wrote {CASSETTES / name}.json ({len(interactions)} interactions)")


if __name__ == "__main__":
    main()
