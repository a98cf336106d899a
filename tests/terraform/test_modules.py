"""Every module under terraform/ keeps one contract (terraform/README.md): the same shared inputs with the
same types and validation, the same outputs, pinned providers, no variable that carries a secret. The
contract is checked on the parsed HCL of every module, so a new cloud is checked the day it is added.

What runs for real here: python-hcl2 on every module, ``terraform fmt``, ``terraform init`` + ``validate``
of the modules without providers, and ``terraform apply``/``destroy`` of ``terraform/kind`` with a
stand-in ``kind`` executable (no container engine can run here). The cloud modules cannot be planned
here: their providers come from the Terraform registry, which this machine cannot reach."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from crosscloud.config import parse_config
from crosscloud_action.pipeline import Pipeline
from crosscloud_action.recording import DirectRecorder
from crosscloud_action.runtimes.interface import StageContext
from tests.helpers.required_tools import NO_CONTAINER_ENGINE

ROOT = Path(__file__).resolve().parents[2] / "terraform"
MODULES = sorted(p.parent.name for p in ROOT.glob("*/main.tf"))
KUBEADM_MODULES = ("equinix-metal", "openstack", "vsphere")
"""Self-built clusters: they share one cloud-init template for kubeadm."""

# The shared inputs: type, whether a default is allowed, and the validation every module carries verbatim.
SHARED_INPUTS: dict[str, tuple[str, bool, str]] = {
    "cluster_name": ("string", False, 'can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.cluster_name))'),
    "kubernetes_version": (
        "string",
        True,
        'var.kubernetes_version == null || can(regex("^v?[0-9]+[.][0-9]+([.][0-9]+)?$", var.kubernetes_version))',
    ),
    "node_count": (
        "number",
        True,
        "var.node_count >= 1 && var.node_count <= 100 && floor(var.node_count) == var.node_count",
    ),
    "arch": ("string", True, 'contains(["amd64", "arm64", "ppc64le", "s390x"], var.arch)'),
    "region": ("string", True, 'trimspace(var.region) != ""'),
    "labels": (
        "map(string)",
        True,
        'alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && '
        'can(regex("^[a-z0-9_-]{0,63}$", v))])',
    ),
}
SHARED_OUTPUTS = ("kubeconfig", "endpoint", "kubernetes_version", "cloud")
SECRET_WORDS = re.compile(r"password|passwd|secret|token|key|credential|cert", re.IGNORECASE)
NOT_A_SECRET = "Not a secret"
"""A variable whose name looks secret passes only when its description says why it is not one."""
PINNED = re.compile(r"^(=\s*)?\d+\.\d+\.\d+$|^~>\s*\d+\.\d+(\.\d+)?$")
"""An exact version or a pessimistic constraint: no provider upgrade across a minor (or major) by surprise."""


# -- reading modules -----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """hcl2 keeps expressions as ``${...}`` and string literals with their quotes: the bare text."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


def _squash(expression: str) -> str:
    return re.sub(r"\s+", "", expression)


@dataclass(frozen=True)
class Module:
    name: str
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    required_providers: dict[str, Any]
    provider_prefixes: frozenset[str]
    """The provider names used by resources and data sources (``aws`` for ``aws_eks_cluster``)."""


def _blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for block in parsed.get(kind, []):
        for name, body in block.items():
            if not name.startswith("__"):
                yield _text(name), body


def load_module(path: Path) -> Module:
    variables: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    providers: dict[str, Any] = {}
    prefixes: set[str] = set()
    for tf in sorted(path.glob("*.tf")):
        with tf.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        variables.update(_blocks(parsed, "variable"))
        outputs.update(_blocks(parsed, "output"))
        for kind in ("resource", "data"):
            for rtype, _ in _blocks(parsed, kind):
                if rtype != "terraform_data":
                    prefixes.add(rtype.split("_", 1)[0])
        for terraform in parsed.get("terraform", []):
            for block in terraform.get("required_providers", []):
                providers.update({_text(k): v for k, v in block.items() if not k.startswith("__")})
    return Module(path.name, variables, outputs, providers, frozenset(prefixes))


def contract_problems(module: Module) -> list[str]:
    """Every way ``module`` drifts from the shared contract, each naming the module and the input or output."""
    problems: list[str] = []
    where = f"terraform/{module.name}"
    for name, (vtype, may_default, condition) in SHARED_INPUTS.items():
        var = module.variables.get(name)
        if var is None:
            problems.append(f"{where}: shared input '{name}' is missing")
            continue
        if _squash(_text(var.get("type", ""))) != _squash(vtype):
            problems.append(f"{where}: input '{name}' has type {_text(var.get('type'))!r}, the contract says {vtype!r}")
        if not may_default and "default" in var:
            problems.append(f"{where}: input '{name}' must be required (no default)")
        conditions = [_squash(_text(v.get("condition", ""))) for v in var.get("validation", [])]
        if _squash(condition) not in conditions:
            problems.append(f"{where}: input '{name}' lacks the shared validation: {condition}")
    for name, var in module.variables.items():
        if "type" not in var:
            problems.append(f"{where}: input '{name}' has no type")
        description = _text(var.get("description", ""))
        if not description:
            problems.append(f"{where}: input '{name}' has no description")
        if SECRET_WORDS.search(name) and NOT_A_SECRET.lower() not in description.lower():
            problems.append(
                f"{where}: input '{name}' looks like a secret; credentials come from the provider's environment "
                f"variables (or say '{NOT_A_SECRET}' in its description when it is none)"
            )
    for name in SHARED_OUTPUTS:
        if name not in module.outputs:
            problems.append(f"{where}: shared output '{name}' is missing")
    for name, out in module.outputs.items():
        if not _text(out.get("description", "")):
            problems.append(f"{where}: output '{name}' has no description")
    if "kubeconfig" in module.outputs and module.outputs["kubeconfig"].get("sensitive") is not True:
        problems.append(f"{where}: output 'kubeconfig' must be sensitive = true")
    for prefix in sorted(module.provider_prefixes - set(module.required_providers)):
        problems.append(f"{where}: resources of provider '{prefix}' but no required_providers entry in versions.tf")
    for name, spec in module.required_providers.items():
        spec = spec if isinstance(spec, dict) else {}
        if not _text(spec.get("source", "")):
            problems.append(f"{where}: provider '{name}' has no source in versions.tf")
        version = _text(spec.get("version", ""))
        if not PINNED.match(version):
            problems.append(f"{where}: provider '{name}' is not pinned in versions.tf (version {version!r})")
    return problems


# -- the contract, per module --------------------------------------------------------------------------
def test_every_cloud_module_is_here() -> None:
    expected = {"local", "kind", "aws", "azure", "gcp", "ibmcloud", "equinix-metal", "openstack", "vsphere", "oci"}
    assert expected <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_keeps_the_contract(name: str) -> None:
    path = ROOT / name
    missing = [
        f for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md") if not (path / f).is_file()
    ]
    assert not missing, f"terraform/{name}: missing {', '.join(missing)}"
    problems = contract_problems(load_module(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_readme_documents_every_input_and_output(name: str) -> None:
    module = load_module(ROOT / name)
    readme = (ROOT / name / "README.md").read_text(encoding="utf-8")
    undocumented = [n for n in [*module.variables, *module.outputs] if f"`{n}`" not in readme]
    assert not undocumented, f"terraform/{name}/README.md does not mention: {', '.join(undocumented)}"


def test_the_contract_check_names_what_drifted(tmp_path: Path) -> None:
    """The checker itself: a module copied from kind, then broken in each way the contract forbids."""
    module = tmp_path / "drifted"
    shutil.copytree(ROOT / "kind", module)
    variables = (module / "variables.tf").read_text()
    variables = variables.replace("type        = number\n  default     = 1", "type        = string\n  default     = 1")
    variables += 'variable "admin_password" {\n  type        = string\n  description = "The password."\n}\n'
    (module / "variables.tf").write_text(variables)
    outputs = (module / "outputs.tf").read_text().replace("sensitive   = true", "sensitive   = false")
    (module / "outputs.tf").write_text(outputs.replace('output "endpoint"', 'output "api_url"'))
    (module / "main.tf").write_text(
        (module / "main.tf").read_text() + '\nresource "aws_vpc" "x" {\n  cidr_block = "10.0.0.0/16"\n}\n'
    )
    problems = contract_problems(load_module(module))
    assert problems == [
        "terraform/drifted: input 'node_count' has type 'string', the contract says 'number'",
        "terraform/drifted: input 'admin_password' looks like a secret; credentials come from the provider's "
        "environment variables (or say 'Not a secret' in its description when it is none)",
        "terraform/drifted: shared output 'endpoint' is missing",
        "terraform/drifted: output 'kubeconfig' must be sensitive = true",
        "terraform/drifted: resources of provider 'aws' but no required_providers entry in versions.tf",
    ]


def test_an_unpinned_provider_is_named(tmp_path: Path) -> None:
    module = tmp_path / "loose"
    shutil.copytree(ROOT / "aws", module)
    versions = (module / "versions.tf").read_text()
    (module / "versions.tf").write_text(re.sub(r'version = "~> [0-9.]+"', 'version = ">= 5.0"', versions, count=1))
    problems = contract_problems(load_module(module))
    assert problems == ["terraform/loose: provider 'aws' is not pinned in versions.tf (version '>= 5.0')"]


def test_kubeadm_clusters_share_one_cloud_init() -> None:
    """Three copies (a module is copied alone into each cell's work directory, so it cannot reach a
    sibling): they must stay identical."""
    texts = {name: (ROOT / name / "templates" / "kubeadm.yaml.tftpl").read_text() for name in KUBEADM_MODULES}
    assert len(set(texts.values())) == 1, f"the kubeadm cloud-init templates differ: {sorted(texts)}"


# -- the pipeline hands over nothing a module would reject ---------------------------------------------
PIPELINE_CONFIG = """
clouds:
  local: {kubernetes: false}
  far: {module: aws, region: eu-west-1, node_count: 3}
projects:
  kubernetes: {app_layer: false, stable_ref: v1.30.4, head_ref: master}
  demo: {stable_ref: v1.0.0, head_ref: main}
"""


def _pipeline_inputs(tmp_path: Path, cloud: str) -> dict[str, Any]:
    config = parse_config(PIPELINE_CONFIG, "cross-cloud.yml")
    pipeline = Pipeline(config, DirectRecorder(None), workroot=tmp_path, log_dir=tmp_path)  # type: ignore[arg-type]
    project, target = config.projects["demo"], config.clouds[cloud]
    ctx = StageContext(project, "stable", "amd64", target, tmp_path, io.StringIO(), 0.0)
    return pipeline.terraform_inputs(ctx, project, target, "stable")


@pytest.mark.parametrize("name", MODULES)
def test_pipeline_inputs_are_module_variables(tmp_path: Path, name: str) -> None:
    inputs = _pipeline_inputs(tmp_path, "local" if name == "local" else "far")
    assert {"cluster_name", "arch", "node_count", "labels"} <= set(inputs)
    if name != "local":
        assert {"region", "kubernetes_version"} <= set(inputs)  # everything a Kubernetes cloud can get
    unknown = set(inputs) - set(load_module(ROOT / name).variables)
    assert not unknown, f"terraform/{name} has no variable for pipeline input(s) {sorted(unknown)}"


# -- terraform itself ----------------------------------------------------------------------------------
TF_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}


def terraform(cwd: Path, *args: str, path: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TF_ENV}
    if path is not None:
        env["PATH"] = path
    result = subprocess.run(
        ["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} in {cwd.name}: {result.stderr or result.stdout}")
    return result


def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", str(ROOT)],
        env={**os.environ, **TF_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"not formatted (run terraform fmt -recursive terraform/): {result.stdout}"


@pytest.mark.parametrize("name", ["local", "kind"])
def test_modules_without_providers_validate_offline(tmp_path: Path, name: str) -> None:
    module = tmp_path / name
    shutil.copytree(ROOT / name, module)
    terraform(module, "init", "-backend=false", "-input=false")
    assert "The configuration is valid" in terraform(module, "validate").stdout


# -- kind, applied -------------------------------------------------------------------------------------
STAND_IN_KIND = r"""#!/bin/sh
# Stand-in for the kind CLI (see the test's docstring): records its arguments, writes a kubeconfig.
printf '%s\n' "$*" >>"$KIND_CALLS"
[ "$1 $2" = "create cluster" ] || exit 0
while [ $# -gt 0 ]; do
	case "$1" in --config) cp "$2" "$KIND_CALLS.config" ;; --kubeconfig) kubeconfig="$2" ;; esac
	shift
done
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kind-stand-in
  cluster:
    server: https://127.0.0.1:40123
    certificate-authority-data: c3RhbmQtaW4=
users:
- name: kind-stand-in
  user:
    client-key-data: c3RhbmQtaW4=
EOF
"""


@pytest.fixture
def kind_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    """terraform/kind in a work directory, a PATH whose ``kind`` is the stand-in, and its call log."""
    module = tmp_path / "kind"
    shutil.copytree(ROOT / "kind", module)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kind").write_text(STAND_IN_KIND)
    (bin_dir / "kind").chmod(0o755)
    calls = tmp_path / "kind-calls"
    monkeypatch.setenv("KIND_CALLS", str(calls))
    terraform(module, "init", "-backend=false", "-input=false")
    return module, f"{bin_dir}{os.pathsep}{os.environ['PATH']}", calls


def _host_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def test_kind_module_creates_reads_and_destroys_with_a_stand_in_kind(
    kind_module: tuple[Path, str, Path], tmp_path: Path
) -> None:
    """terraform really applies terraform/kind with the pipeline's own inputs; only ``kind`` is a stand-in
    (a test double at the container-engine boundary: no Docker engine can run here), so the wiring is
    real: the kind configuration terraform renders, the arguments of create and delete, the kubeconfig
    read back into the outputs, and the files removed on destroy."""
    module, path, calls = kind_module
    inputs = _pipeline_inputs(tmp_path, "far") | {"arch": _host_arch()}
    (module / "inputs.auto.tfvars.json").write_text(json.dumps(inputs))
    terraform(module, "apply", "-auto-approve", "-input=false", path=path)

    outputs = {k: v["value"] for k, v in json.loads(terraform(module, "output", "-json").stdout).items()}
    assert outputs["cloud"] == "kind"
    assert outputs["endpoint"] == "https://127.0.0.1:40123"
    assert outputs["kubernetes_version"] == "v1.30.4"  # the Kubernetes project's stable_ref
    assert "client-key-data" in outputs["kubeconfig"]
    assert json.loads(terraform(module, "output", "-json").stdout)["kubeconfig"]["sensitive"] is True

    name = inputs["cluster_name"]
    kubeconfig = module / ".kind" / f"{name}.kubeconfig"
    config_file = module / ".kind" / f"{name}.yaml"
    assert calls.read_text().splitlines() == [
        f"create cluster --name {name} --config {config_file} --image kindest/node:v1.30.4 "
        f"--kubeconfig {kubeconfig} --wait 300s"
    ]
    config = yaml.safe_load(Path(f"{calls}.config").read_text())
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker", "worker"]
    assert all(n["labels"] == inputs["labels"] for n in config["nodes"])
    assert kubeconfig.stat().st_mode & 0o077 == 0  # the admin key is the owner's only

    terraform(module, "destroy", "-auto-approve", "-input=false", path=path)
    assert calls.read_text().splitlines()[-1] == f"delete cluster --name {name} --kubeconfig {kubeconfig}"
    assert not kubeconfig.exists() and not config_file.exists()


def test_kind_refuses_an_arch_other_than_the_machines(kind_module: tuple[Path, str, Path]) -> None:
    module, path, calls = kind_module
    other = "arm64" if _host_arch() != "arm64" else "amd64"
    (module / "inputs.auto.tfvars.json").write_text(json.dumps({"cluster_name": "demo", "arch": other}))
    result = terraform(module, "apply", "-auto-approve", "-input=false", path=path, check=False)
    assert result.returncode != 0
    assert f"arch '{other}' needs a {other} machine" in result.stderr
    assert not calls.exists()  # kind was never asked


def test_kind_shortens_long_names_and_maps_minor_versions(kind_module: tuple[Path, str, Path]) -> None:
    module, path, _ = kind_module
    long_name = "a-very-long-project-name-stable-kind-0123456789abcdef-deadbeef"
    (module / "inputs.auto.tfvars.json").write_text(
        json.dumps({"cluster_name": long_name, "kubernetes_version": "1.29", "arch": _host_arch()})
    )
    plan = terraform(module, "plan", "-input=false", path=path).stdout
    shortened = re.search(r'kind_cluster_name\s+= "([^"]+)"', plan)
    assert shortened and len(shortened.group(1)) <= 50 and shortened.group(1).startswith(long_name[:41])
    assert 'kubernetes_version = "v1.29.8"' in plan


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"cluster_name": "Demo_1"}, "cluster_name must be 1-63 lower-case letters"),
        ({"cluster_name": "demo", "kubernetes_version": "master"}, "a branch such as master cannot be provisioned"),
        ({"cluster_name": "demo", "node_count": 0}, "node_count must be a whole number from 1 to 100"),
        ({"cluster_name": "demo", "arch": "riscv64"}, "arch must be one of amd64, arm64, ppc64le, s390x"),
        ({"cluster_name": "demo", "labels": {"Project": "x"}}, "labels: keys must match"),
        ({"cluster_name": "demo", "kubernetes_version": "1.19"}, "no kindest/node image known for that minor"),
    ],
)
def test_kind_rejects_bad_inputs_before_creating_anything(
    kind_module: tuple[Path, str, Path], inputs: dict[str, Any], message: str
) -> None:
    module, path, calls = kind_module
    (module / "inputs.auto.tfvars.json").write_text(json.dumps(inputs))
    result = terraform(module, "plan", "-input=false", path=path, check=False)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not calls.exists()


def _container_engine_works() -> bool:
    if shutil.which("kind") is None or shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


@pytest.mark.skipif(not _container_engine_works(), reason=NO_CONTAINER_ENGINE)
def test_kind_module_makes_a_real_cluster(tmp_path: Path) -> None:
    module = tmp_path / "kind"
    shutil.copytree(ROOT / "kind", module)
    (module / "inputs.auto.tfvars.json").write_text(
        json.dumps({"cluster_name": "crosscloud-test", "arch": _host_arch()})
    )
    terraform(module, "init", "-backend=false", "-input=false")
    try:
        terraform(module, "apply", "-auto-approve", "-input=false")
        outputs = {k: v["value"] for k, v in json.loads(terraform(module, "output", "-json").stdout).items()}
        assert outputs["endpoint"].startswith("https://127.0.0.1:")
        assert "kind-crosscloud-test" in outputs["kubeconfig"]
    finally:
        terraform(module, "destroy", "-auto-approve", "-input=false")
    listed = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=False).stdout
    assert "crosscloud-test" not in listed.split()


def test_kubeadm_cloud_init_renders_to_valid_cloud_config(tmp_path: Path) -> None:
    """Rendered by terraform's own templatefile (offline, no provider), for both roles, then parsed: the
    cloud-config and the kubeadm documents inside it must be the YAML the nodes will read."""
    shutil.copy(ROOT / "openstack" / "templates" / "kubeadm.yaml.tftpl", tmp_path)
    common = (
        'cluster_name = "demo", kubernetes_minor = "1.30", kubernetes_version = "v1.30.4", ca_cert = "CA\\nPEM\\n", '
        'token = "abcdef.0123456789abcdef", node_labels = "crosscloud.ci/project=demo"'
    )
    (tmp_path / "main.tf").write_text(
        f'output "control_plane" {{\n  value = templatefile("kubeadm.yaml.tftpl", {{ role = "control-plane", '
        f'ca_key = "KEY", cert_sans = ["203.0.113.5"], api_server = "", {common} }})\n}}\n'
        f'output "worker" {{\n  value = templatefile("kubeadm.yaml.tftpl", {{ role = "worker", ca_key = "", '
        f'cert_sans = [], api_server = "10.0.0.5:6443", {common} }})\n}}\n'
    )
    terraform(tmp_path, "init", "-backend=false", "-input=false")
    terraform(tmp_path, "apply", "-auto-approve", "-input=false")
    rendered = {k: v["value"] for k, v in json.loads(terraform(tmp_path, "output", "-json").stdout).items()}

    def kubeadm(role: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        config = yaml.safe_load(rendered[role])
        files = {f["path"]: f for f in config["write_files"]}
        return config, list(yaml.safe_load_all(files["/etc/kubernetes/crosscloud-kubeadm.yaml"]["content"]))

    config, docs = kubeadm("control_plane")
    assert rendered["control_plane"].startswith("#cloud-config\n")
    assert [d["kind"] for d in docs] == ["InitConfiguration", "ClusterConfiguration"]
    assert docs[0]["bootstrapTokens"][0]["token"] == "abcdef.0123456789abcdef"
    assert docs[1]["apiServer"]["certSANs"] == ["203.0.113.5"] and docs[1]["kubernetesVersion"] == "v1.30.4"
    assert "kubeadm init --config /etc/kubernetes/crosscloud-kubeadm.yaml" in config["runcmd"]
    assert any("pkgs.k8s.io/core:/stable:/v1.30/deb/" in c for c in config["runcmd"])

    config, docs = kubeadm("worker")
    assert [d["kind"] for d in docs] == ["JoinConfiguration"]
    assert docs[0]["discovery"]["tlsBootstrapToken"] == "abcdef.0123456789abcdef"
    files = {f["path"]: f for f in config["write_files"]}
    assert "/etc/kubernetes/pki/ca.key" not in files  # the CA key stays on the control plane
    discovery = yaml.safe_load(files["/etc/kubernetes/discovery.conf"]["content"])
    assert discovery["clusters"][0]["cluster"]["server"] == "https://10.0.0.5:6443"
