"""The package builds and works where it is installed, not only in this checkout.

``python -m build`` makes the sdist and, from it, the wheel (so the sdist carries everything too); the wheel
is installed into a fresh virtual environment in a temporary directory, outside this tree, and its
``crosscloud`` command runs from another temporary directory: ``--version``, ``validate`` of the
default configuration it carries, ``init`` + ``record`` + ``status`` on a new status repository,
``onboard`` from the template it carries, and a real ``run`` of one project on the ``local`` cloud with
the terraform module it carries.

Bounded and offline where it can be: the build runs without isolation (the setuptools of this
environment), and pip installs with ``--no-index`` from the built wheel and a wheelhouse of the
dependencies in ``build/wheelhouse/`` (ignored by git). Only when that wheelhouse lacks a dependency is
it filled once with ``pip download`` from the configured index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.act import project_files
from tests.helpers.paths import ROOT

WHEELHOUSE = ROOT / "build" / "wheelhouse"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
TIMEOUT = 600


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the built wheel, and a working directory outside the tree."""

    venv: Path
    work: Path
    sdist: Path
    wheel: Path

    @property
    def crosscloud(self) -> Path:
        return self.venv / "bin" / "crosscloud"

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CROSSCLOUD_", "VIRTUAL_ENV"))}
        return {**keep, "PATH": f"{self.venv / 'bin'}{os.pathsep}{keep.get('PATH', os.defpath)}"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.crosscloud), *args], cwd=self.work, env=self.env(), capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip

    def python(self, code: str) -> str:
        result = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.work, env=self.env(),
                                capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        return result.stdout.strip()


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)  # fmt: skip


def _forget_this_project(wheelhouse: Path) -> None:
    """The wheelhouse holds dependencies only: ``pip download`` also saves the project's own wheel, and a
    stale one (the same version, built before a dependency was added) would be resolved in place of the
    wheel under test, its old dependencies with it."""
    for stale in wheelhouse.glob("cross_cloud_ci-*"):
        stale.unlink()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    pytest.importorskip("build", reason="python -m build is not installed: pip install build (the dev extra)")
    base = tmp_path_factory.mktemp("package")
    source, dist = base / "source", base / "dist"
    for rel in project_files():  # what git would hand out, so the build sees no .venv, var/ or build/
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, source / rel)
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    offline = ("install", "--no-index", "--find-links", str(dist), "--find-links", str(WHEELHOUSE), str(wheel))
    result = _pip(python, *offline)
    if result.returncode != 0:  # a dependency the wheelhouse lacks: fill it once, then install offline again
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        _forget_this_project(WHEELHOUSE)  # an old build of it would stand in for this one's dependencies
        fill = _pip(Path(sys.executable), "download", "--only-binary=:all:", "--dest", str(WHEELHOUSE), str(wheel))
        _forget_this_project(WHEELHOUSE)
        assert fill.returncode == 0, fill.stderr[-3000:]
        result = _pip(python, *offline)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    yield Installed(env_dir, work, sdist, wheel)


def test_sdist_and_wheel_carry_what_the_commands_need(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    expected = [
        "crosscloud/schema/config.schema.json",
        "crosscloud/schema/result.schema.json",
        "crosscloud/status_data/cross-cloud.yml",
        "crosscloud/status_data/README.md",
        "crosscloud/status_data/.github/workflows/nightly.yml",
        "crosscloud/onboard_template/cookiecutter.json",
        "crosscloud/onboard_template/hooks/pre_gen_project.py",
        "crosscloud/onboard_template/{{cookiecutter.name}}/.github/workflows/cross-cloud.yml",
        "crosscloud/onboard_template/{{cookiecutter.name}}/helm/{{cookiecutter.chart}}/.helmignore",
        "crosscloud/terraform/local/main.tf",
        "crosscloud/terraform/kind/scripts/create.sh",
        "crosscloud/terraform/openstack/templates/kubeadm.yaml.tftpl",
        "crosscloud/charts/etcd/Chart.yaml",
        "crosscloud/charts/etcd/templates/tests/test-roundtrip.yaml",
        "crosscloud_app/templates/dashboard.html",
        "crosscloud_app/static/style.css",
        "crosscloud_app/badges/data/verdana-11px-normal.json",
    ]
    assert [name for name in expected if name not in names] == []
    for module in (p for p in (ROOT / "terraform").iterdir() if (p / "main.tf").is_file()):
        for tf in module.glob("*.tf"):
            assert f"crosscloud/terraform/{module.name}/{tf.name}" in names
    for chart in (p for p in (ROOT / "helm").iterdir() if (p / "Chart.yaml").is_file()):
        files = [p for p in chart.rglob("*") if p.is_file()]
        assert [p for p in files if f"crosscloud/charts/{p.relative_to(ROOT / 'helm')}" not in names] == []
    with zipfile.ZipFile(installed.wheel) as wheel:
        mode = wheel.getinfo("crosscloud/terraform/kind/scripts/create.sh").external_attr >> 16
    assert mode & 0o111, "terraform/kind/scripts/create.sh lost its executable bit"
    import tarfile

    with tarfile.open(installed.sdist) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "terraform/kind/scripts/create.sh", "helm/nats/Chart.yaml"} <= members


def test_the_installed_command_finds_its_files_in_the_venv_not_in_this_checkout(installed: Installed) -> None:
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"crosscloud {VERSION}", version
    where = installed.python(
        "from crosscloud import packaged; print(packaged.terraform_modules()); print(packaged.helm_charts()); "
        "print(packaged.onboard_template()); print(packaged.status_data())"
    ).splitlines()
    for path in map(Path, where):
        assert path.is_dir() and path.is_relative_to(installed.venv), path
        assert not path.is_relative_to(ROOT), path


def test_validate_init_record_status_from_the_wheel(installed: Installed) -> None:
    default = installed.python("from crosscloud import packaged; print(packaged.status_data() / 'cross-cloud.yml')")
    valid = installed.run("validate", default)
    assert valid.returncode == 0, valid.stderr
    assert "valid: 3 projects (3 active), 2 clouds (1 active)" in valid.stdout

    repo = installed.work / "status.git"
    init = installed.run("init", "--repo", str(repo))
    assert init.returncode == 0, init.stderr
    tree = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main"], capture_output=True,
                          text=True, check=True).stdout.split()  # fmt: skip
    assert {"cross-cloud.yml", "README.md", "LAYOUT.md", ".github/workflows/nightly.yml"} <= set(tree)

    record = installed.run("record", "--repo", str(repo), "--project", "etcd", "--release", "stable",
                           "--stage", "build", "--status", "success")  # fmt: skip
    assert record.returncode == 0, record.stderr
    assert "recorded: etcd stable" in record.stdout
    status = installed.run("status", "--repo", str(repo), "--json")
    assert status.returncode == 0, status.stderr
    assert '"status": "success"' in status.stdout


def test_onboard_from_the_wheel(installed: Installed) -> None:
    out = installed.work / "onboarded"
    result = installed.run("onboard", "--no-input", "--name", "demo", "--repository", "acme/demo",
                           "--clouds", "local", "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / ".github" / "workflows" / "cross-cloud.yml").is_file()
    assert (out / "helm" / "demo" / ".helmignore").is_file()


@pytest.mark.slow
def test_run_one_project_on_the_local_cloud_with_the_packaged_terraform_module(installed: Installed) -> None:
    """terraform applies and destroys the ``local`` module the wheel carries; etcd (Debian's) really runs."""
    if shutil.which("terraform") is None or shutil.which("etcd") is None:
        pytest.skip("needs terraform and etcd (scripts/system-deps.sh run)")
    repo = installed.work / "run-status.git"
    assert installed.run("init", "--repo", str(repo)).returncode == 0
    run = installed.run("run", "--repo", str(repo), "--project", "etcd", "--cloud", "local", "--jobs", "1",
                        "--work-dir", str(installed.work / "scratch"), "--log-dir", str(installed.work / "logs"),
                        timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    status = installed.run("status", "--repo", str(repo))
    assert status.returncode == 0
    etcd = next(line.split() for line in status.stdout.splitlines() if line.split()[:1] == ["etcd"])
    assert etcd == ["etcd", "stable", "v3.4.23", "success", "success", "success"], status.stdout
