"""``crosscloud run`` as a user runs it: a real process over the default matrix (real binaries, real
terraform), bad filters refused before anything runs, and Ctrl-C answered with teardown and
``cancelled`` records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosscloud.status_repo.seed import init_status_repo
from tests.helpers.status_repos import git, snapshot

VENV_BIN = str(Path(sys.executable).parent)


def crosscloud(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "crosscloud", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _running(command_line: str) -> bool:
    return bool(subprocess.run(["pgrep", "-f", command_line], capture_output=True, text=True).stdout.split())


def cells(repo: Path) -> dict[str, str]:
    files = git(repo, "ls-tree", "-r", "--name-only", "main", "results").splitlines()
    return {f: json.loads(git(repo, "show", f"main:{f}"))["status"] for f in files}


@pytest.mark.slow
def test_the_default_matrix_runs_green_and_records_every_cell(tmp_path: Path) -> None:
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    proc = crosscloud("run", "--repo", str(repo), "--jobs", "2", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    recorded = cells(repo)
    rows = [("prometheus", "stable"), ("etcd", "stable"), ("nats", "stable"), ("nats", "head")]
    for project, release in rows:
        base = f"results/{project}/{release}/amd64"
        assert recorded[f"{base}/build.json"] == "success"
        for stage in ("provision", "deploy", "e2e"):
            assert recorded[f"{base}/local/host/{stage}.json"] == "success", (project, release, stage)
    assert len(recorded) == 16
    assert "PROJECT     RELEASE  RAN      CLOUD" in out and "[  8/8]" in out
    # what ran, as recorded: the versions the reuse builds checked against their refs
    assert "nats        head     v2.15.1  local" in out and "etcd        stable   v3.4.23  local" in out
    assert (tmp_path / "var" / "logs" / "nats-head-amd64-local.log").is_file()
    assert not any((tmp_path / "var" / "work").iterdir())
    nats_head = json.loads(git(repo, "show", "main:results/nats/head/amd64/build.json"))
    assert nats_head["artifacts"]["binaries"][0]["version"] == "2.15.1"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--project", "coredns"], "unknown project 'coredns'; allowed: prometheus, etcd, nats"),
        (["--cloud", "aws"], "unknown cloud 'aws'; allowed: local"),
        (["--release", "beta"], "invalid choice: 'beta'"),
        (["--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_bad_filters_are_refused_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    before = snapshot(repo)
    proc = crosscloud("run", "--repo", str(repo), *args, cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and message in err
    assert snapshot(repo) == before and not (tmp_path / "var").exists()


def test_a_remote_without_credentials_is_refused_before_anything_runs(tmp_path: Path) -> None:
    proc = crosscloud("run", "--repo", "https://github.com/cncf/cross-cloud-status.git", cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "needs a token to push results: set CROSSCLOUD_TOKEN" in err


SLEEPER = """
clouds:
  local: {kubernetes: false}
projects:
  sleeper:
    timeout: 120
    stable_ref: v1
    releases: [stable]
    build:
      ref_match: floor  # any coreutils from 1 on
      binaries: [{name: sleep, version_pattern: "([0-9]+[.][0-9]+)", source: "debian:coreutils"}]
    run:
      command: ["{binary.sleep}", "600"]
      ready: {tcp: "{port}"}
"""


@pytest.mark.slow
def test_ctrl_c_tears_down_and_records_the_interrupted_cells_as_cancelled(tmp_path: Path) -> None:
    config = tmp_path / "cross-cloud.yml"
    config.write_text(SLEEPER)
    repo = tmp_path / "status.git"
    init_status_repo(repo, config)
    proc = crosscloud("run", "--repo", str(repo), cwd=tmp_path)
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    while not _running("sleep 600"):  # the deploy is under way (under load, provisioning alone can take seconds)
        assert proc.poll() is None and time.monotonic() < deadline, "the deploy never started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted: stopping" in out
    recorded = cells(repo)
    base = "results/sleeper/stable/amd64"
    assert recorded[f"{base}/build.json"] == "success"
    assert recorded[f"{base}/local/host/provision.json"] == "success"
    assert recorded[f"{base}/local/host/deploy.json"] == "cancelled"
    assert recorded[f"{base}/local/host/e2e.json"] == "n/a"
    assert not _running("sleep 600")
    assert not any((tmp_path / "var" / "work").iterdir())  # sandbox destroyed, scratch removed
