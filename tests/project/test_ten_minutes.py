"""The ten minutes from nothing to a CNCF project's results on GitHub (the README's "From nothing to a
project on GitHub"), walked with what runs on this machine.

1. **The status repository**: an empty repository on a stand-in for GitHub (``git http-backend`` over
   real HTTP on 127.0.0.1, demanding a token as GitHub does) is seeded by ``crosscloud init --repo URL``.
2. **The dashboard**: ``crosscloud serve`` of that URL, as a real process.
3. **The project**: a maintainer clones the status repository, runs ``crosscloud onboard --config`` for a
   new project (the CNCF Distribution registry, Debian's ``docker-registry`` 2.8.2, on the ``local``
   cloud), pushes the configuration, and commits the generated workflow and chart to the project.
4. **The first run**: the generated workflow, unchanged, under ``act`` with the action from this checkout,
   the variable ``CROSSCLOUD_STATUS_REPO`` and the secret ``CROSSCLOUD_STATUS_TOKEN``: build, the cloud
   job, and the recorder's one commit into the status repository.
5. **The badge**: the Markdown ``onboard`` printed, fetched from ``crosscloud serve`` (image and link).

Test doubles only at the GitHub boundary: the git server stands in for github.com, and GitHub's own
actions (checkout, artifacts, setup-python, setup-terraform) are the stand-ins of
``tests/workflows/stand-ins/``. Everything else is real: git, the registry binary, terraform's ``local``
module, the composite action installed by pip, the writer, the app. The walk's time is printed as JSON
(with the load average: the machine is shared)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.act import INSTALL_HINT, copy_project, find_tool, git_commit_all, local_repositories, run_act
from tests.helpers.git_http_server import GitHTTPServer
from tests.helpers.status_repos import git

TOKEN = "ten-minutes-token-61c2"
PROJECT = "distribution"
BADGE = re.compile(r"\[!\[Cross-Cloud CI\]\((?P<image>http://[^)\s]+)\)\]\((?P<link>http://[^)\s]+)\)")
WORKFLOW = Path(".github/workflows/cross-cloud.yml")


def crosscloud(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSCLOUD_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "crosscloud", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


def git_with_token(url: str, *args: str, cwd: Path) -> None:
    """git against the stand-in for GitHub, the token in a header (as ``actions/checkout`` does it)."""
    import base64

    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    subprocess.run(["git", "-c", f"http.{url}/.extraHeader=Authorization: Basic {basic}", "-c", "user.name=Maintainer",
                    "-c", "user.email=maintainer@example.org", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=120)  # fmt: skip


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http://127.0.0.1 of the test
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Started servers, ended by pid afterwards."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.slow
def test_from_nothing_to_a_badge_in_ten_minutes(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, serve: list[subprocess.Popen[str]]
) -> None:
    act = find_tool("act")
    if act is None:
        pytest.skip(f"act is not installed: {INSTALL_HINT}")
    for tool in ("terraform", "docker-registry", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"the walk needs {tool} (scripts/system-deps.sh)")
    steps: dict[str, float] = {}
    started = last = time.monotonic()

    def lap(name: str) -> None:
        nonlocal last
        now = time.monotonic()
        steps[name] = round(now - last, 1)
        last = now

    github = tmp_path / "github"
    (github / "cncf").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(github / "cncf" / "status.git")], check=True)
    with GitHTTPServer(github, TOKEN) as server:
        status_url = f"{server.url}/cncf/status.git"

        # 1. The status repository: an empty GitHub repository, seeded.
        init = crosscloud("init", "--repo", status_url, cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        assert ".github/workflows/nightly.yml" in init.stdout
        lap("init")

        # 2. The dashboard (its mirror outside tmp_path: act's clean-up ends whatever mentions tmp_path).
        env = {**os.environ, "CROSSCLOUD_TOKEN": TOKEN, "CROSSCLOUD_REFRESH_SECONDS": "1"}
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "crosscloud", "serve", "--repo", status_url, "--port", "0",
             "--mirror-dir", str(tmp_path_factory.mktemp("dashboard"))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        serve.append(dashboard)
        assert dashboard.stdout is not None
        banner = dashboard.stdout.readline()
        dashboard_url = re.search(r"at (http://127\.0\.0\.1:\d+)/", banner)
        assert dashboard_url, banner
        base = dashboard_url.group(1)
        lap("serve")

        # 3. The project: clone the status repository, onboard, push the configuration, commit the workflow.
        maintainer = tmp_path / "maintainer"
        maintainer.mkdir()
        git_with_token(server.url, "clone", "-q", status_url, "status", cwd=maintainer)
        project = maintainer / PROJECT
        project.mkdir()
        onboard = crosscloud(
            "onboard", "--no-input", "--name", PROJECT, "--display-name", "Distribution",
            "--repository", "distribution/distribution", "--stable-ref", "v2.8.2", "--head-ref", "main",
            "--cncf-relation", "Sandbox", "--clouds", "local", "--binary", "docker-registry",
            "--run", "env REGISTRY_HTTP_ADDR=127.0.0.1:{port} REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY={dir}/data "
            "REGISTRY_AUTH_HTPASSWD_PATH={dir}/htpasswd {binary.docker-registry} serve /etc/docker/registry/config.yml",
            "--e2e", "curl --fail --silent --show-error http://127.0.0.1:{port}/",
            "--config", str(maintainer / "status" / "cross-cloud.yml"), "--output-dir", str(project),
            "--dashboard-url", base, cwd=maintainer,
        )  # fmt: skip
        assert onboard.returncode == 0, onboard.stdout + onboard.stderr
        badge = BADGE.search(onboard.stdout)
        assert badge, onboard.stdout
        check = crosscloud("validate", "status/cross-cloud.yml", cwd=maintainer)
        assert check.returncode == 0, check.stderr
        for args in (["commit", "-qam", f"Add {PROJECT}"], ["push", "-q", "origin", "main"]):
            git_with_token(server.url, *args, cwd=maintainer / "status")
        git_commit_all(project, remote="https://github.com/distribution/distribution.git")
        lap("onboard")

        # 4. The first run: the generated workflow as it is, the action from this checkout.
        before = git(github / "cncf" / "status.git", "rev-parse", "main")
        action_copy = copy_project(tmp_path / "cross-cloud-ci")
        workflow = project / WORKFLOW
        run = run_act(
            act, project, workflow, cache=tmp_path / "act-cache",
            local_repos=local_repositories([workflow], action_copy),
            variables={"CROSSCLOUD_STATUS_REPO": status_url},
            secrets={"CROSSCLOUD_STATUS_TOKEN": TOKEN},
            env={"STANDIN_ARTIFACTS": str(tmp_path / "artifacts"), "STANDIN_CHECKOUT_SOURCE": str(project)},
        )  # fmt: skip
        assert run.returncode is not None, f"act ran past its timeout\n{run.tail()}"
        assert not run.leftovers, run.leftovers
        assert run.job_results().get("record") == ["success"], f"{run.job_results()}\n{run.tail()}"
        status_git = github / "cncf" / "status.git"
        commits = git(status_git, "rev-list", f"{before}..main").split()
        assert len(commits) == 1, commits  # the recorder's one commit
        base_path = f"results/{PROJECT}/stable/amd64"
        files = ("build.json", "local/host/provision.json", "local/host/deploy.json", "local/host/e2e.json")
        cells = [json.loads(git(status_git, "show", f"main:{base_path}/{p}")) for p in files]
        assert [(c["stage"], c["status"]) for c in cells] == [
            ("build", "success"), ("provision", "success"), ("deploy", "success"), ("e2e", "success")
        ], [(c["stage"], c["status"], c.get("reason")) for c in cells]  # fmt: skip
        assert all(c["ref"] == "v2.8.2" for c in cells)  # what ran: Debian's 2.8.2, checked against the ref
        assert cells[0]["artifacts"]["binaries"][0]["version"] == "2.8.2"
        assert cells[0]["run"]["repository"] == "distribution/distribution"
        lap("first run")

        # 5. The badge, as the project's README shows it.
        deadline = time.monotonic() + 60
        while True:
            code, kind, svg = get(badge.group("image"))
            if (code == 200 and "success" in svg) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert code == 200 and kind.startswith("image/svg+xml"), (code, kind)
        assert 'aria-label="' in svg and "success" in svg, svg[:500]
        page_code, page_kind, page = get(badge.group("link"))
        assert page_code == 200 and page_kind.startswith("text/html") and "Distribution" in page
        lap("badge")

    total = round(time.monotonic() - started, 1)
    load = os.getloadavg()
    print(json.dumps({"walk_seconds": total, "steps": steps, "loadavg": [round(x, 2) for x in load]}))
    assert total < 600, f"the walk took {total} s, more than ten minutes: {steps}"
