"""The Kubernetes runtime: the project's Helm chart installed into the provisioned cluster with the images
the build pinned, its tests run with ``helm test`` (or the project's own command), and everything removed
afterwards.

Where the chart comes from (the project's ``chart`` mapping, ``schema/config.schema.json``):

- ``chart.path``: a chart directory; a relative path is looked up in the working directory (a project's
  own checkout, in a workflow) and then in this project's checkout (``helm/etcd``);
- ``chart.repository`` + ``chart.name`` (+ ``chart.version``): a chart from an HTTP chart repository, or
  ``oci://...`` from a registry;
- ``chart.name`` alone, or a ``stable_chart``/``head_chart`` that names a directory under ``helm/``: the
  in-repository chart ``helm/<name>/`` (``charts_root()``);
- otherwise ``helm/<project>/``. The original configuration's ``stable_chart: stable`` (and ``master``,
  ``cncf``...) named a branch of its chart repository, not a chart: such a value falls back to this.

Each (project, release) gets a namespace of its own, ``cc-<project>-<release>``, and the release
``<project>-<release>``, so the stable and head releases never share resources, also cluster-scoped ones
named after the release. The first pinned image is handed to the chart as ``image.repository``,
``image.tag`` and ``image.digest`` (the original's ``IMAGE_ARGS``/``TAG_ARGS``), after the project's
``chart.values``, so a chart always runs exactly what the build pinned.

On any failure the pods, the namespace's events and the logs of failing pods are written to the cell's
log, each call bounded in time; the record's reason stays one short line that says what failed.

With ``CROSSCLOUD_RECORD_TRANSCRIPTS=DIR`` every helm and kubectl call of this runtime is also written to
``DIR`` as a redacted transcript the tests can replay (``crosscloud_action.tools.transcripts``)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosscloud.config import Project
from crosscloud.stage_specs import ChartTestSpec
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageCancelled, StageFailure, StageTimeout
from crosscloud_action.model import Pinned, Target
from crosscloud_action.runtimes.interface import REASON_LIMIT, Deployment, Runtime, StageContext
from crosscloud_action.runtimes.placeholders import Placeholders
from crosscloud_action.tools import process
from crosscloud_action.tools.helm import ChartSource, Helm, ReleasePlan, charts_root
from crosscloud_action.tools.kubectl import CRASHED, Kubectl, PodState, classify, write_kubeconfig

DIAGNOSE_BUDGET = 20.0
"""Seconds each diagnostic command may take, also after the stage's deadline has passed."""
TEARDOWN_BUDGET = 300.0
"""Seconds uninstall and namespace deletion may take together, counted from when teardown starts."""
PODS_WITH_LOGS = 5
LOG_TAIL = 200
LABEL_PREFIX = "cross-cloud.ci/"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TEST_SUITE = re.compile(r"^TEST SUITE:\s+(\S+)\s*\n(?:.*\n){0,2}?Phase:\s+(\w+)", re.MULTILINE)
_FAILED_POD = re.compile(r"pod (\S+) failed")


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS label (lowercase letters, digits, ``-``; at most ``limit`` characters). A name
    that had to be cut keeps a hash of the whole, so two long names stay apart."""
    label = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
    if len(label) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        label = label[: limit - 9].rstrip("-") + "-" + digest
    return label or "x"


def release_names(project: str, release: str) -> tuple[str, str]:
    """``(helm release name, namespace)`` of a project's release (helm allows 53 characters)."""
    return dns_label(f"{project}-{release}", 53), dns_label(f"cc-{project}-{release}")


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return value.strip("-_.") or "x"


def resolve_chart(project: Project, release: str, root: Path | None = None) -> ChartSource:
    """The chart of ``project``'s ``release`` (see the module's docstring for the order)."""
    spec = project.chart
    root = root or charts_root()
    if spec.path:
        raw = Path(spec.path).expanduser()
        candidates = [raw] if raw.is_absolute() else [Path.cwd() / raw, root.parent / raw]
        found = next((c for c in candidates if (c / "Chart.yaml").is_file()), None)
        if found is None:
            raise ProjectFailure(f"chart.path: no chart (Chart.yaml) at {spec.path}")
        return ChartSource(str(found), origin="chart.path")
    name, repository, version = spec.name, spec.repository, spec.version
    if repository:
        if not name or not _NAME.fullmatch(name):
            raise ProjectFailure(f"chart.repository {repository} needs chart.name, a chart's name (got {name!r})")
        if repository.startswith("oci://"):
            return ChartSource(f"{repository.rstrip('/')}/{name}", version=version, origin="chart.repository")
        return ChartSource(name, repo=repository, version=version, origin="chart.repository")
    if name:
        return _in_repository(root, name, "chart.name")
    configured = project.charts.get(release)
    if configured:
        if "://" in configured:
            return ChartSource(configured, origin=f"{release}_chart")
        if _NAME.fullmatch(configured) and (root / configured / "Chart.yaml").is_file():
            return _in_repository(root, configured, f"{release}_chart")
    return _in_repository(root, project.name, f"the chart of {project.name}")


def _in_repository(root: Path, name: str, origin: str) -> ChartSource:
    if not _NAME.fullmatch(name):
        raise ProjectFailure(f"{origin}: {name!r} is not a chart name")
    if not root.is_dir():
        raise InfraFailure(f"no charts directory at {root} (set CROSSCLOUD_HELM_DIR to the checkout's helm/)")
    chart = root / name
    if not (chart / "Chart.yaml").is_file():
        known = ", ".join(sorted(p.name for p in root.iterdir() if (p / "Chart.yaml").is_file())) or "none"
        raise ProjectFailure(
            f"{origin}: there is no chart helm/{name}/ (charts: {known}); set chart.path or chart.name"
        )
    return ChartSource(str(chart), origin=origin)


def image_values(pinned: Pinned) -> tuple[str, ...]:
    """The first pinned image as ``image.repository``, ``image.tag`` (when it has one) and ``image.digest``;
    anything that helm's ``--set`` syntax could misread is refused, naming the field."""
    if not pinned.images:
        return ()
    image = pinned.images[0]
    checks = [("repository", image.name, _IMAGE_NAME), ("digest", image.digest, _DIGEST)]
    if image.tag:
        checks.append(("tag", image.tag, _TAG))
    for what, value, pattern in checks:
        if not pattern.fullmatch(value):
            raise ProjectFailure(f"the pinned image's {what} {value!r} is not a valid image {what}")
    values = [f"image.repository={image.name}"]
    if image.tag:
        values.append(f"image.tag={image.tag}")
    values.append(f"image.digest={image.digest}")
    return tuple(values)


@dataclass(frozen=True)
class Installed:
    """The Kubernetes runtime's handle in ``Deployment.handles["kubernetes"]``."""

    release: str
    namespace: str
    kubeconfig: Path


class KubernetesRuntime:
    """``interface.Runtime`` for clouds with Kubernetes (the default)."""

    def __init__(self, diagnose_budget: float = DIAGNOSE_BUDGET, teardown_budget: float = TEARDOWN_BUDGET):
        self.diagnose_budget = diagnose_budget
        self.teardown_budget = teardown_budget

    # -- what is installed -------------------------------------------------------------------------
    def plan(self, ctx: StageContext, pinned: Pinned) -> ReleasePlan:
        """The release of this cell: chart, names, values file (written into the cell's directory),
        pinned image values and the labels that say which cell it belongs to."""
        release, namespace = release_names(ctx.project.name, ctx.release)
        chart = resolve_chart(ctx.project, ctx.release)
        values = ctx.project.chart.values
        files: tuple[Path, ...] = ()
        if values:
            path = ctx.workdir / "kubernetes" / "values.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(values), indent=2, default=str) + "\n", encoding="utf-8")
            files = (path,)
        labels = {"project": ctx.project.name, "release": ctx.release, "arch": ctx.arch}
        if ctx.cloud is not None:
            labels["cloud"] = ctx.cloud.name
        return ReleasePlan(
            release=release,
            namespace=namespace,
            chart=chart,
            values_files=files,
            sets=image_values(pinned),
            labels={LABEL_PREFIX + key: _label_value(value) for key, value in labels.items()},
        )

    def render(self, ctx: StageContext, pinned: Pinned) -> str:
        """The manifests the release would install (``helm template`` of the same plan): no cluster needed."""
        return Helm(ctx, None).template(self.plan(ctx, pinned))

    # -- Runtime -----------------------------------------------------------------------------------
    def deploy(self, ctx: StageContext, target: Target, pinned: Pinned) -> Deployment:
        """``helm upgrade --install --wait`` the release. On any failure (also a timeout or a cancellation)
        the diagnostics go to the log and the release and namespace are removed before the error is raised:
        the caller has no ``Deployment`` to tear down then."""
        kubeconfig = write_kubeconfig(ctx.workdir / "kubernetes", target.kubeconfig)
        plan = self.plan(ctx, pinned)
        if not plan.sets:
            print("no image was pinned: the chart deploys its default images", file=ctx.log, flush=True)
        installed = Installed(plan.release, plan.namespace, kubeconfig)
        deployment = Deployment(
            target=target,
            pinned=pinned,
            endpoints={"namespace": plan.namespace, "release": plan.release},
            handles={"kubernetes": installed},
        )
        print(
            f"deploying {plan.chart.chart} ({plan.chart.origin}) as {plan.release} in namespace {plan.namespace}",
            file=ctx.log,
            flush=True,
        )
        try:
            try:
                Helm(ctx, kubeconfig).upgrade_install(plan)
            except StageFailure as failure:
                raise self._explained(ctx, installed, failure) from None
        except BaseException:
            try:
                self.teardown(ctx, deployment)
            except StageFailure as failure:
                print(f"teardown after the failed deploy: {failure.reason}", file=ctx.log, flush=True)
            raise
        print(f"{plan.release} is deployed and ready", file=ctx.log, flush=True)
        return deployment

    def e2e(self, ctx: StageContext, deployment: Deployment) -> None:
        """``helm test`` of the release, or the project's ``chart.test.command``; a failure names the test."""
        installed = _installed(deployment)
        test = ctx.project.chart.test
        try:
            if test is not None and test.command:
                self._test_command(ctx, installed, test)
            else:
                self._helm_test(ctx, installed)
        except StageFailure as failure:
            raise self._explained(ctx, installed, failure) from None

    def teardown(self, ctx: StageContext, deployment: Deployment) -> None:
        """``helm uninstall --wait``, then delete the namespace; what is already gone is fine. Runs with its
        own time budget and ignores a cancellation, like ``terraform destroy``: a cancelled or timed-out
        cell must still not leave its release behind. A second call does nothing."""
        installed = _installed(deployment)
        if deployment.handles.get("torn_down"):
            return
        deployment.handles["torn_down"] = True
        own = replace(ctx, deadline=time.monotonic() + self.teardown_budget, cancel=threading.Event())
        problems: list[str] = []
        try:
            wait = max(1, int((own.deadline - time.monotonic()) / 2))
            helm = Helm(own, installed.kubeconfig)
            gone = not helm.uninstall(installed.release, installed.namespace, wait=wait, ctx=own)
            print(f"release {installed.release} " + ("was not there" if gone else "uninstalled"), file=ctx.log)
        except StageFailure as failure:
            problems.append(failure.reason)
        try:
            wait = max(1, int(own.deadline - time.monotonic() - 1))
            Kubectl(own, installed.kubeconfig).delete_namespace(installed.namespace, timeout=wait, ctx=own)
            print(f"namespace {installed.namespace} deleted", file=ctx.log, flush=True)
        except StageFailure as failure:
            problems.append(failure.reason)
        if problems:
            raise InfraFailure("; ".join(problems)[:REASON_LIMIT])

    # -- tests -------------------------------------------------------------------------------------
    def _helm_test(self, ctx: StageContext, installed: Installed) -> None:
        result = Helm(ctx, installed.kubeconfig).test(installed.release, installed.namespace)
        suites = _TEST_SUITE.findall(result.stdout)
        if result.returncode == 0:
            if not suites:
                raise ProjectFailure(
                    f"helm test: the chart of {installed.release} has no tests (templates/tests/) "
                    "and chart.test.command is not set"
                )
            names = ", ".join(name for name, _ in suites)
            print(f"helm test passed: {names}", file=ctx.log, flush=True)
            return
        failed = [name for name, phase in suites if phase == "Failed"]
        failed += [pod for pod in _FAILED_POD.findall(result.stderr) if pod not in failed]
        if failed:
            pods = ", ".join(failed)
            raise ProjectFailure(f"helm test: test pod {pods} failed"[:REASON_LIMIT])
        raise classify("helm test", result.stderr, waited=f"the tests of {installed.release}")

    def _test_command(self, ctx: StageContext, installed: Installed, test: ChartTestSpec) -> None:
        """The project's own test, with ``{namespace}``, ``{release}`` and ``{kubeconfig}`` filled in and
        ``KUBECONFIG`` set."""
        fill = Placeholders(
            {"namespace": installed.namespace, "release": installed.release, "kubeconfig": str(installed.kubeconfig)}
        )
        argv = [fill(arg, f"chart.test.command[{i}]") for i, arg in enumerate(test.command)]
        timeout = test.timeout
        env = {"KUBECONFIG": str(installed.kubeconfig)}
        result = process.run(ctx, argv, env=env, timeout=timeout, check=False)
        name = Path(argv[0]).name
        if result.returncode != 0:
            output = result.stderr.splitlines() or result.stdout.splitlines()
            last = next((line.strip() for line in reversed(output) if line.strip()), "no output")
            raise ProjectFailure(f"chart.test.command {name} failed (exit {result.returncode}): {last}"[:REASON_LIMIT])
        print(f"chart.test.command {name} passed", file=ctx.log, flush=True)

    # -- diagnostics -------------------------------------------------------------------------------
    def _explained(self, ctx: StageContext, installed: Installed, failure: StageFailure) -> StageFailure:
        """``failure`` after the diagnostics are in the log. A wait that ran out while a pod had crashed
        (CrashLoopBackOff, an image that cannot be pulled...) is the project's failure, not a slow cluster:
        it becomes a ``ProjectFailure`` that names the pod."""
        if isinstance(failure, StageCancelled):
            print("diagnostics skipped: the cell was cancelled", file=ctx.log, flush=True)
            return failure
        pods = self.diagnose(ctx, installed)
        crashed = [pod for pod in pods if pod.status in CRASHED]
        if isinstance(failure, StageTimeout) and crashed:
            shown = ", ".join(f"pod {pod.name} is {pod.status}" for pod in crashed[:3])
            return ProjectFailure(f"{installed.release} is not ready: {shown}"[:REASON_LIMIT])
        if isinstance(failure, StageTimeout):
            waiting = [pod for pod in pods if not pod.healthy]
            if waiting:
                shown = ", ".join(f"{pod.name} {pod.status} {pod.ready}" for pod in waiting[:3])
                return StageTimeout(f"{failure.reason} (not ready: {shown})"[:REASON_LIMIT])
        return failure

    def diagnose(self, ctx: StageContext, installed: Installed) -> list[PodState]:
        """Write the release's last revision, the pods, the events and the logs of unhealthy pods to the cell's log;
        return the pods. Each command has ``diagnose_budget`` seconds, also past the stage's deadline; a
        cluster that cannot be reached ends the diagnostics, which never raise."""
        print(f"-- diagnostics of {installed.release} in namespace {installed.namespace}", file=ctx.log, flush=True)
        kubectl = Kubectl(ctx, installed.kubeconfig)
        helm = Helm(ctx, installed.kubeconfig)
        pods: list[PodState] = []

        def bounded() -> StageContext:
            return replace(ctx, deadline=time.monotonic() + self.diagnose_budget)

        steps: list[tuple[str, Any]] = [
            (
                "helm history",
                lambda: _log_history(ctx, helm.history(installed.release, installed.namespace, ctx=bounded())),
            ),
            ("pods", lambda: pods.extend(kubectl.get_pods(installed.namespace, ctx=bounded()))),
            ("events", lambda: kubectl.get_events(installed.namespace, ctx=bounded())),
        ]
        for what, step in steps:
            try:
                step()
            except StageFailure as problem:
                print(f"-- diagnostics: {what}: {problem.reason}", file=ctx.log, flush=True)
                if isinstance(problem, InfraFailure | StageCancelled):
                    return pods
        for pod in [pod for pod in pods if not pod.healthy][:PODS_WITH_LOGS]:
            try:
                kubectl.logs(installed.namespace, pod.name, tail=LOG_TAIL, ctx=bounded())
            except StageFailure as problem:
                print(f"-- diagnostics: logs of {pod.name}: {problem.reason}", file=ctx.log, flush=True)
                if isinstance(problem, InfraFailure | StageCancelled):
                    break
        print("-- end of diagnostics", file=ctx.log, flush=True)
        return pods


def _log_history(ctx: StageContext, history_json: str) -> None:
    """The line of ``helm history -o json`` a person needs: the last revision's status and helm's description
    (``Release "etcd-stable" failed: context deadline exceeded``)."""
    try:
        last = json.loads(history_json)[-1]
        line = f"-- release revision {last['revision']}: {last['status']}: {last.get('description')}"
    except (ValueError, LookupError, TypeError):
        return
    print(line, file=ctx.log, flush=True)


def _installed(deployment: Deployment) -> Installed:
    installed = deployment.handles.get("kubernetes")
    if not isinstance(installed, Installed):
        raise InfraFailure("this deployment was not made by the Kubernetes runtime")
    return installed


if TYPE_CHECKING:
    _conforms: Runtime = KubernetesRuntime()  # mypy proves that the Kubernetes runtime keeps the Runtime contract
