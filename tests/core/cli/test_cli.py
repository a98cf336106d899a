"""The ``crosscloud`` command, run as a real process the way users and the action run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crosscloud.records import Record
from tests.helpers.paths import CNCF_2018, CNCF_2020
from tests.helpers.status_repos import git, record_data


def crosscloud(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crosscloud", *args], capture_output=True, text=True, env=env,
                          check=False, timeout=120)  # fmt: skip


def test_init_is_idempotent_only_when_asked(tmp_path: Path) -> None:
    repo = tmp_path / "var" / "status.git"
    first = crosscloud("init", "--repo", str(repo))
    assert first.returncode == 0, first.stderr
    assert "status repository at" in first.stdout
    assert git(repo, "show", "main:cross-cloud.yml").startswith("# The embedded default")
    again = crosscloud("init", "--repo", str(repo))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert crosscloud("init", "--repo", str(repo), "--exist-ok").returncode == 0


def test_init_with_a_config_then_validate(tmp_path: Path) -> None:
    repo = tmp_path / "cncf.git"
    assert crosscloud("init", "--repo", str(repo), "--config", str(CNCF_2018)).returncode == 0
    assert git(repo, "show", "main:cross-cloud.yml") == CNCF_2018.read_text().strip()
    out = crosscloud("validate", str(CNCF_2018))
    assert out.returncode == 0
    assert out.stdout.strip().endswith("valid: 7 projects (7 active), 13 clouds (8 active)")


def test_record_status_and_history_round_trip(tmp_path: Path) -> None:
    repo = str(tmp_path / "status.git")
    crosscloud("init", "--repo", repo)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
           "GITHUB_REPOSITORY": "nats-io/nats-server", "GITHUB_JOB": "deploy", "GITHUB_WORKFLOW": "Cross-Cloud CI",
           "HOME": str(tmp_path)}  # fmt: skip
    build = crosscloud("record", "--repo", repo, "--project", "nats", "--release", "head", "--stage", "build",
                       "--status", "success", "--sha", "0123456789abcdef0123456789abcdef01234567", env=env)  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert "recorded: nats head v2.15.1 build: success" in build.stdout
    deploy = crosscloud(
        *("record", "--repo", repo, "--project", "nats", "--release", "head", "--stage", "deploy"),
        *("--cloud", "local", "--status", "failed", "--reason", "no leader after 30 s"),
        env=env,
    )
    assert deploy.returncode == 0, deploy.stderr
    stored = json.loads(git(Path(repo), "show", "main:results/nats/head/amd64/local/host/deploy.json"))
    assert stored["run"] == {
        "id": 42,
        "attempt": 2,
        "repository": "nats-io/nats-server",
        "job": "deploy",
        "workflow": "Cross-Cloud CI",
        "url": "https://github.com/nats-io/nats-server/actions/runs/42",
    }
    assert stored["kubernetes"] is None and stored["ref"] == "v2.15.1"

    status = crosscloud("status", "--repo", repo)
    assert status.returncode == 0, status.stderr
    nats_head = next(line for line in status.stdout.splitlines() if line.split()[:2] == ["nats", "head"])
    assert nats_head.split() == ["nats", "head", "0123456", "success", "failed", "failed"]  # words; the summary
    grid = json.loads(crosscloud("status", "--repo", repo, "--json").stdout)
    rows = {(r["project"], r["release"]): r for s in grid["sections"] for r in s["rows"]}
    assert rows["nats", "head"]["clouds"][0]["status"] == "failed"
    assert rows["nats", "head"]["clouds"][0]["environment"] == "host"

    history = crosscloud("history", "--repo", repo, "--project", "nats", "--json")
    entries = json.loads(history.stdout)
    assert [(e["stage"], e["status"]) for e in entries] == [("deploy", "failed"), ("build", "success")]
    text = crosscloud("history", "--repo", repo, "--project", "nats", "--stage", "deploy").stdout
    assert "no leader after 30 s" in text
    # The insight closes the table: since when the cell fails, and that it never succeeded (no rollback target).
    insight = text.rstrip().splitlines()[-1]
    assert "failing since" in insight and "1 in a row, project" in insight and "never succeeded" in insight


def test_record_files_land_in_one_commit(tmp_path: Path) -> None:
    repo = tmp_path / "status.git"
    crosscloud("init", "--repo", str(repo))
    files = []
    for project in ("etcd", "nats", "prometheus"):
        path = tmp_path / f"{project}.json"
        path.write_text(Record.from_dict(record_data(project=project, ref=None)).to_json())
        files.append(str(path))
    out = crosscloud("record", "--repo", str(repo), *files)
    assert out.returncode == 0, out.stderr
    assert git(repo, "rev-list", "--count", "main") == "2"
    assert git(repo, "log", "-1", "--format=%s") == "etcd, nats, prometheus: 3 results: 3 success"
    again = crosscloud("record", "--repo", str(repo), *files)
    assert again.stdout.count("unchanged (already stored)") == 3
    # a directory stands for its *.json files (a fan-in recorder's night is more names than argv holds)
    (tmp_path / "notes.txt").write_text("not a record")
    by_directory = crosscloud("record", "--repo", str(repo), str(tmp_path))
    assert by_directory.returncode == 0, by_directory.stderr
    assert by_directory.stdout.count("unchanged (already stored)") == 3


def test_every_command_has_help() -> None:
    for command in ("init", "validate", "record", "status", "history"):
        out = crosscloud(command, "--help")
        assert out.returncode == 0 and "usage: crosscloud" in out.stdout


def test_init_update_config_commits_a_changed_configuration_once(tmp_path: Path) -> None:
    repo = tmp_path / "status.git"
    assert crosscloud("init", "--repo", str(repo)).returncode == 0
    out = crosscloud("init", "--repo", str(repo), "--exist-ok", "--update-config", "--config", str(CNCF_2018))
    assert out.returncode == 0 and "updated cross-cloud.yml" in out.stdout
    assert git(repo, "log", "-1", "--format=%s") == "Update cross-cloud.yml"
    again = crosscloud("init", "--repo", str(repo), "--exist-ok", "--update-config", "--config", str(CNCF_2018))
    assert again.returncode == 0 and "updated" not in again.stdout
    assert git(repo, "rev-list", "--count", "main") == "2"
    broken = tmp_path / "broken.yml"
    broken.write_text("clouds: {}\n")
    bad = crosscloud("init", "--repo", str(repo), "--exist-ok", "--update-config", "--config", str(broken))
    assert bad.returncode == 2 and "broken.yml" in bad.stderr
    assert git(repo, "rev-list", "--count", "main") == "2"


def test_validate_warns_about_a_cncf_relation_outside_the_known_set(tmp_path: Path) -> None:
    """``Graduted`` used to make a dashboard section of its own, silently; a listed relation ("Linux Foundation"
    in the 2020 file) and the CNCF's levels are fine."""
    plain = crosscloud("validate", str(CNCF_2020))
    assert plain.returncode == 0 and "warning" not in plain.stderr, plain.stderr
    no_list = tmp_path / "no-list.yml"
    no_list.write_text(
        CNCF_2018.read_text().replace(
            "    app_layer: true\n", '    app_layer: true\n    cncf_relation: "Graduted"\n', 1
        )
    )
    out = crosscloud("validate", str(no_list))
    assert out.returncode == 0, out.stderr
    assert f"crosscloud: warning: {no_list}: projects.prometheus.cncf_relation: 'Graduted' is not one of" in out.stderr
    assert "did you mean 'Graduated'?" in out.stderr
