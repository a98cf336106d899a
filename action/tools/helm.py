"""helm for the Kubernetes runtime: install a release and wait for it, run its tests, uninstall it, and
render it offline. Thin on purpose: each method builds one exact argument list and hands it to
``transcripts.run`` (``process.run``, recorded in the record mode); what a failure means is decided by
``kubectl.classify``, for both tools alike.

Time: helm is told to stop waiting a little before the stage's deadline (``wait_seconds``), so that it
reports what it was waiting for ("context deadline exceeded") rather than being killed mid-sentence, and
the cell still has a moment to collect diagnostics."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crosscloud import packaged
from crosscloud_action.errors import StageTimeout
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import transcripts
from crosscloud_action.tools.kubectl import classify, find_binary, is_not_found

MARGIN = 10.0
"""Seconds (at most; a tenth of what is left when that is less) helm stops before the stage's deadline."""


def charts_root() -> Path:
    """``helm/``: ``$CROSSCLOUD_HELM_DIR`` when set, else the charts the installed package carries
    (``crosscloud.packaged``)."""
    return packaged.helm_charts()


def wait_seconds(ctx: StageContext) -> int:
    """Whole seconds helm may wait: what is left of the stage, less the margin. Nothing left is a timeout."""
    left = ctx.deadline - time.monotonic()
    seconds = int(left - min(MARGIN, left / 10))
    if seconds < 1:
        raise StageTimeout(f"no time left in the stage for helm ({max(left, 0):.0f} s)")
    return seconds


@dataclass(frozen=True)
class ChartSource:
    """Where a chart comes from: a directory, a name in a chart repository, or an ``oci://`` reference."""

    chart: str
    repo: str | None = None
    version: str | None = None
    origin: str = ""
    """Which configuration field chose it, for messages (``chart.path``, ``stable_chart`` ...)."""

    def args(self) -> list[str]:
        args = [self.chart]
        if self.repo:
            args += ["--repo", self.repo]
        if self.version:
            args += ["--version", self.version]
        return args


@dataclass(frozen=True)
class ReleasePlan:
    """Everything that decides what a release renders to; ``upgrade --install`` and ``template`` take the
    same plan, so what the tests render is what a cluster would get."""

    release: str
    namespace: str
    chart: ChartSource
    values_files: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()
    """``--set-string`` assignments, after the values files: the pinned images win over everything. As
    strings, because plain ``--set`` turns a tag such as ``1`` or ``true`` into a number or a boolean."""
    labels: Mapping[str, str] = field(default_factory=dict)

    def value_args(self) -> list[str]:
        args: list[str] = []
        for values in self.values_files:
            args += ["--values", str(values)]
        for assignment in self.sets:
            args += ["--set-string", assignment]
        return args


class Helm:
    """helm against one cluster (``kubeconfig``), or none for ``template``."""

    def __init__(self, ctx: StageContext, kubeconfig: Path | None, binary: str | None = None):
        self.ctx = ctx
        self.kubeconfig = kubeconfig
        self.binary = binary or find_binary("helm", ctx)

    def _cluster(self) -> list[str]:
        if self.kubeconfig is None:
            raise ValueError("this helm has no kubeconfig; only template works without a cluster")
        return ["--kubeconfig", str(self.kubeconfig)]

    # -- argument lists ----------------------------------------------------------------------------
    def upgrade_argv(self, plan: ReleasePlan, wait: int) -> list[str]:
        """``upgrade --install`` without ``--atomic``: a failed release stays in the cluster until the
        diagnostics have read its pods, events and logs; teardown removes it afterwards anyway."""
        labels = ",".join(f"{key}={value}" for key, value in plan.labels.items())
        return [
            self.binary,
            "upgrade",
            "--install",
            plan.release,
            *plan.chart.args(),
            *self._cluster(),
            "--namespace",
            plan.namespace,
            "--create-namespace",
            "--wait",
            f"--timeout={wait}s",
            *(["--labels", labels] if labels else []),
            *plan.value_args(),
        ]

    def test_argv(self, release: str, namespace: str, wait: int) -> list[str]:
        return [
            self.binary,
            "test",
            release,
            *self._cluster(),
            "--namespace",
            namespace,
            "--logs",
            f"--timeout={wait}s",
        ]

    def uninstall_argv(self, release: str, namespace: str, wait: int) -> list[str]:
        return [
            self.binary,
            "uninstall",
            release,
            *self._cluster(),
            "--namespace",
            namespace,
            "--wait",
            f"--timeout={wait}s",
        ]

    def history_argv(self, release: str, namespace: str) -> list[str]:
        """The last revision only: ``helm status -o json`` would print the whole chart and its values."""
        return [self.binary, "history", release, *self._cluster(), "--namespace", namespace, "--max", "1", "-o", "json"]

    def template_argv(self, plan: ReleasePlan) -> list[str]:
        return [
            self.binary,
            "template",
            plan.release,
            *plan.chart.args(),
            "--namespace",
            plan.namespace,
            *plan.value_args(),
        ]

    # -- commands ----------------------------------------------------------------------------------
    def _run(
        self, what: str, argv: Sequence[str], *, waited: str | None = None, ctx: StageContext | None = None
    ) -> str:
        result = transcripts.run(ctx or self.ctx, "helm", argv)
        if result.returncode != 0:
            raise classify(f"helm {what}", result.stderr, waited=waited)
        return result.stdout

    def upgrade_install(self, plan: ReleasePlan) -> str:
        """Install or upgrade the release and wait until its resources are ready."""
        wait = wait_seconds(self.ctx)
        return self._run(
            "upgrade", self.upgrade_argv(plan, wait), waited=f"release {plan.release} to be ready ({wait} s)"
        )

    def test(self, release: str, namespace: str) -> subprocess.CompletedProcess[str]:
        """Run the release's test hooks; the caller reads which test pods failed from the output."""
        wait = wait_seconds(self.ctx)
        return transcripts.run(self.ctx, "helm", self.test_argv(release, namespace, wait))

    def uninstall(self, release: str, namespace: str, *, wait: int, ctx: StageContext) -> bool:
        """Uninstall and wait for the resources to go; False when there was no such release."""
        result = transcripts.run(ctx, "helm", self.uninstall_argv(release, namespace, wait))
        if result.returncode == 0:
            return True
        if is_not_found(result.stderr):
            return False
        raise classify("helm uninstall", result.stderr, waited=f"the resources of {release} to go ({wait} s)")

    def history(self, release: str, namespace: str, *, ctx: StageContext | None = None) -> str:
        return self._run("history", self.history_argv(release, namespace), ctx=ctx)

    def template(self, plan: ReleasePlan) -> str:
        """The manifests ``plan`` renders to, without a cluster."""
        return self._run("template", self.template_argv(plan))
