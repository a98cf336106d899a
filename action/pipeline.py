"""Runs the stages of one matrix cell and records every one of them, whatever happens.

A *build job* builds (or pins) one release of a project. A *cloud job* provisions one cloud, deploys the
pinned release on it, runs the end-to-end checks, and always tears down. Every stage ends as a record:
success; the ``StageFailure`` it raised (failed, infra_failed, timed_out, cancelled); ``infra_failed``
with the exception when our own code crashed; and ``n/a`` for the stages after a failure. Nothing is
ever left ``running``."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from crosscloud.config import Cloud, Config, Project
from crosscloud.records import Record, format_time
from crosscloud.stage_specs import BuildSpec
from crosscloud.vocabulary import CLOUD_STAGES, FINAL_FAILURES, NO_KUBERNETES
from crosscloud_action.errors import InfraFailure, StageCancelled, StageFailure
from crosscloud_action.model import Pinned
from crosscloud_action.recording import Recorder
from crosscloud_action.runtimes.interface import Runtime, StageContext
from crosscloud_action.tools.terraform import Terraform, modules_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one stage ended."""

    stage: str
    status: str
    reason: str | None
    started_at: str
    finished_at: str


@dataclass
class JobResult:
    records: list[Record] = field(default_factory=list)
    pinned: Pinned | None = None
    teardown_errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The job's overall status: its first failure, else success. ``n/a`` is no failure: a stage the
        configuration skips (``deploy: false``, Kubernetes itself) or one after a failure reported elsewhere."""
        return next((r.status for r in self.records if r.status in FINAL_FAILURES), "success")


def _now() -> str:
    return format_time(datetime.now(UTC))


def runtime_for(cloud: Cloud) -> Runtime:
    """The runtime that deploys on ``cloud``: processes on the host, or a Kubernetes cluster."""
    if not cloud.kubernetes:
        from crosscloud_action.runtimes.host import HostRuntime

        return HostRuntime()
    from crosscloud_action.runtimes.kubernetes import KubernetesRuntime

    return KubernetesRuntime()


@dataclass
class Pipeline:
    """Runs jobs for one configuration and hands their records to ``recorder``."""

    config: Config
    recorder: Recorder
    workroot: Path
    """Scratch space: one directory per job, removed afterwards."""
    log_dir: Path
    """One log file per job, kept: the first thing to read when a cell is red."""
    cancel: threading.Event = field(default_factory=threading.Event)
    run: dict[str, Any] | None = None
    """Provenance of the workflow run (see ``crosscloud.provenance``), if any."""
    job_url: str | None = None
    report_running: bool = True
    env: dict[str, str] = field(default_factory=dict)
    runtime_factory: Callable[[Cloud], Runtime] = runtime_for
    builder: Callable[[StageContext, BuildSpec, str], Pinned] | None = None
    """Replaces the build modes (source/reuse) when set: for embedding and tests."""

    # -- jobs --------------------------------------------------------------------------------------
    def build(self, project: Project, release: str, arch: str) -> JobResult:
        """Build (or pin) ``project``'s ``release`` and record the build cell."""
        name = f"{project.name}-{release}-{arch}-build"
        result = JobResult()
        with self._job(name) as (workdir, logf):
            if self.report_running:
                self._record_running(project, release, arch, None, None, ["build"])
            ctx = self._context(project, release, arch, None, workdir, logf)
            outcome, pinned = self._stage("build", ctx, lambda: self._build(ctx))
            result.pinned = pinned
            result.records.append(self._record(project, release, arch, None, None, outcome, pinned))
            self.recorder.record(result.records)
        return result

    def cloud(
        self,
        project: Project,
        release: str,
        arch: str,
        cloud: Cloud,
        pinned: Pinned | None,
        *,
        kubernetes: str = "stable",
    ) -> JobResult:
        """Provision ``cloud``, deploy ``pinned`` on it, run e2e, tear down; record all three cells.
        ``pinned`` None means the build failed: every stage is recorded ``n/a``."""
        env = kubernetes if cloud.kubernetes else None
        name = f"{project.name}-{release}-{arch}-{cloud.name}"
        result = JobResult(pinned=pinned)
        with self._job(name) as (workdir, logf):
            ctx = self._context(project, release, arch, cloud, workdir, logf)
            stages = ["provision", "deploy", "e2e"]
            if self.report_running and pinned is not None:
                self._record_running(project, release, arch, cloud, env, stages)
            outcomes = self._cloud_stages(ctx, project, cloud, pinned, result, kubernetes)
            result.records = [self._record(project, release, arch, cloud, env, o, pinned) for o in outcomes]
            self.recorder.record(result.records)
        return result

    # -- stages ------------------------------------------------------------------------------------
    def _cloud_stages(
        self,
        ctx: StageContext,
        project: Project,
        cloud: Cloud,
        pinned: Pinned | None,
        result: JobResult,
        kubernetes: str,
    ) -> list[Outcome]:
        now = _now()
        if pinned is None:
            return [Outcome(s, "n/a", "build failed", now, now) for s in CLOUD_STAGES]
        if ctx.cancel.is_set():
            return [Outcome(s, "cancelled", "cancelled before it started", now, now) for s in CLOUD_STAGES]
        outcomes: list[Outcome] = []
        terraform: Terraform | None = None
        runtime: Runtime | None = None
        deployment = None
        try:
            holder: dict[str, Any] = {}

            def provision() -> None:
                nonlocal terraform
                inputs = self.terraform_inputs(ctx, project, cloud, kubernetes)
                terraform = Terraform(ctx, modules_root() / cloud.module, inputs)
                holder["target"] = terraform.apply()

            outcome, _ = self._stage("provision", ctx, provision)
            outcomes.append(outcome)
            if outcome.status != "success":
                return self._skipped(outcomes, f"provision {outcome.status}")
            if not project.deploy or not project.app_layer:
                why = "deploy: false in the configuration" if project.app_layer else "Kubernetes is the environment"
                return self._skipped(outcomes, why)

            def deploy() -> None:
                nonlocal runtime, deployment
                runtime = self.runtime_factory(cloud)
                deployment = runtime.deploy(ctx, holder["target"], pinned)

            outcome, _ = self._stage("deploy", ctx, deploy)
            outcomes.append(outcome)
            if outcome.status != "success":
                return self._skipped(outcomes, f"deploy {outcome.status}")

            def e2e() -> None:
                assert runtime is not None and deployment is not None
                runtime.e2e(ctx, deployment)

            outcome, _ = self._stage("e2e", ctx, e2e)
            outcomes.append(outcome)
            return outcomes
        finally:
            self._teardown(ctx, runtime, deployment, terraform, result)

    def _teardown(
        self,
        ctx: StageContext,
        runtime: Runtime | None,
        deployment: Any,
        terraform: Terraform | None,
        result: JobResult,
    ) -> None:
        """Always runs: undeploy, then destroy. A failure here is logged and reported, never hidden."""
        steps: list[tuple[str, Callable[[], None]]] = []
        if runtime is not None and deployment is not None:
            steps.append(("undeploy", lambda: runtime.teardown(ctx, deployment)))
        if terraform is not None:
            steps.append(("destroy", terraform.destroy))
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # every teardown step must get its turn
                message = f"{name} failed: {exc}"
                print(f"teardown: {message}", file=ctx.log, flush=True)
                result.teardown_errors.append(message)

    def _skipped(self, outcomes: list[Outcome], why: str) -> list[Outcome]:
        now = _now()
        done = {o.stage for o in outcomes}
        return outcomes + [Outcome(s, "n/a", why, now, now) for s in CLOUD_STAGES if s not in done]

    def _stage(self, stage: str, ctx: StageContext, work: Callable[[], Any]) -> tuple[Outcome, Any]:
        """Run one stage under its deadline; turn every way it can end into an ``Outcome``."""
        started = _now()
        ctx.deadline = time.monotonic() + ctx.project.timeout
        print(f"== {stage} (timeout {ctx.project.timeout} s)", file=ctx.log, flush=True)
        value = None
        try:
            if ctx.cancel.is_set():
                raise StageCancelled("cancelled before it started")
            value = work()
            status, reason = "success", None
        except StageFailure as failure:
            status, reason = failure.status, failure.reason
        except Exception as exc:  # a crash of our own code must still become a record
            traceback.print_exc(file=ctx.log)
            status, reason = "infra_failed", f"{stage} crashed: {type(exc).__name__}: {exc}"
        print(f"== {stage}: {status}" + (f" ({reason})" if reason else ""), file=ctx.log, flush=True)
        return Outcome(stage, status, _shorten(reason), started, _now()), value

    def _build(self, ctx: StageContext) -> Pinned:
        project, release = ctx.project, ctx.release
        ref = project.ref(release)
        if not ref:
            raise InfraFailure(f"project {project.name} has no {release}_ref in the configuration")
        spec = project.build.for_release(release)
        if self.builder is not None:
            return self.builder(ctx, spec, ref)
        if spec.mode == "source":
            from crosscloud_action.build.source import build_from_source

            return build_from_source(ctx, spec, ref, repository_url=project.repository_url)
        from crosscloud_action.build.reuse import pin_reused

        return pin_reused(ctx, spec, ref)

    # -- helpers -----------------------------------------------------------------------------------
    def terraform_inputs(self, ctx: StageContext, project: Project, cloud: Cloud, kubernetes: str) -> dict[str, Any]:
        """The inputs of ``terraform/<cloud>/`` (the contract in terraform/README.md). On a Kubernetes cloud the
        cluster runs the version the Kubernetes project pins for the ``kubernetes`` release (stable or head);
        when the project *is* Kubernetes (``app_layer: false``) it is its own release's ref."""
        inputs: dict[str, Any] = {
            "cluster_name": _cluster_name(project.name, ctx.release, cloud.name),
            "arch": ctx.arch,
            "node_count": cloud.node_count or 1,
            "labels": {"project": project.name, "release": ctx.release, "managed-by": "cross-cloud-ci"},
        }
        if cloud.region:
            inputs["region"] = cloud.region
        if cloud.kubernetes:
            if not project.app_layer:
                version = project.ref(ctx.release)
            else:
                k8s = self.config.projects.get(self.config.kubernetes_project or "")
                version = k8s.ref(kubernetes) if k8s else None
            if version:
                inputs["kubernetes_version"] = version
        else:
            inputs["sandbox_root"] = str(ctx.workdir / "sandbox")
        return inputs

    def _context(
        self, project: Project, release: str, arch: str, cloud: Cloud | None, workdir: Path, logf: IO[str]
    ) -> StageContext:
        return StageContext(project, release, arch, cloud, workdir, logf, time.monotonic(), self.cancel, dict(self.env))

    @contextmanager
    def _job(self, name: str) -> Iterator[tuple[Path, IO[str]]]:
        import shutil
        import tempfile

        self.workroot.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=self.workroot))
        with (self.log_dir / f"{name}.log").open("w", encoding="utf-8") as logf:
            try:
                yield workdir, logf
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

    def _record_running(
        self, project: Project, release: str, arch: str, cloud: Cloud | None, env: str | None, stages: Sequence[str]
    ) -> None:
        now = _now()
        records = [
            self._record(project, release, arch, cloud, env, Outcome(s, "running", None, now, now), None)
            for s in stages
        ]
        try:
            self.recorder.record(records)
        except Exception as exc:  # a lost 'running' badge must not stop the job
            log.warning("could not record running: %s", exc)

    def _record(
        self,
        project: Project,
        release: str,
        arch: str,
        cloud: Cloud | None,
        env: str | None,
        outcome: Outcome,
        pinned: Pinned | None,
    ) -> Record:
        kubernetes = None
        if cloud is not None and cloud.kubernetes and env and env != NO_KUBERNETES:
            kubernetes = {"release": env}
        data: dict[str, Any] = {
            "schema_version": 1,
            "project": project.name,
            "release": release,
            "ref": pinned.ref if pinned else project.ref(release),
            "sha": pinned.sha if pinned else None,
            "stage": outcome.stage,
            "cloud": cloud.name if cloud else None,
            "arch": arch,
            "kubernetes": kubernetes,
            "status": outcome.status,
            "reason": outcome.reason,
            "started_at": outcome.started_at,
            "finished_at": None if outcome.status == "running" else outcome.finished_at,
            "url": self.job_url,
            "run": self.run,
        }
        if pinned is not None and outcome.status != "running":
            artifacts = pinned.artifacts()
            if artifacts:
                data["artifacts"] = artifacts
        return Record.from_dict(data, source=f"{outcome.stage} of {project.name} {release}")


def _cluster_name(project: str, release: str, cloud: str) -> str:
    import secrets

    return f"{project}-{release}-{cloud}"[:52].strip("-") + "-" + secrets.token_hex(4)


def _shorten(reason: str | None, limit: int = 500) -> str | None:
    if reason is None:
        return None
    cleaned = "".join(c if c.isprintable() or c in "\t\n" else " " for c in reason)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
