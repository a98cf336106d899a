"""The host runtime of the local cloud: real Prometheus, etcd and NATS servers started on 127.0.0.1 from
the embedded default configuration, checked end to end, and stopped without leaving a process."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from crosscloud.config import Project
from crosscloud.stage_specs import E2ESpec, RunSpec
from crosscloud_action.build.reuse import pin_reused
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageCancelled, StageTimeout
from crosscloud_action.model import Pinned, Target
from crosscloud_action.runtimes.host import HostRuntime, Running
from crosscloud_action.runtimes.interface import Deployment
from crosscloud_action.runtimes.placeholders import Placeholders
from tests.helpers.stages import (
    CONFIG,
    RELEASES,
    local_target,
    log_of,
    process_gone,
    processes_mentioning,
    stage_context,
    started_pid,
)


def pinned_for(project: str, release: str, tmp_path: Path) -> Pinned:
    config = CONFIG.project(project)
    ctx = stage_context(config, release, tmp_path / "build")
    return pin_reused(ctx, config.build.for_release(release), config.ref(release) or "main")


def variant(project: str, **changes: Mapping[str, Any]) -> Project:
    """``project`` of the default configuration with ``run`` / ``e2e`` keys replaced (given as in
    ``cross-cloud.yml``)."""
    config = CONFIG.project(project)
    run_changes, e2e_changes = changes.get("run", {}), changes.get("e2e", {})
    new_run, new_e2e = RunSpec.from_dict(run_changes), E2ESpec.from_dict(e2e_changes)
    run = (
        dataclasses.replace(config.run, **{key: getattr(new_run, key) for key in run_changes})
        if config.run
        else new_run
    )
    e2e = dataclasses.replace(config.e2e, **{key: getattr(new_e2e, key) for key in e2e_changes})
    return dataclasses.replace(config, run=run, e2e=e2e)


def running_of(deployment: Deployment) -> Running:
    running = deployment.handles["host"]
    assert isinstance(running, Running)
    return running


@pytest.mark.parametrize("project,release", RELEASES)
def test_deploy_e2e_teardown_of_each_project(project: str, release: str, tmp_path: Path) -> None:
    pinned = pinned_for(project, release, tmp_path)
    target = local_target(tmp_path)
    ctx = stage_context(project, release, tmp_path / "cell", timeout=60)
    runtime = HostRuntime()
    deployment = runtime.deploy(ctx, target, pinned)
    running = running_of(deployment)
    try:
        assert running.process.poll() is None
        assert running.directory.parent == target.sandbox
        assert deployment.endpoints["port"].startswith("127.0.0.1:")
        assert f"{project} is ready after" in log_of(ctx)
        binary = pinned.binaries[0].path
        assert binary is not None and binary in log_of(ctx)  # the pinned binary is what runs
        runtime.e2e(ctx, deployment)
        assert f"e2e check {ctx.project.e2e.check} passed" in log_of(ctx)
    finally:
        runtime.teardown(ctx, deployment)
    assert process_gone(running.process.pid)
    assert processes_mentioning(str(target.sandbox)) == []
    assert f"{project} stopped (exit" in log_of(ctx)
    runtime.teardown(ctx, deployment)  # a second teardown is harmless
    assert log_of(ctx).count(f"{project} stopped") == 1


def test_a_process_that_exits_at_once_fails_with_the_end_of_its_log(tmp_path: Path) -> None:
    command = [*CONFIG.project("prometheus").run.command, "--no-such-flag"]
    ctx = stage_context(variant("prometheus", run={"command": command}), "stable", tmp_path, timeout=20)
    target = local_target(tmp_path)
    started = time.monotonic()
    with pytest.raises(ProjectFailure) as failure:
        HostRuntime().deploy(ctx, target, pinned_for("prometheus", "stable", tmp_path))
    assert time.monotonic() - started < 10  # noticed when it died, not at the deadline
    assert failure.value.reason.startswith("prometheus exited with 1 before it was ready; its log ends: ")
    assert "unknown long flag '--no-such-flag'" in failure.value.reason
    assert len(failure.value.reason) <= 500
    assert process_gone(started_pid(ctx, "prometheus"))


def test_a_process_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    pinned = pinned_for("nats", "stable", tmp_path)
    never = {"ready": {"http": "http://127.0.0.1:{port.monitor}/no-such-page"}}
    ctx = stage_context(variant("nats", run=never), "stable", tmp_path, timeout=2)
    started = time.monotonic()
    with pytest.raises(
        StageTimeout, match=r"nats was not ready after \d s \(http://127.0.0.1:\d+/no-such-page: HTTP 404\)"
    ):
        HostRuntime().deploy(ctx, local_target(tmp_path), pinned)
    assert time.monotonic() - started < 5
    assert process_gone(started_pid(ctx, "nats"))
    assert "nats stopped" in log_of(ctx)


def test_a_cancellation_while_waiting_for_ready_stops_the_process(tmp_path: Path) -> None:
    never = {"ready": {"tcp": "127.0.0.1:{port.unused}"}, "ports": ["peer", "unused"]}
    ctx = stage_context(variant("etcd", run=never), "stable", tmp_path, timeout=60)
    target = local_target(tmp_path)
    pinned = pinned_for("etcd", "stable", tmp_path)
    timer = threading.Timer(1.0, ctx.cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StageCancelled, match="etcd: cancelled while waiting for it to be ready"):
            HostRuntime().deploy(ctx, target, pinned)
    finally:
        timer.cancel()
        timer.join()
    assert time.monotonic() - started < 10
    assert process_gone(started_pid(ctx, "etcd"))
    assert processes_mentioning(str(target.sandbox)) == []


def test_an_unknown_placeholder_fails_before_anything_starts(tmp_path: Path) -> None:
    command = ["{binary.nats-server}", "--port={prot}"]
    ctx = stage_context(variant("nats", run={"command": command}), "stable", tmp_path)
    target = local_target(tmp_path)
    message = (
        r"run.command\[1\]: unknown placeholder \{prot\}; did you mean \{port\}\? \(known: .*\{binary.nats-server\}"
    )
    with pytest.raises(ProjectFailure, match=message):
        HostRuntime().deploy(ctx, target, pinned_for("nats", "stable", tmp_path))
    assert "pid" not in log_of(ctx)
    assert target.sandbox is not None and list(target.sandbox.iterdir()) == []  # its directory is gone too


def test_e2e_of_a_process_that_died_after_ready(tmp_path: Path) -> None:
    ctx = stage_context("nats", "stable", tmp_path)
    runtime = HostRuntime()
    deployment = runtime.deploy(ctx, local_target(tmp_path), pinned_for("nats", "stable", tmp_path))
    try:
        running_of(deployment).process.kill()
        running_of(deployment).process.wait()
        with pytest.raises(ProjectFailure, match=r"nats is no longer running \(exit -9\); its log ends: "):
            runtime.e2e(ctx, deployment)
    finally:
        runtime.teardown(ctx, deployment)


def test_a_failing_check_fails_e2e_with_its_one_line(tmp_path: Path) -> None:
    wrong = {"args": {"server": "127.0.0.1:{port.monitor}", "timeout": "2"}}  # the HTTP port, not NATS
    ctx = stage_context(variant("nats", e2e=wrong), "stable", tmp_path)
    runtime = HostRuntime()
    deployment = runtime.deploy(ctx, local_target(tmp_path), pinned_for("nats", "stable", tmp_path))
    try:
        with pytest.raises(ProjectFailure, match=r"^e2e check nats-pubsub failed \(exit 1\): nats-pubsub: FAILED: "):
            runtime.e2e(ctx, deployment)
    finally:
        runtime.teardown(ctx, deployment)


def test_an_e2e_command_of_the_project_and_an_unknown_check(tmp_path: Path) -> None:
    command = {"command": ["sh", "-c", "test -s nats.log && echo {port} > e2e.out"], "check": ""}
    ctx = stage_context(variant("nats", e2e=command), "stable", tmp_path)
    runtime = HostRuntime()
    deployment = runtime.deploy(ctx, local_target(tmp_path), pinned_for("nats", "stable", tmp_path))
    try:
        runtime.e2e(ctx, deployment)  # runs in the deployment's directory, placeholders filled in
        directory = running_of(deployment).directory
        assert (directory / "e2e.out").read_text().strip() == deployment.endpoints["port"].split(":")[1]
        ctx.project = variant("nats", e2e={"check": "nats-pubsbu"})
        with pytest.raises(ProjectFailure, match=r"e2e.check 'nats-pubsbu' is not a built-in check \(there are: "):
            runtime.e2e(ctx, deployment)
    finally:
        runtime.teardown(ctx, deployment)


def test_the_default_readiness_is_the_port_accepting(tmp_path: Path) -> None:
    run = {"command": ["{binary.nats-server}", "--addr=127.0.0.1", "--port={port}"], "ready": {}}
    project = dataclasses.replace(CONFIG.project("nats"), run=RunSpec.from_dict(run))
    ctx = stage_context(project, "stable", tmp_path)
    runtime = HostRuntime()
    deployment = runtime.deploy(ctx, local_target(tmp_path), pinned_for("nats", "stable", tmp_path))
    try:
        assert "nats is ready after" in log_of(ctx) and f"(tcp {deployment.endpoints['port']})" in log_of(ctx)
        runtime.e2e(ctx, deployment)
    finally:
        runtime.teardown(ctx, deployment)


def test_files_and_env_get_placeholders_and_a_missing_sandbox_is_infra(tmp_path: Path) -> None:
    run = {
        "command": ["sh", "-c", 'cat app.json; echo "$APP_DIR"; exec sleep 30'],
        "files": {"app.json": '{"listen": "127.0.0.1:{port}", "literal": "{{port}}", "template": "{{ .Value }}"}'},
        "env": {"APP_DIR": "{dir}"},
        "ready": {"tcp": "{port.never}"},
        "ports": ["never"],
    }
    project = dataclasses.replace(CONFIG.project("etcd"), run=RunSpec.from_dict(run))
    ctx = stage_context(project, "stable", tmp_path, timeout=1)
    with pytest.raises(StageTimeout) as timeout:
        HostRuntime().deploy(ctx, local_target(tmp_path), Pinned(ref="main"))
    (directory,) = (tmp_path / "sandbox").iterdir()
    written = json.loads((directory / "app.json").read_text())
    assert re.fullmatch(r"127\.0\.0\.1:\d+", written["listen"])
    assert (written["literal"], written["template"]) == ("{port}", "{{ .Value }}")
    assert str(directory) in timeout.value.reason  # the log's last line: the env value
    with pytest.raises(InfraFailure, match="the local environment has no sandbox directory"):
        HostRuntime().deploy(ctx, Target(cloud="local", endpoint="127.0.0.1"), Pinned(ref="main"))
    with pytest.raises(InfraFailure, match="is not there: was the local environment provisioned"):
        HostRuntime().deploy(
            ctx, Target(cloud="local", endpoint="127.0.0.1", sandbox=tmp_path / "gone"), Pinned(ref="main")
        )


def test_placeholders() -> None:
    fill = Placeholders({"port": "4222", "port.monitor": "8222", "dir": "/s/d", "binary.nats-server": "/usr/sbin/x"})
    assert fill("{binary.nats-server} -p {port} -m {port.monitor}", "w") == "/usr/sbin/x -p 4222 -m 8222"
    assert fill('{{port}} {} { port } {{ .Labels }} {"a": 1}', "w") == '{port} {} { port } {{ .Labels }} {"a": 1}'
    with pytest.raises(ProjectFailure, match=r"^run.env.X: unknown placeholder \{binary.etcd\} \(known: "):
        fill("{binary.etcd}", "run.env.X")


def test_a_project_without_run_cannot_deploy_on_the_host(tmp_path: Path) -> None:
    ctx = stage_context(dataclasses.replace(CONFIG.project("etcd"), run=None), "stable", tmp_path)
    with pytest.raises(ProjectFailure, match="etcd has no 'run' configuration, so it cannot run on the local cloud"):
        HostRuntime().deploy(ctx, local_target(tmp_path), Pinned(ref="main"))
