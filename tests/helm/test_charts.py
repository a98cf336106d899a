"""The Helm charts under helm/: lint, render, schema enforcement, and the test hooks' scripts run for real.

Everything here runs the real ``helm`` binary. There is no Kubernetes API server on a test machine, so
``helm test`` itself cannot run; instead the rendered manifests are checked for the properties a cluster
would rely on (pinned images, resources, probes, selectors that match, hook Pods that check something),
the rendered server configurations are checked by the real servers' own config checkers (promtool,
``nats-server -t``), and the hook scripts of Prometheus and etcd are run against real local servers.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers.required_tools import NO_API_SERVER, path_of
from tests.helpers.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "helm"
CHARTS = ("coredns", "envoy", "etcd", "fluentd", "nats", "prometheus")
RELEASE = "cc"
# The container that runs the project itself, per chart: the one the deploy stage's image values pin.
MAIN_CONTAINER = {
    "coredns": "coredns",
    "envoy": "envoy",
    "etcd": "etcd",
    "fluentd": "fluentd",
    "nats": "nats",
    "prometheus": "prometheus",
}
DIGEST = re.compile(r"^[^@\s]+@sha256:[a-f0-9]{64}$")
TAGGED = re.compile(r"^[^@\s]+:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


HELM = path_of("helm")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def scenarios() -> list[tuple[str, str]]:
    return [
        (chart, values.name) for chart in CHARTS for values in sorted((HELM_DIR / chart / "ci").glob("*-values.yaml"))
    ]


SCENARIOS = scenarios()
SCENARIO_IDS = [f"{chart}-{name.removesuffix('-values.yaml')}" for chart, name in SCENARIOS]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of a values file onto the chart's defaults (maps merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def values_of(chart: str, scenario: str | None = None) -> dict[str, Any]:
    defaults = load_yaml(HELM_DIR / chart / "values.yaml")
    return deep_merge(defaults, load_yaml(HELM_DIR / chart / "ci" / scenario)) if scenario else defaults


@functools.cache
def rendered(chart: str, scenario: str, *extra: str) -> tuple[dict[str, Any], ...]:
    text = helm(
        "template",
        RELEASE,
        str(HELM_DIR / chart),
        "--namespace",
        "e2e",
        "-f",
        str(HELM_DIR / chart / "ci" / scenario),
        *extra,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def pod_specs(docs: tuple[dict[str, Any], ...]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(owning object, pod spec) for every Pod and every workload's pod template."""
    for doc in docs:
        if doc["kind"] == "Pod":
            yield doc, doc["spec"]
        elif doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_test_hook(doc: dict[str, Any]) -> bool:
    return doc["kind"] == "Pod" and doc["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"


def image_values(values: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every image value ({repository, tag, ...}) in a values tree, with its dotted path."""
    if isinstance(values, dict):
        if "repository" in values and "tag" in values:
            yield path, values
            return
        for key, value in values.items():
            yield from image_values(value, f"{path}.{key}" if path else key)


def expected_reference(image: dict[str, Any]) -> str:
    return (
        f"{image['repository']}@{image['digest']}" if image.get("digest") else f"{image['repository']}:{image['tag']}"
    )


def fullname(chart: str) -> str:
    return f"{RELEASE}-{chart}"


# --- the chart set --------------------------------------------------------------------------------------


def test_one_chart_per_project_with_the_expected_files() -> None:
    present = sorted(p.name for p in HELM_DIR.iterdir() if (p / "Chart.yaml").is_file())
    assert present == sorted(CHARTS)
    for chart in CHARTS:
        for required in ("values.yaml", "values.schema.json", "templates/_helpers.tpl", "templates/NOTES.txt"):
            assert (HELM_DIR / chart / required).is_file(), f"helm/{chart}/{required} is missing"
        assert list((HELM_DIR / chart / "templates" / "tests").glob("*.yaml")), f"helm/{chart} has no test hook"
        assert len(list((HELM_DIR / chart / "ci").glob("*-values.yaml"))) >= 2, f"helm/{chart}/ci needs 2 scenarios"


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_metadata_and_app_version_is_the_default_image(chart: str) -> None:
    meta = load_yaml(HELM_DIR / chart / "Chart.yaml")
    assert meta["apiVersion"] == "v2"
    assert meta["type"] == "application"
    assert meta["name"] == chart
    tag = values_of(chart)["image"]["tag"]
    assert re.match(rf"^v?{re.escape(meta['appVersion'])}(-|$)", tag), (meta["appVersion"], tag)


@pytest.mark.parametrize("chart", CHARTS)
def test_schema_is_draft_07_and_accepts_every_scenario(chart: str) -> None:
    """A second implementation (Python's jsonschema) agrees with helm that every shipped scenario is valid."""
    schema = json.loads((HELM_DIR / chart / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    validator = jsonschema.Draft7Validator(schema)
    for scenario in [None, *(name for c, name in SCENARIOS if c == chart)]:
        errors = [e.message for e in validator.iter_errors(values_of(chart, scenario))]
        assert not errors, (scenario, errors)


# --- helm lint ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
def test_lint_strict(chart: str) -> None:
    helm("lint", "--strict", str(HELM_DIR / chart))


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_lint_strict_with_each_scenario(chart: str, scenario: str) -> None:
    helm("lint", "--strict", str(HELM_DIR / chart), "-f", str(HELM_DIR / chart / "ci" / scenario))


# --- rendered manifests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_every_image_is_pinned_and_comes_from_a_value(chart: str, scenario: str) -> None:
    docs = rendered(chart, scenario)
    values = values_of(chart, scenario)
    used = {c["image"] for _, spec in pod_specs(docs) for c in containers(spec)}
    for image in used:
        tagged = TAGGED.match(image)
        assert DIGEST.match(image) or (tagged and tagged["tag"] != "latest"), f"{chart}: unpinned image {image}"
    expected = {path: expected_reference(image) for path, image in image_values(values)}
    assert used == set(expected.values()), f"{chart}: images {used} != values {expected}"
    for path, image in image_values(values):
        if image.get("digest"):
            assert f"{image['repository']}@{image['digest']}" in used, f"{chart}: {path}.digest not rendered"


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_every_container_is_bounded_probed_and_not_root(chart: str, scenario: str) -> None:
    for owner, spec in pod_specs(rendered(chart, scenario)):
        where = f"{chart}/{owner['kind']}/{owner['metadata']['name']}"
        assert spec.get("automountServiceAccountToken") is False or owner["kind"] != "Pod", where
        for container in containers(spec):
            name = f"{where}/{container['name']}"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container.get("resources", {}).get(kind, {})), f"{name}: {kind}"
            non_root = container.get("securityContext", {}).get(
                "runAsNonRoot", spec["securityContext"].get("runAsNonRoot")
            )
            assert non_root is True, f"{name} may run as root"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            if not is_test_hook(owner):
                assert "readinessProbe" in container and "livenessProbe" in container, f"{name}: probes"


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_recommended_labels_on_every_object(chart: str, scenario: str) -> None:
    for doc in rendered(chart, scenario):
        labels = doc["metadata"].get("labels", {})
        where = f"{chart}/{doc['kind']}/{doc['metadata']['name']}"
        assert labels.get("app.kubernetes.io/name") == chart, where
        assert labels.get("app.kubernetes.io/instance") == RELEASE, where
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", where
        assert labels.get("helm.sh/chart", "").startswith(f"{chart}-"), where
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), where
        assert len(doc["metadata"]["name"]) <= 63, where


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_services_select_pods_and_name_their_ports(chart: str, scenario: str) -> None:
    """Each Service with a selector reaches some workload of the chart, on ports its containers declare."""
    docs = rendered(chart, scenario)
    templates = [d["spec"]["template"] for d in docs if d["kind"] in WORKLOAD_KINDS]
    for service in (d for d in docs if d["kind"] == "Service" and d["spec"].get("selector")):
        selector = service["spec"]["selector"].items()
        matched = [t for t in templates if selector <= t["metadata"]["labels"].items()]
        assert matched, f"{chart}: Service {service['metadata']['name']} selects no pods"
        ports = {p["name"] for t in matched for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{chart}: {service['metadata']['name']} targets {port['targetPort']}"
    for workload in (d for d in docs if d["kind"] in WORKLOAD_KINDS):
        assert (
            workload["spec"]["selector"]["matchLabels"].items()
            <= workload["spec"]["template"]["metadata"]["labels"].items()
        )


def hook_mentions(chart: str, values: dict[str, Any]) -> list[str]:
    """What each chart's test hook must name in its command: the thing it checks."""
    tests = values["tests"]
    if chart == "coredns":
        return [f"{fullname(chart)}-{tests['serviceName']}.e2e.svc.{values['clusterDomain']}", "nslookup"]
    if chart == "prometheus":
        return [f"query={tests['query']}", f'"job":"{values["jobName"]}"', "/api/v1/query"]
    if chart == "envoy":
        return [f"http://{fullname(chart)}:{values['service']['port']}{tests['path']}", values["backend"]["message"]]
    if chart == "fluentd":
        tag = f"{values['forwardedTagPrefix']}.{tests['tag']}"
        return [f"/{tag}", "received.log"]
    if chart == "etcd":
        return [f"{tests['key']}/{RELEASE}", "etcdctl put", "etcdctl get"]
    if chart == "nats":
        return [f"{tests['subject']}.{RELEASE}", "nats sub", "nats pub"]
    raise AssertionError(chart)


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS, ids=SCENARIO_IDS)
def test_test_hooks_check_what_the_project_does(chart: str, scenario: str) -> None:
    hooks = [d for d in rendered(chart, scenario) if is_test_hook(d)]
    assert hooks, f"{chart} has no Pod annotated helm.sh/hook: test"
    script = "\n".join(
        " ".join([*c.get("command", []), *c.get("args", [])]) for h in hooks for c in h["spec"]["containers"]
    )
    for needle in hook_mentions(chart, values_of(chart, scenario)):
        assert needle in script, f"{chart}/{scenario}: the test hook does not mention {needle!r}"
    for hook in hooks:
        assert hook["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("chart", CHARTS)
def test_the_original_pinning_arguments_still_work(chart: str) -> None:
    """The original's release.env: --set image.repository=<image> --set image.tag=<tag>, optionally a digest."""
    pin = ("--set", "image.repository=registry.example:5000/ci/proj", "--set", "image.tag=v1.0.0.0123abcd.42.amd64")
    docs = rendered(chart, "default-values.yaml", *pin)
    images = {c["name"]: c["image"] for _, s in pod_specs(docs) for c in containers(s)}
    assert images[MAIN_CONTAINER[chart]] == "registry.example:5000/ci/proj:v1.0.0.0123abcd.42.amd64"
    digest = "sha256:" + "0123456789abcdef" * 4
    docs = rendered(chart, "default-values.yaml", *pin, "--set", f"image.digest={digest}")
    images = {c["name"]: c["image"] for _, s in pod_specs(docs) for c in containers(s)}
    assert images[MAIN_CONTAINER[chart]] == f"registry.example:5000/ci/proj@{digest}"


def test_scale_out_scenarios_render_clusters() -> None:
    """The multi-member scenarios really form clusters: every member is named in etcd's and NATS's peers."""
    etcd = next(d for d in rendered("etcd", "three-members-values.yaml") if d["kind"] == "StatefulSet")
    args = etcd["spec"]["template"]["spec"]["containers"][0]["args"]
    initial = next(a for a in args if a.startswith("--initial-cluster="))
    assert initial.count("=http://") == 3 and "cc-etcd-2=http://cc-etcd-2.cc-etcd-headless.e2e.svc" in initial
    assert etcd["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    config = next(d for d in rendered("nats", "cluster-values.yaml") if d["kind"] == "ConfigMap")["data"]["nats.conf"]
    assert config.count("nats://cc-nats-") == 3


# --- values.schema.json is enforced -------------------------------------------------------------------------

BAD_VALUES = [
    ("replicaCount=two", "replicaCount"),  # wrong type
    ("imagee.tag=v1", "imagee"),  # unknown key
    ("image.digest=sha256:0123", "image.digest"),  # bad digest format
    ("image.digest=md5:" + "0" * 64, "image.digest"),
    ("image.tag=latest", "image.tag"),
    ("tests.image.digest=sha256:XYZ", "tests.image.digest"),
    ("image.repository=Not A Repo", "image.repository"),
    ("resources.limits.memory=lots", "resources.limits.memory"),
]


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize(("assignment", "named"), BAD_VALUES, ids=[b[0].split("=")[0] for b in BAD_VALUES])
def test_bad_values_fail_and_name_the_value(chart: str, assignment: str, named: str) -> None:
    result = helm("template", RELEASE, str(HELM_DIR / chart), "--set", assignment, check=False)
    assert result.returncode != 0, f"{chart} accepted --set {assignment}"
    assert named in result.stderr, result.stderr
    assert "schema" in result.stderr, result.stderr


@pytest.mark.parametrize("chart", CHARTS)
def test_integer_tag_is_refused_with_a_hint(chart: str) -> None:
    """--set types 20240101 as an integer; the schema refuses it by name, --set-string keeps it a tag."""
    result = helm("template", RELEASE, str(HELM_DIR / chart), "--set", "image.tag=20240101", check=False)
    assert result.returncode != 0
    assert "image.tag: Invalid type. Expected: string" in result.stderr, result.stderr
    ok = helm("template", RELEASE, str(HELM_DIR / chart), "--set-string", "image.tag=20240101")
    assert ':20240101"' in ok.stdout


# --- the rendered configurations, checked by the real servers -------------------------------------------


def config_of(chart: str, scenario: str, key: str) -> str:
    return str(next(d for d in rendered(chart, scenario) if d["kind"] == "ConfigMap")["data"][key])


@pytest.mark.parametrize("scenario", [s for c, s in SCENARIOS if c == "prometheus"])
def test_prometheus_config_passes_promtool(scenario: str, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(config_of("prometheus", scenario, "prometheus.yml"))
    result = subprocess.run(
        [path_of("promtool"), "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scenario", [s for c, s in SCENARIOS if c == "nats"])
def test_nats_config_passes_nats_server_check(scenario: str, tmp_path: Path) -> None:
    config = tmp_path / "nats.conf"
    config.write_text(config_of("nats", scenario, "nats.conf"))
    env = {**os.environ, "POD_NAME": "cc-nats-0"}
    result = subprocess.run(
        [path_of("nats-server"), "-t", "-c", str(config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the hook scripts, run against real local servers ---------------------------------------------------


def hook_container(chart: str, *sets: str) -> dict[str, Any]:
    """The test hook's container, rendered with the Service host set to localhost (the chart's fullname)."""
    docs = rendered(chart, "default-values.yaml", "--set", "fullnameOverride=localhost", *sets)
    hook = next(d for d in docs if is_test_hook(d))
    return dict(hook["spec"]["containers"][0])


def run_hook(container: dict[str, Any], timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs the hook's shell script on this machine with the environment its Pod would have."""
    assert container["command"] == ["/bin/sh", "-c"]
    env = {**os.environ, "HOSTNAME": "hook-test"}
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return subprocess.run(
        ["/bin/sh", "-c", container["args"][0]], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture
def server_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_prometheus_hook_passes_against_a_real_prometheus(
    tmp_path: Path, server_process: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    config = config_of("prometheus", "default-values.yaml", "prometheus.yml").replace(
        "localhost:9090", f"localhost:{port}"
    )
    config = config.replace("scrape_interval: 5s", "scrape_interval: 1s")
    (tmp_path / "prometheus.yml").write_text(config)
    server_process.append(
        subprocess.Popen(
            [
                path_of("prometheus"),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    passing = run_hook(hook_container("prometheus", "--set", f"service.port={port}"), timeout=120)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "with 1 for job prometheus" in passing.stdout
    # The same server, asked about a job it does not have: the hook must fail, naming the job.
    failing = run_hook(
        hook_container(
            "prometheus", "--set", f"service.port={port}", "--set", "jobName=absent", "--set", "tests.timeoutSeconds=5"
        ),
        timeout=60,
    )
    assert failing.returncode != 0 and "job absent" in failing.stdout


@pytest.mark.slow
def test_etcd_hook_round_trips_against_a_real_etcd(
    tmp_path: Path, server_process: list[subprocess.Popen[bytes]]
) -> None:
    client, peer = free_port(), free_port()
    server_process.append(
        subprocess.Popen(
            [
                path_of("etcd"),
                "--name=hook",
                f"--data-dir={tmp_path / 'data'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=hook=http://127.0.0.1:{peer}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    started = time.monotonic()
    result = run_hook(hook_container("etcd", "--set", f"ports.client={client}"), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"round-tripped /cross-cloud-ci/e2e/{RELEASE}" in result.stdout
    assert time.monotonic() - started < 90
    # The key was deleted afterwards: the test leaves the cluster as it found it.
    left = subprocess.run(
        [path_of("etcdctl"), f"--endpoints=http://127.0.0.1:{client}", "get", "--prefix", "/cross-cloud-ci"],
        capture_output=True,
        text=True,
        env={**os.environ, "ETCDCTL_API": "3"},
        timeout=30,
    )
    assert left.returncode == 0 and left.stdout == ""


# --- client-side validation with kubectl ----------------------------------------------------------------


def test_kubectl_client_dry_run(tmp_path: Path) -> None:
    """kubectl's client-side dry run still asks an API server (for discovery and the OpenAPI schema)."""
    kubectl = path_of("kubectl")
    manifest = tmp_path / "etcd.yaml"
    manifest.write_text(helm("template", RELEASE, str(HELM_DIR / "etcd")).stdout)
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    result = subprocess.run(
        [kubectl, "create", "--dry-run=client", "-o", "yaml", "-f", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if result.returncode != 0 and re.search(
        r"connection refused|server API group list|download openapi", result.stderr
    ):
        pytest.skip(f"kubectl create --dry-run=client asks the server for discovery: {NO_API_SERVER}")
    assert result.returncode == 0, result.stderr
    assert "kind: StatefulSet" in result.stdout
