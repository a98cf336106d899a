"""The record mode of the Kubernetes runtime (``CROSSCLOUD_RECORD_TRANSCRIPTS``) and the transcripts it
writes, recorded from the real helm and kubectl binaries and replayed through the recorded-CLI stand-ins
(``tests/action/recorded_cli``), which must then answer exactly as the real binaries did.

What can be recorded here, without a cluster: ``helm template`` of a chart, ``helm version``, ``kubectl
version --client``, ``kubectl config view`` (it prints the kubeconfig: the planted-token test) and a whole
deploy against an API server that is not there (127.0.0.1, a port nothing listens on). The answers of a
live cluster are recorded by the kind job of ``.github/workflows/kubernetes-self-test.yml``."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crosscloud.config import parse_config
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageFailure, StageTimeout
from crosscloud_action.model import Image, Pinned, Target
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.runtimes.kubernetes import KubernetesRuntime
from crosscloud_action.tools import transcripts as recording
from crosscloud_action.tools.kubectl import Kubectl, classify, error_text, write_kubeconfig
from tests.action.recorded_cli import (
    TRANSCRIPTS,
    install,
    provenance,
    real_binary,
    transcript_files,
    transcripts,
)
from tests.action.test_kubernetes_runtime import make_chart
from tests.helpers.servers import free_port

HELM = real_binary("helm")
KUBECTL = real_binary("kubectl")
pytestmark = pytest.mark.skipif(
    HELM is None or KUBECTL is None, reason="helm and kubectl are not installed (scripts/install-helm.py)"
)

DIGEST = "sha256:" + "4f1a5c3d" * 8
PINNED = Pinned(ref="v3.5.17", sha=None, images=(Image("registry.example/etcd", DIGEST, tag="v3.5.17"),))
TOKEN = "planted-bearer-token-0b7e4c21d9"
GITHUB_TOKEN = "ghs_" + "Q" * 36
KEY_PEM = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPlantedPrivateKeyMaterial0123456789abcdef\n-----END EC PRIVATE KEY-----"
)
CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBPlantedClientCertificate0123456789abcdef\n-----END CERTIFICATE-----"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig_text(server: str, *, planted_pem: bool = False) -> str:
    """A kubeconfig with a token; with ``planted_pem`` also CA, client certificate and key data (invented:
    client-go refuses them before it connects, so only for calls that read the file, not the server)."""
    if planted_pem:
        cluster = f"{{server: {server!r}, certificate-authority-data: {b64(CERT_PEM)}}}"
        pem = f"\n    client-certificate-data: {b64(CERT_PEM)}\n    client-key-data: {b64(KEY_PEM)}"
    else:
        cluster, pem = f"{{server: {server!r}, insecure-skip-tls-verify: true}}", ""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: kind\n  cluster: {cluster}\n"
        "contexts:\n- name: kind\n  context: {cluster: kind, user: ci}\ncurrent-context: kind\n"
        f"users:\n- name: ci\n  user:\n    token: {TOKEN}{pem}\n"
    )


def context(tmp_path: Path, record_dir: Path | None, seconds: float = 60) -> StageContext:
    config = parse_config("clouds:\n  kind: {}\nprojects:\n  etcd: {stable_ref: v3.5.17, timeout: 60}\n", "test.yml")
    workdir = tmp_path / "cell"
    workdir.mkdir(exist_ok=True)
    env = {recording.ENV: str(record_dir)} if record_dir else {}
    return StageContext(
        config.project("etcd"),
        "stable",
        "amd64",
        config.cloud("kind"),
        workdir,
        io.StringIO(),
        time.monotonic() + seconds,
        env=env,
    )


def recorded(directory: Path) -> dict[str, dict[str, object]]:
    """Every rule of ``directory``, checked the way the replaying tests load them."""
    return transcripts(directory)


@pytest.fixture
def charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "helm"
    make_chart(root)
    monkeypatch.setenv("CROSSCLOUD_HELM_DIR", str(root))
    return root


def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, *names: str) -> object:
    cli = install(tmp_path / "cli", source=source)
    monkeypatch.setenv("PATH", f"{cli.bin}:{os.environ['PATH']}")
    monkeypatch.setenv("RECORDED_CLI_DIR", str(cli.directory))
    cli.use(*names)
    return cli


# -- provenance -------------------------------------------------------------------------------------
def test_every_transcript_says_where_it_comes_from() -> None:
    files = sorted(TRANSCRIPTS.parent.rglob("*.json"))
    assert files == sorted(transcript_files().values()), "a transcript outside transcripts/ is never checked"
    for path in files:
        header = provenance(path)
        assert header["tool"] in path.name
        if header["kind"] == "hand-written":
            assert re.search(r"v\d+\.\d+\.\d+", header["modelled_on"]), header


def test_a_transcript_without_its_header_is_refused(tmp_path: Path) -> None:
    for tool, path in transcript_files().items():
        data = json.loads(path.read_text())
        (tmp_path / path.name).write_text(json.dumps(data))
        if tool == "kubectl":
            del data["_provenance"]["written"]
            (tmp_path / path.name).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"kubectl-1\.31\.json: _provenance\.written is missing"):
        transcripts(tmp_path)
    (tmp_path / "helm-3.18.json").write_text("{}")
    with pytest.raises(ValueError, match=r"expected one helm-<major.minor>.json, found \['helm-3.17.json', 'helm-3.18"):
        transcripts(tmp_path)


# -- record, then replay ----------------------------------------------------------------------------
def test_helm_template_and_the_versions_recorded_and_replayed(
    tmp_path: Path, charts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert HELM is not None and KUBECTL is not None
    rec = tmp_path / "recorded"
    ctx = context(tmp_path, rec)
    manifests = KubernetesRuntime().render(ctx, PINNED)
    version = recording.run(ctx, "helm", [HELM, "version", "--short"])
    client = recording.run(ctx, "kubectl", [KUBECTL, "version", "--client"])
    assert f"registry.example/etcd@{DIGEST}" in manifests and version.stdout.startswith("v3.")

    files = transcript_files(rec)
    helm_header, kubectl_header = provenance(files["helm"]), provenance(files["kubectl"])
    assert helm_header["kind"] == "recorded" and helm_header["version"] == version.stdout.strip()
    assert kubectl_header["version"] == re.search(r"Client Version: (\S+)", client.stdout).group(1)  # type: ignore[union-attr]
    assert files["helm"].name == "helm-{}.{}.json".format(*helm_header["version"].lstrip("v").split(".")[:2])
    rules = recorded(rec)
    assert sorted(rules) == ["helm-template-etcd-stable-ok", "helm-version-ok", "kubectl-version-ok"]
    template = rules["helm-template-etcd-stable-ok"]
    assert template["when"] == ["template", "etcd-stable", "--namespace", "cc-etcd-stable"]
    assert template["argv"][:3] == ["template", "etcd-stable", "<charts>/etcd"]  # type: ignore[index]
    assert str(tmp_path) not in json.dumps(template)
    assert template["exit"] == 0 and template["stdout"] == manifests and template["stderr"] == ""
    assert "(recorded as helm-template-etcd-stable-ok in" in ctx.log.getvalue()  # type: ignore[attr-defined]

    # The stand-ins answer from the recording, not from the real binary, and exactly as it did.
    cli = stand_ins(tmp_path, monkeypatch, rec, *rules)
    (tmp_path / "replay").mkdir()
    replay = context(tmp_path / "replay", None)
    assert KubernetesRuntime().render(replay, PINNED) == manifests
    assert recording.run(replay, "helm", ["helm", "version", "--short"]).stdout == version.stdout
    assert recording.run(replay, "kubectl", ["kubectl", "version", "--client"]).stdout == client.stdout
    answers = [call["answer"] for call in cli.calls()]  # type: ignore[attr-defined]
    assert answers == ["helm-template-etcd-stable-ok", "helm-version-ok", "kubectl-version-ok"]


def test_a_deploy_against_an_unreachable_api_server_recorded_and_replayed(
    tmp_path: Path, charts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole failure path of a deploy (upgrade, diagnostics, teardown) with the real binaries against
    127.0.0.1:<a port nothing listens on>; replayed, the runtime makes the same calls and fails the same."""
    rec = tmp_path / "recorded"
    target = Target(cloud="kind", endpoint="x", kubeconfig=kubeconfig_text(f"https://127.0.0.1:{free_port()}"))
    ctx = context(tmp_path, rec)
    with pytest.raises(StageFailure) as real:
        KubernetesRuntime(diagnose_budget=15, teardown_budget=30).deploy(ctx, target, PINNED)
    assert isinstance(real.value, InfraFailure)
    rules = recorded(rec)
    assert list(rules) == [
        "helm-upgrade-etcd-stable-exit1",
        "helm-history-etcd-stable-exit1",
        "helm-uninstall-etcd-stable-exit1",
        "kubectl-delete-namespace-cc-etcd-stable-exit1",
    ]
    upgrade = rules["helm-upgrade-etcd-stable-exit1"]
    assert upgrade["when"] == [
        "upgrade", "--install", "etcd-stable", "--namespace", "cc-etcd-stable", "--create-namespace", "--wait"
    ]  # fmt: skip
    assert upgrade["argv"][3:6] == ["<charts>/etcd", "--kubeconfig", "<kubeconfig>"]  # type: ignore[index]

    cli = stand_ins(tmp_path, monkeypatch, rec, *rules)
    (tmp_path / "replay").mkdir()
    replay = context(tmp_path / "replay", None)
    elsewhere = Target(cloud="kind", endpoint="x", kubeconfig=kubeconfig_text("https://127.0.0.1:1"))
    with pytest.raises(StageFailure) as replayed:
        KubernetesRuntime(diagnose_budget=15, teardown_budget=30).deploy(replay, elsewhere, PINNED)
    assert type(replayed.value) is type(real.value) and replayed.value.reason == real.value.reason
    assert [call["answer"] for call in cli.calls()] == list(rules)  # type: ignore[attr-defined]
    log = replay.log.getvalue()  # type: ignore[attr-defined]
    assert "-- diagnostics: helm history: helm history: the Kubernetes API server is unreachable" in log


def test_the_hand_written_unreachable_answers_read_as_the_real_binaries_print_them(tmp_path: Path) -> None:
    """The hand-written transcripts of an unreachable cluster against a fresh recording of the real
    binaries: the same error line (the port aside), so the same classification."""
    assert HELM is not None
    rec = tmp_path / "recorded"
    port = free_port()
    ctx = context(tmp_path, rec)
    kubeconfig = write_kubeconfig(tmp_path / "kube", kubeconfig_text(f"https://127.0.0.1:{port}"))
    for argv in (
        [HELM, "upgrade", "--install", "etcd-stable", "/nonexistent", "--kubeconfig", str(kubeconfig)],
        [HELM, "history", "etcd-stable", "--kubeconfig", str(kubeconfig)],
        [HELM, "uninstall", "etcd-stable", "--kubeconfig", str(kubeconfig)],
    ):
        recording.run(ctx, "helm", argv)
    with pytest.raises(InfraFailure):
        Kubectl(ctx, kubeconfig).run("delete namespace", ["delete", "namespace", "cc-etcd-stable"])
    real = recorded(rec)
    hand = transcripts()
    pairs = {
        "upgrade-unreachable": "helm-upgrade-etcd-stable-exit1",
        "history-unreachable": "helm-history-etcd-stable-exit1",
        "uninstall-unreachable": "helm-uninstall-etcd-stable-exit1",
        "delete-namespace-unreachable": "kubectl-delete-namespace-cc-etcd-stable-exit1",
    }

    def line(stderr: object) -> str:
        return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", error_text(str(stderr)))

    for written, got in pairs.items():
        assert line(hand[written]["stderr"]) == line(real[got]["stderr"]), written
        ours = classify("x", str(hand[written]["stderr"]))
        theirs = classify("x", str(real[got]["stderr"]))
        assert (type(ours), ours.reason.split(": ")[1]) == (type(theirs), theirs.reason.split(": ")[1])


# -- redaction --------------------------------------------------------------------------------------
def test_a_planted_token_and_the_kubeconfig_never_reach_a_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kubectl config view --raw`` prints the kubeconfig with its credentials, and a context named like
    a secret comes back in kubectl's error: the real binary's output, recorded, keeps none of them."""
    monkeypatch.setenv("CROSSCLOUD_TOKEN", GITHUB_TOKEN)
    rec = tmp_path / "recorded"
    ctx = context(tmp_path, rec)
    kubeconfig = write_kubeconfig(ctx.workdir / "kubernetes", kubeconfig_text("https://127.0.0.1:1", planted_pem=True))
    kubectl = Kubectl(ctx, kubeconfig)
    shown = kubectl.run("config view", ["config", "view", "--raw"]).stdout
    assert TOKEN in shown and b64(KEY_PEM) in shown  # the real output holds them
    with pytest.raises(ProjectFailure, match="context was not found"):
        kubectl.run("get pods", ["get", "pods", "--context", GITHUB_TOKEN])

    written = "".join(p.read_text() for p in rec.iterdir())
    planted = [TOKEN, b64(KEY_PEM), b64(CERT_PEM), KEY_PEM, GITHUB_TOKEN, str(kubeconfig), str(tmp_path)]
    for secret in planted:
        assert secret not in written, f"{secret[:20]}... is in the transcript"
    rules = recorded(rec)
    view = rules["kubectl-config-view-ok"]
    assert "token: <redacted kubeconfig users[ci].token>" in view["stdout"]  # type: ignore[operator]
    assert "client-key-data: <redacted kubeconfig users[ci].client-key-data>" in view["stdout"]  # type: ignore[operator]
    assert "server: https://127.0.0.1:1" in view["stdout"]  # type: ignore[operator]  # not a secret: kept
    failed = rules["kubectl-get-pods-exit1"]
    assert "<redacted $CROSSCLOUD_TOKEN>" in failed["stderr"]  # type: ignore[operator]
    assert failed["argv"][:2] == ["--kubeconfig", "<kubeconfig>"]  # type: ignore[index]


def test_secrets_are_recognised_by_their_shape() -> None:
    redact = recording.Redactor()
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
    text = (
        f"Authorization: Bearer {TOKEN}\nid {jwt}\n{KEY_PEM}\n"
        f'{{"token": "{TOKEN}", "password":"hunter2-long"}}\nurl https://x/?access-token={TOKEN}&a=1\n'
        f"github_pat_{'A' * 30} {GITHUB_TOKEN}\nTEST SUITE: etcd-stable-test\n"
    )
    out = redact(text)
    for secret in (TOKEN, jwt, "PlantedPrivateKey", "hunter2", "github_pat_", GITHUB_TOKEN):
        assert secret not in out, secret
    assert "Authorization: Bearer <redacted>" in out and "<redacted PEM block>" in out
    assert "TEST SUITE: etcd-stable-test" in out  # ordinary output stays


# -- the record mode's edges ------------------------------------------------------------------------
def test_nothing_is_recorded_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert HELM is not None
    monkeypatch.delenv(recording.ENV, raising=False)
    ctx = context(tmp_path, None)
    assert recording.run(ctx, "helm", [HELM, "version", "--short"]).returncode == 0
    assert "recorded" not in ctx.log.getvalue()  # type: ignore[attr-defined]
    monkeypatch.setenv(recording.ENV, str(tmp_path / "from-the-environment"))
    recording.run(ctx, "helm", [HELM, "version", "--short"])
    assert [p.name for p in (tmp_path / "from-the-environment").glob("*.json")] == ["helm-3.17.json"]


def test_a_transcript_that_cannot_be_written_does_not_fail_the_call(tmp_path: Path) -> None:
    assert HELM is not None
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    ctx = context(tmp_path, blocked)
    assert recording.run(ctx, "helm", [HELM, "version", "--short"]).returncode == 0
    assert "record mode: the helm call was not recorded" in ctx.log.getvalue()  # type: ignore[attr-defined]
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "helm-3.17.json").write_text((TRANSCRIPTS / "helm-3.17.json").read_text())
    ctx = context(tmp_path, tmp_path / "hand")
    recording.run(ctx, "helm", [HELM, "version", "--short"])
    assert "is not a recorded transcript; record into an empty directory" in ctx.log.getvalue()  # type: ignore[attr-defined]
    assert (tmp_path / "hand" / "helm-3.17.json").read_text() == (TRANSCRIPTS / "helm-3.17.json").read_text()


def test_a_killed_call_is_not_recorded(tmp_path: Path) -> None:
    rec = tmp_path / "recorded"
    ctx = context(tmp_path, rec)
    with pytest.raises(StageTimeout):
        recording.run(ctx, "helm", [sys.executable, "-c", "import time; time.sleep(10)"], timeout=0.5)
    assert not rec.exists()


def test_cells_recording_at_once_lose_no_call(tmp_path: Path) -> None:
    """Cells of one process (``crosscloud run --jobs N``) write the same file: every call is kept."""
    assert KUBECTL is not None
    rec = tmp_path / "recorded"
    result = subprocess.CompletedProcess(["kubectl"], 0, "pods\n", "")
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(10):
                argv = [KUBECTL, "get", "pods", "--namespace", f"ns-{index}-{n}"]
                recording.record(rec, "kubectl", argv, result, redactor=recording.Redactor(), env={})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rules = recorded(rec)
    assert len(rules) == 40 and "kubectl-get-pods-ok-40" in rules
    namespaces = sorted(str(rule["argv"][3]) for rule in rules.values())  # type: ignore[index]
    assert namespaces == sorted(f"ns-{i}-{n}" for i in range(4) for n in range(10))
