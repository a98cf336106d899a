"""The helm and kubectl wrappers: exact argument lists, the kubeconfig file, helm's share of the stage's
time, and the one classifier of failures — fed with what the real binaries print. Where a text needs a
cluster's answer, a small HTTP server on 127.0.0.1 plays the Kubernetes API server (which cannot run here)
and answers every request with one status, so the client texts still come from the real helm and kubectl;
the remaining texts are recorded ones (``recorded_cli/transcripts``)."""

from __future__ import annotations

import io
import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crosscloud.config import parse_config
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageFailure, StageTimeout
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import helm as helm_tool
from crosscloud_action.tools.helm import ChartSource, Helm, ReleasePlan, charts_root, wait_seconds
from crosscloud_action.tools.kubectl import Kubectl, classify, error_text, is_not_found, parse_pods, write_kubeconfig
from tests.action.recorded_cli import transcripts
from tests.helpers.required_tools import path_of
from tests.helpers.servers import free_port

HELM = path_of("helm")
KUBECTL = path_of("kubectl")
CONFIG = "clouds:\n  kind: {}\nprojects:\n  etcd: {stable_ref: v3.5.17, timeout: 60}\n"


def context(tmp_path: Path, seconds: float = 60) -> StageContext:
    project = parse_config(CONFIG, "test.yml").project("etcd")
    return StageContext(project, "stable", "amd64", None, tmp_path, io.StringIO(), time.monotonic() + seconds)


def kubeconfig_for(server: str, tmp_path: Path) -> Path:
    text = (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: {json.dumps(server)}}}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n"
        "users:\n- name: u\n  user: {token: do-not-show-this-token}\n"
    )
    return write_kubeconfig(tmp_path / "kube", text)


@pytest.fixture
def api_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server on 127.0.0.1 that stands in for a Kubernetes API server (none can run here) and
    answers every request with the status the test puts in the list, as a Kubernetes ``Status``."""
    answer = [401]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = answer[0]
            reason = {401: "Unauthorized", 403: "Forbidden"}[code]
            message = {
                401: "Unauthorized",
                403: 'pods is forbidden: User "ci" cannot list resource "pods" in API group "" in the namespace "ns"',
            }[code]
            body = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "code": code,
                }
            ).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def plan(chart: str = "/charts/etcd", values: tuple[Path, ...] = (Path("/w/values.json"),)) -> ReleasePlan:
    return ReleasePlan(
        release="etcd-stable",
        namespace="cc-etcd-stable",
        chart=ChartSource(chart, origin="test"),
        values_files=values,
        sets=("image.repository=registry.example/etcd", "image.digest=sha256:" + "a" * 64),
        labels={"cross-cloud.ci/project": "etcd", "cross-cloud.ci/cloud": "kind"},
    )


# -- argument lists ----------------------------------------------------------------------------------
def test_the_argument_lists(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    kubeconfig = tmp_path / "kubeconfig"
    helm = Helm(ctx, kubeconfig, binary="helm")
    assert helm.upgrade_argv(plan(), 42) == [
        "helm", "upgrade", "--install", "etcd-stable", "/charts/etcd", "--kubeconfig", str(kubeconfig),
        "--namespace", "cc-etcd-stable", "--create-namespace", "--wait", "--timeout=42s",
        "--labels", "cross-cloud.ci/project=etcd,cross-cloud.ci/cloud=kind",
        "--values", "/w/values.json",
        "--set-string", "image.repository=registry.example/etcd",
        "--set-string", "image.digest=sha256:" + "a" * 64,
    ]  # fmt: skip
    assert "--atomic" not in helm.upgrade_argv(plan(), 42)
    assert helm.template_argv(plan())[:5] == ["helm", "template", "etcd-stable", "/charts/etcd", "--namespace"]
    assert "--kubeconfig" not in helm.template_argv(plan())
    assert helm.test_argv("r", "ns", 7) == [
        "helm", "test", "r", "--kubeconfig", str(kubeconfig), "--namespace", "ns", "--logs", "--timeout=7s"
    ]  # fmt: skip
    assert helm.uninstall_argv("r", "ns", 9)[-3:] == ["ns", "--wait", "--timeout=9s"]
    remote = ChartSource("etcd", repo="https://charts.example", version="8.5.0")
    assert remote.args() == ["etcd", "--repo", "https://charts.example", "--version", "8.5.0"]
    kubectl = Kubectl(ctx, kubeconfig, binary="kubectl")
    assert kubectl.argv("get", "pods") == [
        "kubectl", "--kubeconfig", str(kubeconfig), "--request-timeout=20s", "get", "pods"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no kubeconfig"):
        Helm(ctx, None, binary="helm").upgrade_argv(plan(), 1)


def test_helm_waits_for_what_is_left_of_the_stage_less_a_margin(tmp_path: Path) -> None:
    assert 588 <= wait_seconds(context(tmp_path, 600)) <= 590  # 10 s margin
    assert 26 <= wait_seconds(context(tmp_path, 30)) <= 27  # a tenth when that is less
    with pytest.raises(StageTimeout, match="no time left"):
        wait_seconds(context(tmp_path, 0.5))


def test_the_kubeconfig_file_is_private(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "k", "apiVersion: v1\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    write_kubeconfig(tmp_path / "k", {"apiVersion": "v1", "clusters": []})  # a terraform output object
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["apiVersion"] == "v1"
    with pytest.raises(InfraFailure, match="no kubeconfig"):
        write_kubeconfig(tmp_path / "k", None)


def test_charts_root_follows_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROSSCLOUD_HELM_DIR", raising=False)
    assert charts_root().name == "helm"
    assert (charts_root().parent / "action" / "tools" / "helm.py").is_file()
    monkeypatch.setenv("CROSSCLOUD_HELM_DIR", str(tmp_path))
    assert charts_root() == tmp_path


# -- classification with the real binaries' texts ---------------------------------------------------
def failure_of(ctx: StageContext, call: object) -> StageFailure:
    with pytest.raises(StageFailure) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_an_unreachable_api_server_is_the_environment(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    kubeconfig = kubeconfig_for(f"https://127.0.0.1:{free_port()}", tmp_path)
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    up = failure_of(ctx, lambda: Helm(ctx, kubeconfig, binary=HELM).upgrade_install(plan(str(chart))))
    assert isinstance(up, InfraFailure)
    assert up.reason.startswith(
        "helm upgrade: the Kubernetes API server is unreachable: Error: Kubernetes cluster unreachable"
    )
    pods = failure_of(ctx, lambda: Kubectl(ctx, kubeconfig, binary=KUBECTL).get_pods("ns"))
    assert isinstance(pods, InfraFailure) and "unreachable" in pods.reason
    assert "was refused" in pods.reason  # kubectl's summary line, not client-go's E1123 log lines
    assert "do-not-show-this-token" not in ctx.log.getvalue()  # type: ignore[attr-defined]


def test_refused_credentials_and_rbac_are_the_environment(tmp_path: Path, api_server: tuple[str, list[int]]) -> None:
    url, answer = api_server
    ctx = context(tmp_path)
    kubeconfig = kubeconfig_for(url, tmp_path)
    kubectl = Kubectl(ctx, kubeconfig, binary=KUBECTL)
    unauthorized = failure_of(ctx, lambda: kubectl.get_pods("ns"))
    assert isinstance(unauthorized, InfraFailure)
    assert unauthorized.reason == (
        "kubectl get pods: the cluster refused the credentials: error: You must be logged in to the server "
        "(the server has asked for the client to provide credentials)"
    )
    helm = Helm(ctx, kubeconfig, binary=HELM)
    unauthorized = failure_of(ctx, lambda: helm.history("etcd-stable", "ns"))
    assert isinstance(unauthorized, InfraFailure) and "refused the credentials" in unauthorized.reason
    answer[0] = 403
    forbidden = failure_of(ctx, lambda: kubectl.get_events("ns"))
    # kubectl 1.31 drops the server's message when discovery is refused: only "(Forbidden): unknown" is left
    assert (
        forbidden.reason == "kubectl get events: the cluster's RBAC forbids it: Error from server (Forbidden): unknown"
    )
    assert (
        classify(
            "kubectl apply",
            'Error from server (Forbidden): pods "x" is forbidden: violates PodSecurity "restricted:latest"',
        ).status
        == "failed"
    )


def test_a_chart_that_does_not_render_is_the_projects(tmp_path: Path) -> None:
    chart = tmp_path / "broken"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\ndata: {{ .Values.image.nope.deeper }}\n")
    ctx = context(tmp_path)
    failure = failure_of(ctx, lambda: Helm(ctx, None, binary=HELM).template(plan(str(chart), ())))
    assert isinstance(failure, ProjectFailure)
    assert failure.reason.startswith("helm template: Error: template: broken/templates/cm.yaml:2")
    assert "nil pointer" in failure.reason


@pytest.mark.parametrize(
    ("rule", "status", "words"),
    [
        ("upgrade-wait-timeout", "timed_out", "release etcd-stable to be ready (30 s) did not finish in time"),
        ("upgrade-unauthorized", "infra_failed", "refused the credentials"),
        ("upgrade-quota", "infra_failed", "resource quota of the cluster is exhausted: Error: 1 error occurred:"),
        ("upgrade-invalid-manifest", "failed", 'missing required field "selector"'),
        ("test-failed", "failed", "Error: 1 error occurred: pod etcd-stable-test failed"),
        ("get-forbidden", "infra_failed", "RBAC forbids it"),
        ("get-unauthorized", "infra_failed", "refused the credentials: error: You must be logged in"),
        ("delete-namespace-unreachable", "infra_failed", "API server is unreachable"),
    ],
)
def test_recorded_failures_are_classified(rule: str, status: str, words: str) -> None:
    failure = classify("tool", transcripts()[rule]["stderr"], waited="release etcd-stable to be ready (30 s)")
    assert failure.status == status
    assert words in failure.reason


def test_error_text_and_not_found() -> None:
    klog = (
        'E1123 22:14:32.620903   31077 memcache.go:265] "Unhandled Error" err="x"\n'
        "The connection to the server h was refused\n"
    )
    assert error_text(klog) == "The connection to the server h was refused"
    assert error_text("") == "no error output"
    assert is_not_found(transcripts()["uninstall-not-found"]["stderr"])
    assert is_not_found('Error from server (NotFound): namespaces "x" not found\n')
    assert not is_not_found('Error: template: function "nope" not found\n')
    rows = parse_pods(transcripts()["pods-crashloop"]["stdout"])
    assert [(p.name, p.ready, p.status, p.healthy) for p in rows] == [
        ("etcd-stable-0", "0/1", "CrashLoopBackOff", False)
    ]
    assert parse_pods(transcripts()["pods-running"]["stdout"])[0].healthy


def test_a_missing_binary_is_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helm_tool, "find_binary", lambda name, ctx: "helm-is-not-here")
    ctx = context(tmp_path)
    failure = failure_of(ctx, lambda: Helm(ctx, tmp_path / "k").upgrade_install(plan()))
    assert (
        isinstance(failure, InfraFailure) and failure.reason == "helm-is-not-here is not installed (not found on PATH)"
    )
