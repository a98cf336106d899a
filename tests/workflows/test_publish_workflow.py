"""``workflows-templates/publish.yml``: the status site on GitHub Pages.

- its shape: on push to main (and by hand), read-only but for the deploy job's ``pages: write`` and
  ``id-token: write``, one ``pages`` concurrency group in which a newer commit's publish cancels an older one
  (safe here, unlike the writers' workflows: publishing never writes the status repository);
- under ``act`` (``-P ubuntu-latest=-self-hosted``) in a status repository's own repository, both jobs run
  up to the deploy step: the uploaded Pages artifact is exactly the site ``crosscloud publish`` makes of that
  repository for that address, and the deploy step finds it. GitHub's Pages actions are stand-ins (test
  doubles at the GitHub boundary, ``tests/workflows/stand-ins/``); the action that installs crosscloud is this
  project's own files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.act import INSTALL_HINT, PROJECT_ROOT, copy_project, find_tool, git_commit_all, local_repositories
from tests.helpers.act import run_act as act_run
from tests.helpers.app_results import ALL_GREEN, pipeline
from tests.helpers.status_repos import git

TEMPLATE = PROJECT_ROOT / "workflows-templates" / "publish.yml"
PAGES_URL = "https://example.github.io/status"


def load() -> dict[Any, Any]:
    data = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_publish_template_shape() -> None:
    data = load()
    triggers = data[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"] == {"branches": ["main"]} and "workflow_dispatch" in triggers
    assert data["permissions"] == {"contents": "read"}
    assert data["concurrency"] == {"group": "pages", "cancel-in-progress": True}
    publish, deploy = data["jobs"]["publish"], data["jobs"]["deploy"]
    assert "permissions" not in publish  # it only reads
    assert deploy["needs"] == "publish"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    uses = [s.get("uses", "").split("@")[0] for job in (publish, deploy) for s in job["steps"]]
    assert uses == ["crosscloudci/cross-cloud-ci", "actions/configure-pages", "", "actions/upload-pages-artifact",
                    "actions/deploy-pages"]  # fmt: skip
    render = next(s for s in publish["steps"] if "run" in s)
    assert "publish --repo" in render["run"] and "--public-url" in render["run"]


def files_of(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def act_root(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """(act, a copy of this project for --local-repository, the tool cache); the cache is removed after."""
    act = find_tool("act")
    if act is None:
        pytest.fail(f"act is not installed: {INSTALL_HINT}")
    cache = tmp_path / "act-cache"
    yield act, copy_project(tmp_path / "cross-cloud-ci"), cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.slow
def test_publish_workflow_uploads_the_site_and_reaches_the_deploy_step(
    act_root: tuple[Path, Path, Path], status_repo: Path, tmp_path: Path, writer_for: Any
) -> None:
    act, action_copy, cache = act_root
    seeded_repo = status_repo
    writer_for(seeded_repo).write(pipeline("etcd", "stable", {**ALL_GREEN, "e2e": "failed"}, run=300))
    writer_for(seeded_repo).write(pipeline("prometheus", "head", ALL_GREEN, run=301))
    work = tmp_path / "status"
    workflow = work / ".github" / "workflows" / "publish.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    git_commit_all(work, remote="https://github.com/example/status.git")
    artifacts = tmp_path / "artifacts"
    run = act_run(
        act,
        work,
        workflow,
        cache=cache,
        local_repos=local_repositories([workflow], action_copy),
        event="push",
        variables={"CROSSCLOUD_STATUS_REPO": str(seeded_repo)},
        env={"STANDIN_ARTIFACTS": str(artifacts), "STANDIN_PAGES_URL": PAGES_URL},
    )
    assert run.returncode is not None, f"act ran past its timeout and was killed\n{run.tail()}"
    assert not run.leftovers, f"processes left behind (now ended): {run.leftovers}"
    assert run.job_results() == {"publish": ["success"], "deploy": ["success"]}, run.tail()
    assert (artifacts / "github-pages.deployed").exists()

    site = tmp_path / "uploaded"
    with tarfile.open(artifacts / "github-pages" / "artifact.tar") as tar:
        tar.extractall(site, filter="data")
    expected = tmp_path / "expected"
    subprocess.run(
        [sys.executable, "-m", "crosscloud", "publish", "--repo", str(seeded_repo), "--out", str(expected),
         "--public-url", f"{PAGES_URL}/", "--mirror-dir", str(tmp_path / "mirror"), "--quiet"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert files_of(site) == files_of(expected)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="/status/projects/etcd"' in index and 'href="/status/static/style.css"' in index
    assert git(seeded_repo, "rev-parse", "main") in (site / "manifest.json").read_text(encoding="utf-8")
