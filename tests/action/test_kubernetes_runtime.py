"""The Kubernetes runtime, everything short of a live API server (none can run here).

What runs for real: ``helm template`` (the manifests of a small chart made per test, and of every chart
under ``helm/`` that exists), terraform applying a module without providers, the project's own test
command, and the whole ``Pipeline.cloud()`` path. What helm and kubectl would ask a cluster is answered by
the recorded-CLI stand-ins (``tests/action/recorded_cli``), which record every invocation: the tests assert
on those argument lists, on the cell's log and on how each failure is classified.

Found out here about helm 3.17 / kubectl 1.31 without a server: only ``helm template`` and ``helm lint``
work offline. ``helm install --dry-run=client`` and ``helm upgrade --install --dry-run`` still contact the
cluster ("Kubernetes cluster unreachable"), and ``kubectl apply|create --dry-run=client`` needs the
server's discovery (or its OpenAPI for validation); ``kubectl create namespace --dry-run=client`` is the
one kubectl write that works."""

from __future__ import annotations

import io
import json
import stat
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crosscloud.config import Project, parse_config
from crosscloud.errors import ConfigError
from crosscloud.records import Record
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageCancelled, StageFailure, StageTimeout
from crosscloud_action.model import Image, Pinned, Target
from crosscloud_action.pipeline import Pipeline
from crosscloud_action.runtimes.interface import Deployment, StageContext
from crosscloud_action.runtimes.kubernetes import (
    KubernetesRuntime,
    dns_label,
    image_values,
    release_names,
    resolve_chart,
)
from crosscloud_action.tools.helm import ChartSource
from tests.action.recorded_cli import RecordedCli, install

DIGEST = "sha256:4f1a5c3d2e0b9a8f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a291807"
PINNED = Pinned(ref="v3.5.17", sha="a" * 40, images=(Image("registry.example/etcd", DIGEST, tag="v3.5.17"),))
TOKEN = "kubeconfig-secret-token-4711"
KUBECONFIG = textwrap.dedent(
    f"""\
    apiVersion: v1
    kind: Config
    clusters: [{{name: kind, cluster: {{server: "https://127.0.0.1:6443"}}}}]
    contexts: [{{name: kind, context: {{cluster: kind, user: ci}}}}]
    current-context: kind
    users: [{{name: ci, user: {{token: {TOKEN}}}}}]
    """
)
TARGET = Target(cloud="kind", endpoint="https://127.0.0.1:6443", kubernetes_version="v1.31.0", kubeconfig=KUBECONFIG)
CONFIG = """
clouds:
  kind: {module: kind-test}
projects:
  etcd:
    timeout: 60
    stable_ref: v3.5.17
    head_ref: main
    stable_chart: stable
    chart: %s
"""
FILES = {
    "Chart.yaml": "apiVersion: v2\nname: etcd\nversion: 0.1.0\nappVersion: 3.5.17\n",
    "values.yaml": "image: {repository: quay.io/coreos/etcd, tag: v3.5.0, digest: ''}\nmemberName: default\n",
    "templates/statefulset.yaml": """\
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: {{ .Release.Name }}
          namespace: {{ .Release.Namespace }}
        spec:
          serviceName: {{ .Release.Name }}
          selector: {matchLabels: {app: {{ .Chart.Name }}}}
          template:
            metadata: {labels: {app: {{ .Chart.Name }}}}
            spec:
              containers:
                - name: etcd
                  {{- $image := .Values.image }}
                  {{- $ref := ternary (printf "@%s" $image.digest) (printf ":%s" $image.tag) (ne $image.digest "") }}
                  image: "{{ $image.repository }}{{ $ref }}"
                  args: ["--name={{ .Values.memberName }}"]
        """,
    "templates/tests/roundtrip.yaml": """\
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{ .Release.Name }}-test
          annotations: {"helm.sh/hook": test}
        spec:
          restartPolicy: Never
          containers:
            - name: etcdctl
              image: "{{ .Values.image.repository }}@{{ .Values.image.digest }}"
              command: [etcdctl, --endpoints, "http://{{ .Release.Name }}:2379", put, k, v]
        """,
}


def make_chart(root: Path, name: str = "etcd") -> Path:
    chart = root / name
    for file, text in FILES.items():
        (chart / file).parent.mkdir(parents=True, exist_ok=True)
        (chart / file).write_text(textwrap.dedent(text))
    return chart


def project(chart: dict[str, Any] | None = None) -> Project:
    return parse_config(CONFIG % json.dumps(chart or {}), "test.yml").project("etcd")


def context(tmp_path: Path, chart: dict[str, Any] | None = None, seconds: float = 60) -> StageContext:
    config = parse_config(CONFIG % json.dumps(chart or {}), "test.yml")
    workdir = tmp_path / "cell"
    workdir.mkdir(exist_ok=True)
    return StageContext(
        config.project("etcd"),
        "stable",
        "amd64",
        config.cloud("kind"),
        workdir,
        io.StringIO(),
        time.monotonic() + seconds,
    )


def log_of(ctx: StageContext) -> str:
    return ctx.log.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``helm/`` with the small etcd chart, as the charts root."""
    root = tmp_path / "helm"
    make_chart(root)
    monkeypatch.setenv("CROSSCLOUD_HELM_DIR", str(root))
    return root


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordedCli:
    """The stand-in helm and kubectl first on PATH (see ``recorded_cli``)."""
    recorded = install(tmp_path / "cli")
    monkeypatch.setenv("PATH", f"{recorded.bin}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("RECORDED_CLI_DIR", str(recorded.directory))
    return recorded


def deploy_fails(ctx: StageContext, pinned: Pinned = PINNED) -> StageFailure:
    with pytest.raises(StageFailure) as caught:
        KubernetesRuntime(diagnose_budget=10, teardown_budget=20).deploy(ctx, TARGET, pinned)
    return caught.value


def assert_no_secret(cli: RecordedCli, ctx: StageContext) -> None:
    """The kubeconfig is only ever a path, of a file only its owner can read."""
    for call in cli.calls():
        assert TOKEN not in json.dumps(call["argv"])
        if call["answer"] != "real binary":
            assert call["kubeconfig_mode"] == "0o600", call
    assert TOKEN not in log_of(ctx)


# -- rendering --------------------------------------------------------------------------------------
def test_the_rendered_manifests_run_the_pinned_image_by_digest(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    ctx = context(tmp_path, {"values": {"memberName": "member-a"}})
    manifests = KubernetesRuntime().render(ctx, PINNED)
    assert manifests.count(f'image: "registry.example/etcd@{DIGEST}"') == 2  # the server and its test
    assert "quay.io/coreos/etcd" not in manifests
    assert '"--name=member-a"' in manifests  # chart.values, through a values file
    assert "namespace: cc-etcd-stable" in manifests
    call = cli.calls("helm")[-1]
    assert call["answer"] == "real binary" and call["argv"][:3] == ["template", "etcd-stable", str(charts / "etcd")]
    assert call["argv"][-6:] == [
        "--set-string", "image.repository=registry.example/etcd",
        "--set-string", "image.tag=v3.5.17",
        "--set-string", f"image.digest={DIGEST}",
    ]  # fmt: skip
    values = json.loads((ctx.workdir / "kubernetes" / "values.json").read_text())
    assert values == {"memberName": "member-a"}


def test_the_pinned_values_win_over_the_projects_values(tmp_path: Path, charts: Path) -> None:
    ctx = context(tmp_path, {"values": {"image": {"repository": "elsewhere/etcd", "digest": "sha256:" + "0" * 64}}})
    manifests = KubernetesRuntime().render(ctx, PINNED)
    assert f"registry.example/etcd@{DIGEST}" in manifests and "elsewhere" not in manifests


IN_REPO = sorted(
    p.name for p in (Path(__file__).resolve().parents[2] / "helm").glob("*") if (p / "Chart.yaml").is_file()
)


@pytest.mark.parametrize("name", IN_REPO)
def test_every_chart_under_helm_renders_the_pinned_digest(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSCLOUD_HELM_DIR", raising=False)
    ctx = context(tmp_path, {"name": name})
    assert f"registry.example/etcd@{DIGEST}" in KubernetesRuntime().render(ctx, PINNED)


# -- deploy, e2e, teardown through the recorded CLI ------------------------------------------------
def test_deploy_e2e_and_teardown_ask_for_exactly_this(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    cli.use("upgrade-ok", "test-ok", "uninstall-ok", "delete-namespace")
    ctx = context(tmp_path)
    runtime = KubernetesRuntime()
    started = time.monotonic()
    deployment = runtime.deploy(ctx, TARGET, PINNED)
    runtime.e2e(ctx, deployment)
    runtime.teardown(ctx, deployment)
    runtime.teardown(ctx, deployment)  # a second call does nothing
    assert cli.verbs() == ["helm upgrade", "helm test", "helm uninstall", "kubectl delete"]
    kubeconfig = ctx.workdir / "kubernetes" / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    upgrade, test, uninstall, delete = (c["argv"] for c in cli.calls())
    assert upgrade[:4] == ["upgrade", "--install", "etcd-stable", str(charts / "etcd")]
    assert upgrade[upgrade.index("--kubeconfig") + 1] == str(kubeconfig)
    assert upgrade[upgrade.index("--namespace") + 1] == "cc-etcd-stable"
    assert "--create-namespace" in upgrade and "--wait" in upgrade and "--atomic" not in upgrade
    waited = int(next(a for a in upgrade if a.startswith("--timeout=")).removeprefix("--timeout=").removesuffix("s"))
    assert 40 <= waited <= 60 - (time.monotonic() - started) - 5  # within the stage, a margin before its end
    labels = upgrade[upgrade.index("--labels") + 1].split(",")
    assert labels == [
        "cross-cloud.ci/project=etcd", "cross-cloud.ci/release=stable",
        "cross-cloud.ci/arch=amd64", "cross-cloud.ci/cloud=kind",
    ]  # fmt: skip
    assert f"image.digest={DIGEST}" in upgrade and "image.repository=registry.example/etcd" in upgrade
    assert test[:2] == ["test", "etcd-stable"] and "--logs" in test and "cc-etcd-stable" in test
    assert uninstall[:2] == ["uninstall", "etcd-stable"] and "--wait" in uninstall
    assert delete[3:6] == ["delete", "namespace", "cc-etcd-stable"] and "--ignore-not-found" in delete
    assert all(c["env_kubeconfig"] is None for c in cli.calls())  # only --kubeconfig names the cluster
    assert deployment.handles["kubernetes"].namespace == "cc-etcd-stable"
    assert deployment.endpoints == {"namespace": "cc-etcd-stable", "release": "etcd-stable"}
    assert "helm test passed: etcd-stable-test" in log_of(ctx)
    assert_no_secret(cli, ctx)


def test_a_crashing_pod_fails_the_deploy_with_diagnostics_and_teardown(
    tmp_path: Path, charts: Path, cli: RecordedCli
) -> None:
    cli.use(
        "upgrade-wait-timeout", "history-failed", "pods-crashloop", "events", "logs", "uninstall-ok", "delete-namespace"
    )
    ctx = context(tmp_path)
    failure = deploy_fails(ctx)
    assert isinstance(failure, ProjectFailure)
    assert failure.reason == "etcd-stable is not ready: pod etcd-stable-0 is CrashLoopBackOff"
    assert cli.verbs() == [
        "helm upgrade", "helm history", "kubectl get", "kubectl get", "kubectl logs", "helm uninstall", "kubectl delete"
    ]  # fmt: skip
    get_pods, get_events, logs = (c["argv"] for c in cli.calls("kubectl")[:3])
    assert get_pods[-5:] == ["get", "pods", "--namespace", "cc-etcd-stable", "-o", "wide"][-5:]
    assert "--sort-by=.lastTimestamp" in get_events
    assert "pod/etcd-stable-0" in logs and "--all-containers" in logs and "--tail=200" in logs
    log = log_of(ctx)
    assert '-- release revision 1: failed: Release "etcd-stable" failed: context deadline exceeded' in log
    assert "CrashLoopBackOff   5 (24s ago)" in log  # the pods table
    assert "Back-off restarting failed container etcd" in log  # the events
    assert "[pod/etcd-stable-0/etcd]" in log and "discovery failed" in log  # the failing pod's log
    assert log.index("-- end of diagnostics") < log.index("uninstalled")
    assert_no_secret(cli, ctx)


def test_a_wait_that_runs_out_on_a_pending_pod_is_a_timeout(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    cli.use(
        "upgrade-wait-timeout", "history-failed", "pods-pending", "events-pending", "uninstall-ok", "delete-namespace"
    )
    ctx = context(tmp_path)
    failure = deploy_fails(ctx)
    assert isinstance(failure, StageTimeout)
    assert failure.reason.startswith("helm upgrade: release etcd-stable to be ready (")
    assert failure.reason.endswith(
        "did not finish in time: Error: context deadline exceeded (not ready: etcd-stable-0 Pending 0/1)"
    )
    assert "1 Insufficient cpu" in log_of(ctx)
    assert cli.verbs()[-2:] == ["helm uninstall", "kubectl delete"]


def test_an_unreachable_cluster_is_infra_failed_and_diagnostics_stop(
    tmp_path: Path, charts: Path, cli: RecordedCli
) -> None:
    cli.use("upgrade-unreachable", "history-unreachable", "uninstall-unreachable", "delete-namespace-unreachable")
    ctx = context(tmp_path)
    failure = deploy_fails(ctx)
    assert isinstance(failure, InfraFailure)
    assert failure.reason.startswith(
        "helm upgrade: the Kubernetes API server is unreachable: Error: Kubernetes cluster"
    )
    assert cli.verbs() == ["helm upgrade", "helm history", "helm uninstall", "kubectl delete"]
    log = log_of(ctx)
    assert "-- diagnostics: helm history: helm history: the Kubernetes API server is unreachable" in log
    assert "teardown after the failed deploy: helm uninstall: the Kubernetes API server is unreachable" in log


def test_a_hanging_helm_times_out_and_teardown_still_gets_its_time(
    tmp_path: Path, charts: Path, cli: RecordedCli
) -> None:
    cli.use("upgrade-hangs", "history-deployed", "pods-pending", "events-pending", "uninstall-ok", "delete-namespace")
    ctx = context(tmp_path, seconds=3)
    started = time.monotonic()
    failure = deploy_fails(ctx)
    assert isinstance(failure, StageTimeout) and failure.reason.startswith("helm timed out after 3 s")
    assert "(not ready: etcd-stable-0 Pending 0/1)" in failure.reason
    assert time.monotonic() - started < 20
    upgrade = cli.calls("helm")[0]["argv"]
    assert "--timeout=2s" in upgrade  # helm is told to stop before the stage does
    assert cli.verbs()[-2:] == ["helm uninstall", "kubectl delete"]  # after the deadline, with its own budget


def test_a_cancelled_deploy_skips_diagnostics_but_tears_down(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    cli.use("upgrade-hangs", "uninstall-ok", "delete-namespace")
    ctx = context(tmp_path)
    threading.Timer(1.0, ctx.cancel.set).start()
    failure = deploy_fails(ctx)
    assert isinstance(failure, StageCancelled) and failure.reason == "helm was cancelled"
    assert cli.verbs() == ["helm upgrade", "helm uninstall", "kubectl delete"]
    assert "diagnostics skipped: the cell was cancelled" in log_of(ctx)


@pytest.mark.parametrize(
    ("rule", "status", "reason"),
    [
        (
            "upgrade-invalid-manifest",
            "failed",
            'missing required field "selector" in io.k8s.api.apps.v1.StatefulSetSpec',
        ),
        ("upgrade-quota", "infra_failed", "a resource quota of the cluster is exhausted"),
        ("upgrade-unauthorized", "infra_failed", "the cluster refused the credentials"),
    ],
)
def test_other_deploy_failures_are_classified(
    rule: str, status: str, reason: str, tmp_path: Path, charts: Path, cli: RecordedCli
) -> None:
    cli.use(rule, "history-failed", "pods-running", "events", "uninstall-ok", "delete-namespace")
    failure = deploy_fails(context(tmp_path))
    assert failure.status == status and reason in failure.reason


def deployed(
    tmp_path: Path, cli: RecordedCli, *rules: str, chart: dict[str, Any] | None = None
) -> tuple[StageContext, Deployment]:
    cli.use("upgrade-ok", *rules, "uninstall-ok", "delete-namespace")
    ctx = context(tmp_path, chart)
    return ctx, KubernetesRuntime(diagnose_budget=10).deploy(ctx, TARGET, PINNED)


def test_a_failing_helm_test_names_the_test_pod(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    ctx, deployment = deployed(tmp_path, cli, "test-failed", "history-deployed", "pods-running", "events")
    with pytest.raises(ProjectFailure, match=r"^helm test: test pod etcd-stable-test failed$"):
        KubernetesRuntime().e2e(ctx, deployment)
    log = log_of(ctx)
    assert "POD LOGS: etcd-stable-test" in log and "-- end of diagnostics" in log


def test_a_chart_without_tests_fails_e2e(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    ctx, deployment = deployed(tmp_path, cli, "test-none", "history-deployed", "pods-running", "events")
    with pytest.raises(ProjectFailure, match=r"has no tests \(templates/tests/\) and chart.test.command is not set"):
        KubernetesRuntime().e2e(ctx, deployment)


def test_the_projects_own_test_command(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    script = tmp_path / "check.py"
    script.write_text(
        "import os, sys\n"
        "kubeconfig = open(os.environ['KUBECONFIG']).read()\n"
        "assert sys.argv[3] == os.environ['KUBECONFIG'] and 'current-context: kind' in kubeconfig\n"
        "print('checked', sys.argv[1], sys.argv[2])\n"
        "sys.exit(0 if sys.argv[1] == 'cc-etcd-stable' else 3)\n"
    )
    command = [sys.executable, str(script), "{namespace}", "{release}", "{kubeconfig}"]
    ctx, deployment = deployed(tmp_path, cli, chart={"test": {"command": command}})
    KubernetesRuntime().e2e(ctx, deployment)
    assert "checked cc-etcd-stable etcd-stable" in log_of(ctx)
    assert "helm test" not in cli.verbs()
    bad = {"test": {"command": [sys.executable, "-c", "import sys; sys.exit('no leader after 30 s')"]}}
    ctx, deployment = deployed(tmp_path, cli, "history-deployed", "pods-running", "events", chart=bad)
    with pytest.raises(ProjectFailure, match=r"^chart.test.command python\S* failed \(exit 1\): no leader after 30 s$"):
        KubernetesRuntime().e2e(ctx, deployment)
    typo = {"test": {"command": ["check", "{namespce}"]}}
    ctx, deployment = deployed(tmp_path, cli, "history-deployed", "pods-running", "events", chart=typo)
    with pytest.raises(ProjectFailure, match=r"unknown placeholder \{namespce\}; did you mean \{namespace\}"):
        KubernetesRuntime().e2e(ctx, deployment)


def test_no_kubeconfig_is_the_environments_failure(tmp_path: Path, charts: Path, cli: RecordedCli) -> None:
    ctx = context(tmp_path)
    with pytest.raises(InfraFailure, match="no kubeconfig"):
        KubernetesRuntime().deploy(ctx, Target(cloud="kind", endpoint="x"), PINNED)
    assert cli.calls() == []


# -- chart resolution, names, values --------------------------------------------------------------
def test_where_the_chart_comes_from(tmp_path: Path, charts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_chart(project(), "stable") == ChartSource(str(charts / "etcd"), origin="the chart of etcd")
    make_chart(charts, "etcd-operator")
    assert resolve_chart(project({"name": "etcd-operator"}), "stable").chart == str(charts / "etcd-operator")
    monkeypatch.chdir(tmp_path)
    assert resolve_chart(project({"path": "helm/etcd"}), "stable").chart == str(tmp_path / "helm" / "etcd")
    assert resolve_chart(project({"path": str(charts / "etcd")}), "stable").origin == "chart.path"
    remote = resolve_chart(project({"repository": "https://charts.example", "name": "etcd", "version": "8.5.0"}), "x")
    assert remote.args() == ["etcd", "--repo", "https://charts.example", "--version", "8.5.0"]
    oci = resolve_chart(project({"repository": "oci://registry.example/charts/", "name": "etcd"}), "x")
    assert oci.args() == ["oci://registry.example/charts/etcd"]
    with pytest.raises(ProjectFailure, match=r"^chart.path: no chart \(Chart.yaml\) at nowhere/etcd$"):
        resolve_chart(project({"path": "nowhere/etcd"}), "stable")
    with pytest.raises(
        ProjectFailure, match=r"chart.name: there is no chart helm/nats/ \(charts: etcd, etcd-operator\)"
    ):
        resolve_chart(project({"name": "nats"}), "stable")
    # The configuration schema refuses these before the runtime sees them.
    with pytest.raises(ConfigError, match=r"chart: 'name' is a dependency of 'repository'"):
        project({"repository": "https://charts.example"})
    with pytest.raises(ConfigError, match=r"chart.name: '../etc' is not valid"):
        project({"name": "../etc"})
    with pytest.raises(InfraFailure, match="no charts directory"):
        resolve_chart(project(), "stable", root=tmp_path / "missing")


def test_names_are_dns_labels() -> None:
    assert release_names("etcd", "stable") == ("etcd-stable", "cc-etcd-stable")
    assert release_names("Open_Policy.Agent", "head") == ("open-policy-agent-head", "cc-open-policy-agent-head")
    long = release_names("x" * 80, "stable")
    assert len(long[0]) == 53 and len(long[1]) == 63 and long[0] != release_names("x" * 81, "stable")[0]
    assert dns_label("--") == "x"


def test_pinned_images_that_helm_would_misread_are_refused() -> None:
    assert image_values(Pinned(ref="v1")) == ()
    untagged = Pinned(ref="v1", images=(Image("127.0.0.1:5000/fixture/hello", DIGEST),))
    assert image_values(untagged) == ("image.repository=127.0.0.1:5000/fixture/hello", f"image.digest={DIGEST}")
    for image, field in [
        (Image("registry.example/etcd,x=y", DIGEST), "repository"),
        (Image("registry.example/etcd", "sha256:short"), "digest"),
        (Image("registry.example/etcd", DIGEST, tag="v1,x=1"), "tag"),
    ]:
        with pytest.raises(ProjectFailure, match=f"the pinned image's {field} "):
            image_values(Pinned(ref="v1", images=(image,)))


# -- the whole pipeline on a Kubernetes cloud -----------------------------------------------------
MODULE = """\
variable "cluster_name" {
  type = string
}
variable "arch" {
  type = string
}
variable "node_count" {
  type = number
}
variable "labels" {
  type = map(string)
}
variable "kubernetes_version" {
  type    = string
  default = null
}
resource "terraform_data" "cluster" {
  input = var.cluster_name
}
output "cloud" {
  value = "kind"
}
output "endpoint" {
  value = "https://127.0.0.1:6443"
}
output "kubernetes_version" {
  value = var.kubernetes_version
}
output "kubeconfig" {
  sensitive = true
  value = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    clusters          = [{ name = terraform_data.cluster.output, cluster = { server = "https://127.0.0.1:6443" } }]
    contexts          = [{ name = "ci", context = { cluster = terraform_data.cluster.output, user = "ci" } }]
    "current-context" = "ci"
    users             = [{ name = "ci", user = { token = "%s" } }]
  })
}
"""


class ListRecorder:
    def __init__(self) -> None:
        self.batches: list[list[Record]] = []

    def record(self, records: Any) -> None:
        self.batches.append(list(records))


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            ["upgrade-ok", "test-ok"],
            [("provision", "success", None), ("deploy", "success", None), ("e2e", "success", None)],
        ),
        (
            ["upgrade-ok", "test-failed", "history-deployed", "pods-running", "events"],
            [
                ("provision", "success", None),
                ("deploy", "success", None),
                ("e2e", "failed", "helm test: test pod etcd-stable-test failed"),
            ],
        ),
        (
            ["upgrade-wait-timeout", "history-failed", "pods-crashloop", "events", "logs"],
            [
                ("provision", "success", None),
                ("deploy", "failed", "etcd-stable is not ready: pod etcd-stable-0 is CrashLoopBackOff"),
                ("e2e", "n/a", "deploy failed"),
            ],
        ),
    ],
    ids=["success", "e2e-failed", "deploy-failed"],
)
def test_the_pipeline_on_a_kubernetes_cloud(
    rules: list[str],
    expected: list[tuple[str, str, str | None]],
    tmp_path: Path,
    charts: Path,
    cli: RecordedCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = tmp_path / "terraform" / "kind-test"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(MODULE % TOKEN)
    monkeypatch.setenv("CROSSCLOUD_TERRAFORM_DIR", str(tmp_path / "terraform"))
    cli.use(*rules, "uninstall-ok", "delete-namespace")
    config = parse_config(CONFIG % "{}", "test.yml")
    recorder = ListRecorder()
    pipeline = Pipeline(
        config, recorder, workroot=tmp_path / "work", log_dir=tmp_path / "logs", builder=lambda ctx, spec, ref: PINNED
    )
    result = pipeline.cloud(config.project("etcd"), "stable", "amd64", config.cloud("kind"), PINNED)
    assert [(r.data["stage"], r.status, r.data.get("reason")) for r in result.records] == expected
    assert all(r.data["kubernetes"] == {"release": "stable"} for r in result.records)
    assert result.records[1].data["artifacts"]["images"][0]["digest"] == DIGEST
    assert result.teardown_errors == []
    assert cli.verbs()[-2:] == ["helm uninstall", "kubectl delete"]  # also after a failure
    log = (tmp_path / "logs" / "etcd-stable-amd64-kind.log").read_text()
    assert "$ terraform destroy" in log
    assert TOKEN not in log.split("== deploy", 1)[1]  # from the deploy on (see the next test for provision)
    assert all(TOKEN not in json.dumps(c["argv"]) for c in cli.calls())


def test_the_kubeconfig_stays_out_of_the_cells_log(
    tmp_path: Path, charts: Path, cli: RecordedCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "terraform" / "kind-test"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(MODULE % TOKEN)
    monkeypatch.setenv("CROSSCLOUD_TERRAFORM_DIR", str(tmp_path / "terraform"))
    cli.use("upgrade-ok", "test-ok", "uninstall-ok", "delete-namespace")
    config = parse_config(CONFIG % "{}", "test.yml")
    pipeline = Pipeline(config, ListRecorder(), workroot=tmp_path / "work", log_dir=tmp_path / "logs")
    result = pipeline.cloud(config.project("etcd"), "stable", "amd64", config.cloud("kind"), PINNED)
    assert result.status == "success"
    assert TOKEN not in (tmp_path / "logs" / "etcd-stable-amd64-kind.log").read_text()
