"""The listing of the charts' images (``python -m crosscloud_action.chart_images``), the check that every tag
exists, and the kind self-test's configuration written from the digests.

What runs for real: ``helm template`` of every chart under ``helm/``; ``skopeo`` resolving tags against a
CNCF Distribution registry on 127.0.0.1 (``docker-registry``), into which the test copies a multi-platform
and a single-platform image it builds as an OCI layout; the whole command as a subprocess. Docker Hub and
quay.io cannot be reached here: where a registry's answer for those names is needed, a stand-in ``skopeo``
(a test double at the registry boundary, named so in each test) prints canned manifests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud.config import load_config
from crosscloud_action.build.reuse import pin_reused
from crosscloud_action.chart_images import ChartImage, Crane, list_images, resolve, self_test_config
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.runtimes.kubernetes import KubernetesRuntime
from tests.action.recorded_cli import real_binary
from tests.helpers.registry import REGISTRY, Registry, http_get

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "helm"
SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(real_binary("helm") is None, reason="helm is not installed (scripts/install-helm.py)")
CHARTS = ("coredns", "envoy", "etcd", "fluentd", "nats", "prometheus")


def command(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    python = str(Path(sys.executable))
    result = subprocess.run(
        [python, "-m", "crosscloud_action.chart_images", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def chart(root: Path, name: str, images: dict[str, str]) -> Path:
    """A chart whose values hold ``images`` (value path -> ``repository:tag``), each run by a container."""
    directory = root / name
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    values: dict[str, Any] = {}
    containers = []
    for index, (path, ref) in enumerate(images.items()):
        repository, tag = ref.rsplit(":", 1)
        node = values
        for key in path.split("."):
            node = node.setdefault(key, {})
        node.update({"repository": repository, "tag": tag, "digest": ""})
        expression = ".Values." + path
        containers.append(
            f'    - name: c{index}\n      image: "{{{{ {expression}.repository }}}}'
            f"{{{{ if {expression}.digest }}}}@{{{{ {expression}.digest }}}}"
            f'{{{{ else }}}}:{{{{ {expression}.tag }}}}{{{{ end }}}}"\n'
        )
    (directory / "values.yaml").write_text(yaml.safe_dump(values))
    (directory / "templates" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: {{ .Release.Name }}}\nspec:\n  containers:\n" + "".join(containers)
    )
    return directory


# -- the listing ------------------------------------------------------------------------------------
def test_every_chart_image_is_listed_with_the_value_that_sets_it() -> None:
    listed = json.loads(command("list", "--json", check=True).stdout)
    assert sorted({item["chart"] for item in listed}) == list(CHARTS)
    for name in CHARTS:
        items = [item for item in listed if item["chart"] == name]
        values = yaml.safe_load((HELM_DIR / name / "values.yaml").read_text())
        project = [item for item in items if item["role"] == "project"]
        assert [item["image"] for item in project] == [f"{values['image']['repository']}:{values['image']['tag']}"]
        assert all(item["value"] for item in items), f"{name}: an image no value sets cannot be pinned: {items}"
        assert any(item["value"] == "tests.image" for item in items), f"{name}: the test hook's image is missing"
    text = command("list", "--chart", "envoy", check=True).stdout.splitlines()
    assert text == [
        "envoy\tproject\timage\tdocker.io/envoyproxy/envoy:v1.31.2",
        "envoy\thelper\tbackend.image\tdocker.io/hashicorp/http-echo:1.0.0",
        "envoy\thelper\ttests.image\tdocker.io/curlimages/curl:8.10.1",
    ]


def test_bad_input_is_named(tmp_path: Path) -> None:
    result = command("list", "--chart", "linkerd")
    assert result.returncode == 2
    assert (
        "chart-images: error: no chart 'linkerd' under" in result.stderr and "(charts: coredns, envoy" in result.stderr
    )
    broken = chart(tmp_path, "broken", {"image": "registry.example/app:1"})
    (broken / "templates" / "bad.yaml").write_text("{{ .Values.nope.deeper }}\n")
    result = command("list", "--charts-dir", str(tmp_path))
    assert result.returncode == 2 and "helm template of chart broken failed: Error: template: broken/templates" in (
        result.stderr
    )
    result = command("self-test-config", "--images", str(broken / "Chart.yaml"), "--output", str(tmp_path / "x"))
    assert result.returncode == 2 and "not a resolve --output file" in result.stderr


# -- resolving against a real registry --------------------------------------------------------------
def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _image(layout: Path, arch: str) -> dict[str, Any]:
    """A one-file image for ``arch``; its manifest's descriptor."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        body = f"hello from {arch}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()
    config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(layout, json.dumps(config).encode()),
        },
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}],
    }
    return {"mediaType": manifest["mediaType"], **_blob(layout, json.dumps(manifest).encode())}


def oci_layout(path: Path) -> Path:
    """An OCI layout with ``multi`` (an index of linux/amd64 and linux/arm64) and ``single`` (amd64 only)."""
    amd64, arm64 = _image(path, "amd64"), _image(path, "arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {**amd64, "platform": {"os": "linux", "architecture": "amd64"}},
            {**arm64, "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    }
    top = {"mediaType": index["mediaType"], **_blob(path, json.dumps(index).encode())}
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    refs = [
        {**top, "annotations": {"org.opencontainers.image.ref.name": "multi"}},
        {**amd64, "annotations": {"org.opencontainers.image.ref.name": "single"}},
    ]
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": refs}))
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if REGISTRY is None or SKOPEO is None:
        pytest.skip("needs docker-registry and skopeo (apt-get install docker-registry skopeo)")
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(root)
    reg.start()
    try:
        layout = oci_layout(root / "layout")
        for tag, extra in (("multi", ["--all"]), ("single", [])):
            subprocess.run(
                [SKOPEO, "copy", "--quiet", *extra, "--dest-tls-verify=false", f"oci:{layout}:{tag}",
                 f"docker://{reg.address}/fixture/app:{tag}"],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        yield reg
    finally:
        reg.stop()


def registry_digest(registry: Registry, tag: str) -> str:
    """The digest the registry itself states for ``fixture/app:tag`` (checked against the bytes it sent)."""
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
    headers, body = http_get(f"http://{registry.address}/v2/fixture/app/manifests/{tag}", accept)
    assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    return headers["Docker-Content-Digest"]


def test_tags_resolve_to_the_registrys_digests_and_a_missing_tag_is_named(registry: Registry, tmp_path: Path) -> None:
    """Real skopeo against a real registry: the digests are the registry's own (``Docker-Content-Digest``);
    a tag that is not there, and an image without linux/arm64, fail the check naming chart and image."""
    charts = tmp_path / "helm"
    app = f"{registry.address}/fixture/app"
    chart(charts, "good", {"image": f"{app}:multi", "tests.image": f"{app}:multi"})
    chart(charts, "amd64-only", {"image": f"{app}:single"})
    chart(charts, "typo", {"image": f"{app}:multi", "sink.image": f"{app}:v9.9.9"})
    out = tmp_path / "images.json"
    started = time.monotonic()
    result = command("resolve", "--charts-dir", str(charts), "--no-tls-verify", "--output", str(out))
    assert time.monotonic() - started < 120
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("chart-images: chart ")]
    assert errors == [
        f"chart-images: chart amd64-only: image {app}:single (values: image): no linux/arm64 image "
        "(it has linux/amd64)",
        f"chart-images: chart typo: image {app}:v9.9.9 (values: sink.image): the tag does not exist "
        + errors[1].split("the tag does not exist ", 1)[1],
    ]
    assert "manifest unknown" in errors[1]
    assert "chart-images: 2 of 5 images failed the check" in result.stderr
    document = json.loads(out.read_text())
    by = {(i["chart"], i["value"]): i for i in document["images"]}
    multi, single = (registry_digest(registry, tag) for tag in ("multi", "single"))
    assert by[("good", "image")]["digest"] == multi and by[("good", "image")]["platforms"] == [
        "linux/amd64",
        "linux/arm64",
    ]
    assert by[("amd64-only", "image")]["digest"] == single
    assert by[("typo", "sink.image")]["digest"] is None
    ok = command("resolve", "--charts-dir", str(charts), "--chart", "good", "--no-tls-verify")
    assert ok.returncode == 0 and f"good\t{app}:multi\t{multi}\tlinux/amd64,linux/arm64" in ok.stdout
    amd64 = command("resolve", "--charts-dir", str(charts), "--chart", "amd64-only", "--no-tls-verify",
                    "--platform", "linux/amd64")  # fmt: skip
    assert amd64.returncode == 0, amd64.stderr


def test_an_unreachable_registry_is_not_a_missing_tag(tmp_path: Path) -> None:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    from tests.action.test_helm_tool import free_port

    charts = tmp_path / "helm"
    chart(charts, "etcd", {"image": f"127.0.0.1:{free_port()}/etcd:v3.5.16"})
    result = command("resolve", "--charts-dir", str(charts), "--no-tls-verify")
    assert result.returncode == 1
    assert "(values: image): could not be resolved (" in result.stderr and "connection refused" in result.stderr
    assert "does not exist" not in result.stderr


# -- the failure message, and crane, with a stand-in resolver --------------------------------------
STAND_IN = """\
#!{python}
# Stand-in for {tool} (a test double at the registry boundary: docker.io and quay.io are not reachable here).
import json, sys
args = sys.argv[1:]
ref = args[-1].removeprefix("docker://")
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if ref.endswith(":v0.0.0-missing"):
    sys.stderr.write('time="2026-01-01T00:00:00Z" level=fatal msg="Error reading manifest v0.0.0-missing in '
                     + ref.rsplit(":", 1)[0] + ': manifest unknown"\\n')
    sys.exit(1)
if "--config" in args or args[0] == "config":
    print(json.dumps({{"architecture": "amd64", "os": "linux"}}))
elif any(ref.startswith(name + ":") for name in {single!r}):
    sys.stdout.write(json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}}))
else:
    sys.stdout.write(json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{{"platform": {{"os": "linux", "architecture": a}}}} for a in ("amd64", "arm64")]
        + [{{"platform": {{"os": "unknown", "architecture": "unknown"}}}}]}}))
"""


def stand_in(
    directory: Path, tool: str, single_platform: tuple[str, ...] = ("docker.io/library/busybox",)
) -> tuple[Path, Path]:
    """A stand-in ``tool`` (skopeo or crane) in ``directory``, and the file its calls are logged to. Images of
    the repositories ``single_platform`` are linux/amd64 only; tags ending ``:v0.0.0-missing`` do not exist."""
    log = directory / f"{tool}-calls.jsonl"
    script = directory / tool
    script.write_text(STAND_IN.format(python=sys.executable, tool=tool, log=str(log), single=list(single_platform)))
    script.chmod(0o755)
    return script, log


def test_the_failure_names_chart_and_image_with_a_stand_in_resolver(tmp_path: Path) -> None:
    """A stand-in skopeo (registry boundary) answers every chart image of this project, but one tag it
    does not know: the command fails, naming that chart and image, and lists the rest with digests."""
    skopeo, log = stand_in(tmp_path, "skopeo")
    charts = tmp_path / "helm"
    shutil.copytree(HELM_DIR, charts)
    values = charts / "nats" / "values.yaml"
    values.write_text(values.read_text().replace('tag: "2.10.22-alpine"', 'tag: "v0.0.0-missing"'))
    out = tmp_path / "images.json"
    result = command("resolve", "--charts-dir", str(charts), "--resolver-binary", str(skopeo), "--output", str(out))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "chart-images: chart coredns: image docker.io/library/busybox:1.36.1 (values: tests.image): no linux/arm64 "
        "image (it has linux/amd64)",
        "chart-images: chart fluentd: image docker.io/library/busybox:1.36.1 (values: sink.image): no linux/arm64 "
        "image (it has linux/amd64)",
        "chart-images: chart nats: image docker.io/library/nats:v0.0.0-missing (values: image): the tag does not "
        "exist (Error reading manifest v0.0.0-missing in docker.io/library/nats: manifest unknown)",
        "chart-images: 3 of 14 images failed the check",
    ]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert ["inspect", "--raw", "--retry-times", "2", "docker://quay.io/coreos/etcd:v3.5.16"] in calls
    busybox = next(i for i in json.loads(out.read_text())["images"] if "busybox" in i["image"])
    assert ["inspect", "--config", f"docker://docker.io/library/busybox@{busybox['digest']}"] in calls
    images = json.loads(out.read_text())["images"]
    assert len(images) == 14 and all(i["digest"] for i in images if "missing" not in i["image"])


def test_crane_is_asked_the_same(tmp_path: Path) -> None:
    crane, log = stand_in(tmp_path, "crane")
    resolved = resolve(ChartImage("etcd", "quay.io/coreos/etcd:v3.5.16", "image"), Crane(str(crane), tls_verify=False))
    assert resolved.problem is None and resolved.platforms == ["linux/amd64", "linux/arm64"]
    single = resolve(ChartImage("x", "docker.io/library/busybox:1.36.1", "tests.image"), Crane(str(crane)))
    assert single.platforms == ["linux/amd64"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [
        ["manifest", "--insecure", "quay.io/coreos/etcd:v3.5.16"],
        ["manifest", "docker.io/library/busybox:1.36.1"],
        ["config", f"docker.io/library/busybox@{single.digest}"],
    ]


# -- the kind self-test's configuration -------------------------------------------------------------
def test_the_self_test_configuration_pins_every_image_the_kind_job_runs(tmp_path: Path) -> None:
    """From resolved digests (stand-in skopeo), the configuration the kind jobs record with: valid, one
    project per chart on kind at the Kubernetes stable release, and what each chart renders through the
    deploy stage's own plan runs every image by digest."""
    skopeo, _ = stand_in(tmp_path, "skopeo")
    images = tmp_path / "images.json"
    command(
        "resolve", "--resolver-binary", str(skopeo), "--platform", "linux/amd64", "--output", str(images), check=True
    )
    config_file = tmp_path / "cross-cloud.yml"
    done = command("self-test-config", "--images", str(images), "--output", str(config_file), check=True)
    assert done.stdout.strip() == f"{config_file}: 6 charts on kind, Kubernetes v1.31.0"
    config = load_config(config_file)
    assert sorted(config.projects) == sorted([*CHARTS, "kubernetes"]) and list(config.clouds) == ["kind"]
    assert config.kubernetes_project == "kubernetes" and config.projects["kubernetes"].ref("stable") == "v1.31.0"
    digests = {i["image"]: i["digest"] for i in json.loads(images.read_text())["images"]}
    for name in CHARTS:
        project = config.project(name)
        assert project.releases == ("stable",) and project.arch == ("amd64", "arm64")
        ctx = StageContext(project, "stable", "arm64", config.cloud("kind"), tmp_path / name, io.StringIO(),
                           time.monotonic() + 60)  # fmt: skip
        ctx.workdir.mkdir()
        pinned = pin_reused(ctx, project.build, project.ref("stable") or "")
        rendered = KubernetesRuntime().render(ctx, pinned)
        refs = [line.split("image:", 1)[1].strip().strip('"') for line in rendered.splitlines() if "image:" in line]
        assert refs and all("@sha256:" in ref for ref in refs), f"{name}: {refs}"
        assert {ref.split("@")[1] for ref in refs} <= set(digests.values())


def test_a_configuration_needs_every_digest() -> None:
    from crosscloud_action.chart_images import ChartImagesError

    with pytest.raises(ChartImagesError, match=r"chart etcd: image quay.io/coreos/etcd:v9 has no digest"):
        self_test_config([{"chart": "etcd", "image": "quay.io/coreos/etcd:v9", "value": "image", "digest": None}])
    with pytest.raises(ChartImagesError, match=r"chart etcd: no image set by the value 'image'"):
        self_test_config([{"chart": "etcd", "image": "x/y:1", "value": "tests.image", "digest": "sha256:" + "0" * 64}])


def test_listing_the_images_of_charts_given_by_path(tmp_path: Path) -> None:
    charts = tmp_path / "helm"
    chart(charts, "app", {"image": "registry.example/app:1.0", "helper.image": "registry.example/helper:2"})
    assert list_images(charts) == [
        ChartImage("app", "registry.example/app:1.0", "image"),
        ChartImage("app", "registry.example/helper:2", "helper.image"),
    ]
