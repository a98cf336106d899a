"""Provider lock files: ``scripts/terraform-locks.sh`` writes and checks them, and the provision stage uses
the committed one.

The Terraform registry cannot be reached here, so the script runs against a filesystem mirror the test
builds (``TF_LOCK_FS_MIRROR``, and a CLI configuration that installs from it): one package per provider
and platform, at a version that meets each module's constraint. The packages are test doubles of the
registry's (they are hashed and installed, never run); terraform itself, the lock files it writes and the
script are real. The terraform-locks job of ``.github/workflows/kubernetes-self-test.yml`` runs the same
script against the registry."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from crosscloud.config import parse_config
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools.terraform import Terraform

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "terraform-locks.sh"
PLATFORMS = ("linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64")
needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
_PROVIDER = re.compile(r'source\s*=\s*"([^"]+)"\s*\n\s*version\s*=\s*"([^"]+)"')


def providers(module: Path) -> dict[str, str]:
    """source -> a version that meets the module's constraint (``~> 5.80`` -> 5.80.0)."""
    found = {}
    for source, constraint in _PROVIDER.findall((module / "versions.tf").read_text()):
        version = re.sub(r"^(~>|>=|=)\s*", "", constraint)
        found[source] = version + ".0" * (2 - version.count("."))
    return found


def mirror(root: Path, modules: list[Path]) -> Path:
    """A filesystem mirror (packed layout) with every provider of ``modules`` for every platform."""
    for module in modules:
        for source, version in providers(module).items():
            namespace, name = source.split("/")
            directory = root / "registry.terraform.io" / namespace / name
            directory.mkdir(parents=True, exist_ok=True)
            for platform in PLATFORMS:
                package = io.BytesIO()
                with zipfile.ZipFile(package, "w") as archive:
                    archive.writestr(f"terraform-provider-{name}_v{version}", f"stand-in {source} {platform}\n")
                (directory / f"terraform-provider-{name}_{version}_{platform}.zip").write_bytes(package.getvalue())
    return root


def project_copy(tmp_path: Path) -> Path:
    """The script and terraform/ in a directory of their own (the script works in its checkout)."""
    copy = tmp_path / "checkout"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, copy / "scripts" / SCRIPT.name)
    shutil.copytree(ROOT / "terraform", copy / "terraform", ignore=shutil.ignore_patterns(".terraform", ".kind"))
    for lock in (copy / "terraform").glob("*/.terraform.lock.hcl"):
        lock.unlink()
    return copy


def run_script(copy: Path, mirror_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = copy.parent / "terraform.rc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror_dir}"\n  }}\n}}\n')
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(copy.parent), "TF_CLI_CONFIG_FILE": str(config),
           "TF_LOCK_FS_MIRROR": str(mirror_dir), "TF_PLUGIN_CACHE_DIR": ""}  # fmt: skip
    env["PATH"] = f"{Path(shutil.which('terraform') or 'terraform').parent}:{env['PATH']}"
    return subprocess.run([str(copy / "scripts" / SCRIPT.name), *args], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


@needs_terraform
def test_every_provider_module_is_locked_for_every_platform_and_init_accepts_it(tmp_path: Path) -> None:
    copy = project_copy(tmp_path)
    modules = sorted(p.parent for p in (copy / "terraform").glob("*/versions.tf") if providers(p.parent))
    assert [m.name for m in modules] == [
        "aws", "azure", "equinix-metal", "gcp", "ibmcloud", "oci", "openstack", "vsphere"
    ]  # fmt: skip
    mirror_dir = mirror(tmp_path / "mirror", modules)
    out = tmp_path / "artifact"
    first = run_script(copy, mirror_dir, "--output", str(out))
    assert first.returncode == 1, first.stdout + first.stderr
    named = re.findall(r"^::error file=(\S+)::", first.stdout, re.MULTILINE)
    assert named == [f"terraform/{m.name}/.terraform.lock.hcl" for m in modules]
    for module in modules:
        lock = (module / ".terraform.lock.hcl").read_text()
        for source, version in providers(module).items():
            block = lock.split(f'provider "registry.terraform.io/{source.lower()}"', 1)[1].split("}", 1)[0]
            assert f'version     = "{version}"' in block
            assert len(re.findall(r'"h1:', block)) == len(PLATFORMS), f"{module.name} {source}: {block}"
        assert (out / "terraform" / module.name / ".terraform.lock.hcl").read_text() == lock
        assert not (module / ".terraform").exists()
    second = run_script(copy, mirror_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "the 8 lock files were already as terraform writes them" in second.stdout


@needs_terraform
def test_a_changed_lock_file_fails_and_bad_usage_is_refused(tmp_path: Path) -> None:
    copy = project_copy(tmp_path)
    aws = copy / "terraform" / "aws"
    mirror_dir = mirror(tmp_path / "mirror", [aws])
    assert run_script(copy, mirror_dir, "terraform/aws").returncode == 1
    # What `terraform init` on a laptop writes: the hash of its own platform only.
    lock = aws / ".terraform.lock.hcl"
    full = lock.read_text()
    hashes = re.findall(r'^\s*"h1:[^"]+",\n', full, re.MULTILINE)
    assert len(hashes) == len(PLATFORMS)
    lock.write_text(full.replace("".join(hashes[1:]), ""))
    failed = run_script(copy, mirror_dir, "terraform/aws")
    assert failed.returncode == 1 and "terraform/aws/.terraform.lock.hcl is new or changed" in failed.stdout
    assert lock.read_text() == full  # every platform's hash is back
    kind = run_script(copy, mirror_dir, "terraform/kind")
    assert kind.returncode == 2 and "terraform/kind is not a module with providers" in kind.stderr
    assert run_script(copy, mirror_dir, "--bogus").returncode == 2


def test_the_provision_stage_copies_the_lock_file_and_not_the_providers(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text('output "cloud" {\n  value = "x"\n}\n')
    (module / ".terraform.lock.hcl").write_text("# locked\n")
    (module / ".terraform" / "providers").mkdir(parents=True)
    (module / "terraform.tfstate").write_text("{}")
    config = parse_config("clouds:\n  local: {}\nprojects:\n  etcd: {stable_ref: v1}\n", "test.yml")
    workdir = tmp_path / "cell"
    workdir.mkdir()
    ctx = StageContext(config.project("etcd"), "stable", "amd64", None, workdir, io.StringIO(), time.monotonic() + 60)
    terraform = Terraform(ctx, module, {})
    assert sorted(p.name for p in terraform.dir.iterdir()) == [
        ".terraform.lock.hcl",
        "inputs.auto.tfvars.json",
        "main.tf",
    ]
