"""The pipeline's orchestration: every way a stage can end becomes a record, later stages read n/a,
teardown always runs. Provisioning is real (terraform and the ``local`` module, offline); deploy and e2e
are scripted by ``ScriptedRuntime`` so each failure can be produced on demand — the real host runtime
has its own tests in ``test_host_runtime.py``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crosscloud.config import Config, parse_config
from crosscloud.records import Record
from crosscloud.stage_specs import BuildSpec
from crosscloud_action.errors import ProjectFailure
from crosscloud_action.model import Binary, Pinned, Target
from crosscloud_action.pipeline import Pipeline
from crosscloud_action.recording import DirectRecorder, FanInRecorder
from crosscloud_action.runtimes.interface import Deployment, StageContext
from crosscloud_action.tools import process
from tests.helpers.status_repos import git

CONFIG = """
clouds:
  local: {kubernetes: false}
projects:
  demo:
    timeout: 20
    stable_ref: v1.0.0
    head_ref: main
"""
PINNED = Pinned(ref="v1.0.0", binaries=(Binary("demo", "1.0.0", sha256="0" * 64, source="test"),))


class ScriptedRuntime:
    """Deploy and e2e do what the test says; every call is remembered."""

    def __init__(
        self, deploy: Callable[[StageContext], Any] | None = None, e2e: Callable[[StageContext], Any] | None = None
    ):
        self._deploy = deploy
        self._e2e = e2e
        self.calls: list[str] = []
        self.sandboxes: list[Path | None] = []

    def deploy(self, ctx: StageContext, target: Target, pinned: Pinned) -> Deployment:
        self.calls.append("deploy")
        self.sandboxes.append(target.sandbox)
        assert target.sandbox is not None and target.sandbox.is_dir()  # terraform really made it
        if self._deploy:
            self._deploy(ctx)
        return Deployment(target, pinned, endpoints={"http": "http://127.0.0.1:1"})

    def e2e(self, ctx: StageContext, deployment: Deployment) -> None:
        self.calls.append("e2e")
        if self._e2e:
            self._e2e(ctx)

    def teardown(self, ctx: StageContext, deployment: Deployment) -> None:
        self.calls.append("teardown")


class ListRecorder:
    def __init__(self) -> None:
        self.batches: list[list[Record]] = []

    def record(self, records: Any) -> None:
        self.batches.append(list(records))


def config() -> Config:
    return parse_config(CONFIG, "test.yml")


def pipeline(tmp_path: Path, runtime: ScriptedRuntime, recorder: Any = None, **kw: Any) -> Pipeline:
    return Pipeline(
        config(),
        recorder or ListRecorder(),
        workroot=tmp_path / "work",
        log_dir=tmp_path / "logs",
        runtime_factory=lambda cloud: runtime,
        builder=kw.pop("builder", lambda ctx, spec, ref: PINNED),
        **kw,
    )


def cloud_job(p: Pipeline) -> list[tuple[str, str, str | None]]:
    conf = p.config
    result = p.cloud(conf.project("demo"), "stable", "amd64", conf.cloud("local"), PINNED)
    return [(r.data["stage"], r.status, r.data.get("reason")) for r in result.records]


def test_all_stages_succeed_and_the_sandbox_is_destroyed(tmp_path: Path) -> None:
    runtime = ScriptedRuntime()
    recorder = ListRecorder()
    p = pipeline(tmp_path, runtime, recorder)
    assert cloud_job(p) == [("provision", "success", None), ("deploy", "success", None), ("e2e", "success", None)]
    assert runtime.calls == ["deploy", "e2e", "teardown"]
    assert runtime.sandboxes[0] is not None and not runtime.sandboxes[0].exists()  # terraform destroy ran
    assert [r.status for r in recorder.batches[0]] == ["running"] * 3  # running first, then the results
    assert [r.status for r in recorder.batches[1]] == ["success"] * 3
    assert recorder.batches[1][1].data["artifacts"]["binaries"][0]["version"] == "1.0.0"
    assert not list((tmp_path / "work").iterdir())  # scratch space cleaned
    log = (tmp_path / "logs" / "demo-stable-amd64-local.log").read_text()
    assert "terraform" in log and "== e2e: success" in log


def test_a_failed_deploy_makes_e2e_n_a_and_still_tears_down(tmp_path: Path) -> None:
    def fail(ctx: StageContext) -> None:
        raise ProjectFailure("demo did not become ready: connection refused")

    runtime = ScriptedRuntime(deploy=fail)
    assert cloud_job(pipeline(tmp_path, runtime)) == [
        ("provision", "success", None),
        ("deploy", "failed", "demo did not become ready: connection refused"),
        ("e2e", "n/a", "deploy failed"),
    ]
    assert runtime.sandboxes[0] is not None and not runtime.sandboxes[0].exists()


def test_a_crash_of_our_own_code_is_recorded_as_an_infrastructure_failure(tmp_path: Path) -> None:
    def crash(ctx: StageContext) -> None:
        raise KeyError("oops")

    runtime = ScriptedRuntime(e2e=crash)
    stages = cloud_job(pipeline(tmp_path, runtime))
    assert stages[2] == ("e2e", "infra_failed", "e2e crashed: KeyError: 'oops'")
    assert runtime.calls[-1] == "teardown"


def test_a_stage_past_the_project_timeout_is_timed_out(tmp_path: Path) -> None:
    def slow(ctx: StageContext) -> None:
        ctx.deadline = min(ctx.deadline, __import__("time").monotonic() + 0.5)
        process.run(ctx, ["sleep", "30"])

    runtime = ScriptedRuntime(deploy=slow)
    stages = cloud_job(pipeline(tmp_path, runtime))
    assert stages[1][:2] == ("deploy", "timed_out") and "sleep timed out" in (stages[1][2] or "")
    assert stages[2] == ("e2e", "n/a", "deploy timed_out")


def test_cancellation_stops_the_stage_tears_down_and_records_cancelled(tmp_path: Path) -> None:
    cancel = threading.Event()

    def interrupted(ctx: StageContext) -> None:
        threading.Timer(0.3, cancel.set).start()
        process.run(ctx, ["sleep", "30"])

    runtime = ScriptedRuntime(deploy=interrupted)
    stages = cloud_job(pipeline(tmp_path, runtime, cancel=cancel))
    assert stages[1][:2] == ("deploy", "cancelled")
    assert stages[2] == ("e2e", "n/a", "deploy cancelled")
    assert runtime.sandboxes[0] is not None and not runtime.sandboxes[0].exists()  # destroyed despite cancel


def test_a_failed_build_makes_every_cloud_stage_n_a(tmp_path: Path) -> None:
    def broken(ctx: StageContext, spec: BuildSpec, ref: str) -> Pinned:
        raise ProjectFailure("make: *** [all] Error 2")

    runtime = ScriptedRuntime()
    p = pipeline(tmp_path, runtime, builder=broken)
    build = p.build(p.config.project("demo"), "stable", "amd64")
    assert build.pinned is None and build.records[0].status == "failed"
    assert build.records[0].data["reason"] == "make: *** [all] Error 2"
    result = p.cloud(p.config.project("demo"), "stable", "amd64", p.config.cloud("local"), build.pinned)
    assert [(r.data["stage"], r.status, r.data["reason"]) for r in result.records] == [
        ("provision", "n/a", "build failed"), ("deploy", "n/a", "build failed"), ("e2e", "n/a", "build failed"),
    ]  # fmt: skip
    assert runtime.calls == []


def test_missing_terraform_is_an_infrastructure_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    stages = cloud_job(pipeline(tmp_path, ScriptedRuntime()))
    assert stages[0] == ("provision", "infra_failed", "terraform is not installed (not found on PATH)")
    assert stages[1:] == [("deploy", "n/a", "provision infra_failed"), ("e2e", "n/a", "provision infra_failed")]


def test_a_teardown_failure_is_reported_not_hidden(tmp_path: Path) -> None:
    class BrokenTeardown(ScriptedRuntime):
        def teardown(self, ctx: StageContext, deployment: Deployment) -> None:
            raise RuntimeError("pid 4242 would not die")

    p = pipeline(tmp_path, BrokenTeardown())
    result = p.cloud(p.config.project("demo"), "stable", "amd64", p.config.cloud("local"), PINNED)
    assert [r.status for r in result.records] == ["success"] * 3
    assert result.teardown_errors == ["undeploy failed: pid 4242 would not die"]


def test_records_reach_a_real_status_repository_and_fan_in_files(tmp_path: Path, writer_for: Any) -> None:
    from crosscloud.status_repo.seed import init_status_repo

    repo = tmp_path / "status.git"
    config_file = tmp_path / "cross-cloud.yml"
    config_file.write_text(CONFIG)
    init_status_repo(repo, config_file)
    p = pipeline(tmp_path, ScriptedRuntime(), DirectRecorder(writer_for(repo)))
    p.build(p.config.project("demo"), "stable", "amd64")
    cloud_job(p)
    stored = git(repo, "show", "main:results/demo/stable/amd64/local/host/e2e.json")
    assert '"status": "success"' in stored
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert subjects[0] == "demo: 3 results: 3 success" and subjects[1] == "demo: 3 results: 3 running"

    fan_in = FanInRecorder(tmp_path / "results")
    cloud_job(pipeline(tmp_path, ScriptedRuntime(), fan_in))
    names = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert names == ["demo__stable__amd64__local__host__deploy.json", "demo__stable__amd64__local__host__e2e.json",
                     "demo__stable__amd64__local__host__provision.json"]  # fmt: skip
    assert all(Record.from_json((tmp_path / "results" / n).read_text()).status == "success" for n in names)
