"""``crosscloud init --repo https://...``: seeding an existing, empty repository the way a new GitHub
repository is (created without a README), over real git smart HTTP on 127.0.0.1 that demands a token, as
GitHub does. The first commit is the same as a local ``init``'s: ``status-data/`` as a template
repository (README, LAYOUT.md, ``.github/workflows/nightly.yml``) and the configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.git_http_server import GitHTTPServer
from tests.helpers.paths import CNCF_2018, ROOT
from tests.helpers.status_repos import git

TOKEN = "init-test-token-9d3a"


def crosscloud(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    if token is not None:
        env["CROSSCLOUD_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "crosscloud", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=False, timeout=120)  # fmt: skip


def empty_repository(root: Path, name: str = "status.git") -> Path:
    repo = root / name
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(repo)], check=True)
    return repo


def tree(repo: Path) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "main").split())


def test_init_seeds_an_empty_repository_over_https_with_the_token_in_a_header(tmp_path: Path) -> None:
    repo = empty_repository(tmp_path)
    local = tmp_path / "local.git"
    assert crosscloud("init", "--repo", str(local)).returncode == 0
    with GitHTTPServer(tmp_path, TOKEN) as server:
        url = f"{server.url}/{repo.name}"
        result = crosscloud("init", "--repo", url)
        assert result.returncode == 0, result.stderr
        assert f"status repository at {url} (main at " in result.stdout
        assert "seeded" in result.stdout and ".github/workflows/nightly.yml" in result.stdout
        assert all(r["authorization"].startswith("Basic ") for r in server.requests[1:])
        assert all(TOKEN not in r["path"] for r in server.requests)
        # the same first commit as a local init: the template repository's files and the configuration
        seeded = {"cross-cloud.yml", "README.md", "LAYOUT.md", ".github/workflows/nightly.yml"}
        assert tree(repo) == tree(local) >= seeded
        for path in tree(repo):
            assert git(repo, "show", f"main:{path}") == git(local, "show", f"main:{path}")
        assert git(repo, "log", "--format=%s", "main") == "Initialise the status repository"
        assert "__init__.py" not in tree(repo)
        assert TOKEN not in result.stdout + result.stderr

        # Run again: refused (it is not empty any more), unless --exist-ok, which finds the status repository.
        again = crosscloud("init", "--repo", url)
        assert again.returncode == 2 and "is not empty (branches: main)" in again.stderr
        ok = crosscloud("init", "--repo", url, "--exist-ok")
        assert ok.returncode == 0, ok.stderr
        assert git(repo, "rev-list", "--count", "main") == "1"
        # --update-config commits another configuration through the writer
        updated = crosscloud("init", "--repo", url, "--exist-ok", "--update-config", "--config", str(CNCF_2018))
        assert updated.returncode == 0, updated.stderr
        assert git(repo, "show", "main:cross-cloud.yml") == CNCF_2018.read_text(encoding="utf-8").strip()


def test_a_repository_with_any_branch_is_left_alone(tmp_path: Path) -> None:
    repo = empty_repository(tmp_path)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "--quiet", "-b", "trunk", str(work)], check=True)
    (work / "README.md").write_text("mine\n")
    for args in (["add", "README.md"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "mine"],
                 ["push", "--quiet", str(repo), "trunk"]):  # fmt: skip
        subprocess.run(["git", "-C", str(work), *args], check=True)
    before = git(repo, "for-each-ref")
    with GitHTTPServer(tmp_path, TOKEN) as server:
        for extra in ([], ["--exist-ok"]):
            result = crosscloud("init", "--repo", f"{server.url}/{repo.name}", *extra)
            assert result.returncode == 2, result.stderr
            assert "is not empty (branches: trunk): crosscloud init seeds an empty repository" in result.stderr
    assert git(repo, "for-each-ref") == before


def test_no_token_a_wrong_token_and_a_bad_config_push_nothing(tmp_path: Path) -> None:
    repo = empty_repository(tmp_path)
    bad = tmp_path / "bad.yml"
    bad.write_text("clouds: {}\nprojects: {}\n")
    with GitHTTPServer(tmp_path, TOKEN) as server:
        url = f"{server.url}/{repo.name}"
        missing = crosscloud("init", "--repo", url, token=None)
        assert missing.returncode == 2 and "needs a token that may push to it: set CROSSCLOUD_TOKEN" in missing.stderr
        wrong = crosscloud("init", "--repo", url, token="not-the-token")
        assert wrong.returncode == 1 and "cannot read" in wrong.stderr
        assert "not-the-token" not in wrong.stderr
        invalid = crosscloud("init", "--repo", url, "--config", str(bad))
        assert invalid.returncode == 2 and "bad.yml" in invalid.stderr
        assert not any(r["path"].endswith("git-receive-pack") for r in server.requests)
    assert git(repo, "for-each-ref") == ""


def test_a_file_url_is_seeded_like_a_remote(tmp_path: Path) -> None:
    repo = empty_repository(tmp_path)
    result = crosscloud("init", "--repo", f"file://{repo}", token=None)
    assert result.returncode == 0, result.stderr
    assert "cross-cloud.yml" in tree(repo)
