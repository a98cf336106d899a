"""Cutting a night into shards for a GitHub Actions matrix (``crosscloud_action.planning.shard``) and the
commands around it: ``crosscloud plan`` and ``crosscloud run --plan ... --shard I/N``.

At today's CNCF breadth (200 projects, 12 clouds, stable and head, amd64 and arm64, Kubernetes stable and
head: 58,400 cells) and at small sizes: every planned cell is in exactly one shard, shards hold one
architecture each, there are at most ``max_jobs`` of them, and they are balanced by the projects' timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from crosscloud.config import Config, parse_config
from crosscloud.errors import BadInputError
from crosscloud.layout import cell_path
from crosscloud.status_repo.seed import init_status_repo
from crosscloud_action.planning import Sharding, parse_shard, plan, read_plan_file, row_seconds, shard
from tests.helpers.paths import ROOT
from tests.helpers.status_repos import snapshot

CLOUDS = ("aws", "azure", "gcp", "ibmcloud", "oci", "openstack", "equinix-metal", "vsphere", "alibaba", "digitalocean",
          "linode", "scaleway")  # fmt: skip


def breadth_config(projects: int = 200, *, arm_clouds: int = 12) -> Config:
    """``projects`` projects (timeouts from 10 to 60 minutes, Kubernetes itself first) on 12 clouds with
    Kubernetes, ``arm_clouds`` of which also offer arm64."""
    clouds = {
        name: {"active": True, "display_name": name, "order": n, "module": name,
               "arch": ["amd64", "arm64"] if n <= arm_clouds else ["amd64"]}
        for n, name in enumerate(CLOUDS, start=1)
    }  # fmt: skip
    data = {
        "clouds": clouds,
        "projects": {
            ("kubernetes" if n == 0 else f"project-{n:03d}"): {
                "active": True, "display_name": f"P{n}", "order": n, "stable_ref": "v1.0.0", "head_ref": "main",
                "arch": ["amd64", "arm64"], "timeout": 600 * (1 + n % 6), **({"app_layer": False} if n == 0 else {}),
            }
            for n in range(projects)
        },
    }  # fmt: skip
    return parse_config(yaml.safe_dump(data), "cross-cloud.yml")


def check(sharding: Sharding, max_jobs: int) -> None:
    """The properties every sharding must have."""
    planned = [cell_path(c) for c in sharding.plan.cells()]
    in_shards = [cell_path(c) for s in sharding.shards for c in sharding.plan.only(s.builds).cells()]
    assert len(in_shards) == len(set(in_shards)), "a cell is in two shards"
    assert sorted(in_shards) == sorted(planned), "the shards are not exactly the plan"
    assert 1 <= sharding.count <= max_jobs
    assert [s.number for s in sharding.shards] == list(range(1, sharding.count + 1))
    for s in sharding.shards:
        assert s.builds, f"shard {s.number} is empty"
        assert {b.arch for b in s.builds} == {s.arch}
        assert s.seconds == sum(row_seconds(sharding.plan, b) for b in s.builds)
        assert s.matrix_entry() == {"shard": s.number, "of": sharding.count, "arch": s.arch}
    # balance: greedy longest-first packing leaves no shard longer than its architecture's mean plus one row
    for arch in {s.arch for s in sharding.shards}:
        mine = [s for s in sharding.shards if s.arch == arch]
        mean = sum(s.seconds for s in mine) / len(mine)
        longest_row = max(row_seconds(sharding.plan, b) for s in mine for b in s.builds)
        assert max(s.seconds for s in mine) <= mean + longest_row


def test_a_night_at_the_cncf_breadth_is_58400_cells_in_256_balanced_shards() -> None:
    the_plan = plan(breadth_config(), every_arch=True)
    assert len(the_plan.builds) == 200 * 2 * 2
    # Kubernetes itself provisions: no host cloud here, so every project has 12 clouds x 2 Kubernetes releases
    assert len(the_plan.cells()) == 200 * 2 * 2 * (1 + 12 * 2 * 3) == 58_400
    sharding = shard(the_plan)
    check(sharding, 256)
    assert sharding.count == 256
    assert Counter(s.arch for s in sharding.shards) == {"amd64": 128, "arm64": 128}
    loads = [s.seconds for s in sharding.shards]
    assert max(loads) / min(loads) < 1.5, loads
    matrix = json.dumps(sharding.matrix(), separators=(",", ":"))
    assert len(matrix) < 16_000, "the matrix must stay far below GitHub's 1 MB of job outputs"


def test_architectures_get_shards_in_proportion_to_their_work() -> None:
    """Only 3 of the 12 clouds offer arm64: arm64 rows are a quarter as long, and get fewer shards."""
    sharding = shard(plan(breadth_config(arm_clouds=3), every_arch=True), 100)
    check(sharding, 100)
    arches = Counter(s.arch for s in sharding.shards)
    assert arches["amd64"] + arches["arm64"] == 100 and 15 <= arches["arm64"] <= 25, arches


@pytest.mark.parametrize("max_jobs", [2, 3, 7, 64, 799, 800, 5000])
def test_any_max_jobs_gives_exactly_the_plan(max_jobs: int) -> None:
    the_plan = plan(breadth_config(), every_arch=True)
    sharding = shard(the_plan, max_jobs)
    check(sharding, max(max_jobs, 2))  # one shard per architecture at the least
    assert sharding.count == min(max(max_jobs, 2), 800)


def test_the_same_plan_gives_the_same_shards_and_digest() -> None:
    first, second = shard(plan(breadth_config(), every_arch=True)), shard(plan(breadth_config(), every_arch=True))
    assert first.digest() == second.digest() and first.matrix() == second.matrix()
    assert shard(plan(breadth_config(199), every_arch=True)).digest() != first.digest()


def test_bad_shard_requests_are_refused() -> None:
    with pytest.raises(BadInputError, match="at least 1"):
        shard(plan(breadth_config(3), every_arch=True), 0)
    with pytest.raises(BadInputError, match="fewer than the plan's architectures"):
        shard(plan(breadth_config(3), every_arch=True), 1)
    for text in ("0/4", "5/4", "3", "a/b", "1/0", "-1/4"):
        with pytest.raises(BadInputError, match="expected I/N"):
            parse_shard(text)
    assert parse_shard("3/8") == (3, 8)
    with pytest.raises(BadInputError, match="does not exist"):
        shard(plan(breadth_config(3), every_arch=True)).shard(99)
    for text, message in (("{", "not a plan file"), ('{"format": 9}', "format 1"), ('{"format": 1}', "missing")):
        with pytest.raises(BadInputError, match=message):
            read_plan_file(text, "plan.json")


# -- the commands --------------------------------------------------------------------------------------------
def crosscloud(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crosscloud", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_plan_prints_the_matrix_and_writes_what_every_shard_job_plans_from(tmp_path: Path) -> None:
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    out = tmp_path / "plan"
    result = crosscloud("plan", "--repo", str(repo), "--json", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    matrix = json.loads(result.stdout)
    assert matrix == {"include": [{"shard": i, "of": 4, "arch": "amd64"} for i in range(1, 5)]}
    assert "16 cells in 8 jobs (4 builds), 4 shard(s)" in result.stderr  # the table, for the job's log
    assert (out / "cross-cloud.yml").read_bytes() == (ROOT / "status-data" / "cross-cloud.yml").read_bytes()
    stored = json.loads((out / "plan.json").read_text())
    assert stored["cells"] == 16 and len(stored["shards"]) == 4 and stored["max_jobs"] == 256
    table = crosscloud("plan", "--repo", str(repo), "--max-jobs", "2", "--project", "nats", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "SHARD  ARCH   ROWS" in table.stdout and "8 cells in 4 jobs (2 builds), 2 shard(s)" in table.stdout
    bad = crosscloud("plan", "--repo", str(repo), "--project", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_run_refuses_a_shard_that_does_not_match_its_plan(tmp_path: Path) -> None:
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    out = tmp_path / "plan"
    assert crosscloud("plan", "--repo", str(repo), "--out", str(out), cwd=tmp_path).returncode == 0
    plan_file = str(out / "plan.json")
    cases = [
        (["--plan", plan_file, "--shard", "1/3"], "the plan has 4 shard(s), not 3"),
        (["--plan", plan_file, "--shard", "1/4", "--project", "nats"], "drop --project"),
        (["--plan", plan_file], "--plan needs --shard"),
        (["--shard", "1/9"], "not 9"),
    ]
    for args, message in cases:
        result = crosscloud("run", "--repo", str(repo), *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    # the configuration file changed after planning (still 4 shards): the plan made again differs, nothing runs
    config = out / "cross-cloud.yml"
    data = yaml.safe_load(config.read_text())
    data["projects"]["prometheus"]["arch"] = ["arm64"]
    config.write_text(yaml.safe_dump(data))
    before = snapshot(repo)
    result = crosscloud("run", "--repo", str(repo), "--plan", plan_file, "--shard", "1/4", cwd=tmp_path)
    assert result.returncode == 2 and "is not the one planned" in result.stderr, result.stderr
    assert snapshot(repo) == before


@pytest.mark.slow
def test_a_shard_runs_exactly_its_cells(tmp_path: Path) -> None:
    """The last of the 4 shards of the embedded configuration, through the real pipeline (its binaries on
    the host), into fan-in record files: exactly that shard's cells."""
    repo = tmp_path / "status.git"
    init_status_repo(repo)
    out = tmp_path / "plan"
    assert crosscloud("plan", "--repo", str(repo), "--out", str(out), cwd=tmp_path).returncode == 0
    stored = json.loads((out / "plan.json").read_text())
    results = tmp_path / "results"
    env_bin = str(Path(sys.executable).parent)
    run = subprocess.run(
        [sys.executable, "-m", "crosscloud", "run", "--repo", str(repo), "--plan", str(out / "plan.json"),
         "--shard", "4/4", "--fan-in", str(results), "--work-dir", str(tmp_path / "work"),
         "--log-dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PATH": f"{env_bin}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"shard 4/4 (amd64, plan {stored['digest']}): 1 row(s)" in run.stdout
    (row,) = stored["shards"][3]["rows"]
    project, release, arch = row.split()
    expected = {f"{project}__{release}__{arch}__build.json"} | {
        f"{project}__{release}__{arch}__local__host__{stage}.json" for stage in ("provision", "deploy", "e2e")
    }
    assert {p.name for p in results.iterdir()} == expected
