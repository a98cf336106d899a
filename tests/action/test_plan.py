"""What ``crosscloud run`` and ``crosscloud plan`` choose: architectures, which clouds a project runs on, and
the test environments (a Kubernetes release per cluster, the host elsewhere)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from crosscloud.config import parse_config
from crosscloud.errors import UnknownNameError
from crosscloud.layout import cell_path
from crosscloud_action.pipeline import Pipeline
from crosscloud_action.planning import plan
from crosscloud_action.recording import DirectRecorder
from crosscloud_action.runtimes.interface import StageContext

CONFIG = """
clouds:
  local: {active: true, display_name: Local, order: 1, kubernetes: false}
  kind: {active: true, display_name: kind, order: 2, arch: [amd64]}
  graviton: {active: true, display_name: AWS arm, order: 3, module: aws, arch: [arm64]}
projects:
  kubernetes:
    order: 1
    active: true
    display_name: Kubernetes
    app_layer: false
    stable_ref: v1.31.4
    head_ref: master
    arch: [amd64, arm64]
  etcd:
    order: 2
    active: true
    display_name: etcd
    stable_ref: v3.5.17
    head_ref: main
    arch: [amd64, arm64]
"""


def jobs(**filters: object) -> list[tuple[str, str, str, list[str]]]:
    """(project, release, arch, the clouds of its cloud jobs) of every row; Kubernetes stable only unless
    ``kubernetes`` is given."""
    filters.setdefault("kubernetes", ["stable"])
    the_plan = plan(parse_config(CONFIG, "cross-cloud.yml"), **filters)  # type: ignore[arg-type]
    return [(b.project.name, b.release, b.arch, [c.cloud.name for c in the_plan.clouds[b]]) for b in the_plan.builds]


def test_a_cloud_with_kubernetes_runs_each_kubernetes_release_and_the_host_runs_once() -> None:
    the_plan = plan(parse_config(CONFIG, "cross-cloud.yml"), projects=["etcd"], releases=["stable"], arches=["amd64"])
    (build,) = the_plan.builds
    assert [(c.cloud.name, c.environment) for c in the_plan.clouds[build]] == [
        ("local", "host"), ("kind", "stable"), ("kind", "head"),
    ]  # fmt: skip
    paths = [cell_path(cell) for cell in the_plan.cells()]
    assert len(paths) == len(set(paths)) == 1 + 3 * 3
    only_head = plan(parse_config(CONFIG, "cross-cloud.yml"), projects=["etcd"], releases=["stable"],
                     arches=["amd64"], kubernetes=["head"])  # fmt: skip
    assert [(c.cloud.name, c.environment) for c in only_head.clouds[only_head.builds[0]]] == [
        ("local", "host"), ("kind", "head"),
    ]  # fmt: skip


def test_every_arch_plans_for_runners_of_each_architecture(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert {arch for _, _, arch, _ in jobs(every_arch=True)} == {"amd64", "arm64"}


def test_each_architecture_is_a_build_and_runs_only_on_clouds_that_offer_it() -> None:
    planned = jobs(projects=["etcd"], releases=["stable"], arches=["amd64", "arm64"])
    assert planned == [
        ("etcd", "stable", "amd64", ["local", "kind"]),
        ("etcd", "stable", "arm64", ["local", "graviton"]),
    ]


def test_kubernetes_itself_runs_only_where_there_is_a_cluster_to_provision() -> None:
    planned = jobs(projects=["kubernetes"], releases=["head"], arches=["amd64"])
    assert planned == [("kubernetes", "head", "amd64", ["kind"])]


def test_the_default_architecture_is_this_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert {arch for _, _, arch, _ in jobs()} == {"arm64"}
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert {arch for _, _, arch, _ in jobs()} == {"amd64"}


def test_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="riscv64"):
        jobs(arches=["riscv64"])


@pytest.mark.parametrize(
    ("project", "release", "kubernetes", "version"),
    [
        ("etcd", "stable", "stable", "v1.31.4"),  # an app on the Kubernetes project's stable release
        ("etcd", "stable", "head", "master"),  # ... or its head
        ("kubernetes", "head", "stable", "master"),  # Kubernetes itself: its own release is the cluster
    ],
)
def test_the_cluster_runs_the_kubernetes_version_its_release_pins(
    tmp_path: Path, project: str, release: str, kubernetes: str, version: str
) -> None:
    config = parse_config(CONFIG, "cross-cloud.yml")
    pipeline = Pipeline(config, DirectRecorder(None), workroot=tmp_path, log_dir=tmp_path)  # type: ignore[arg-type]
    ctx = StageContext(config.projects[project], release, "amd64", config.clouds["kind"], tmp_path, io.StringIO(), 0.0)
    inputs = pipeline.terraform_inputs(ctx, config.projects[project], config.clouds["kind"], kubernetes)
    assert inputs["kubernetes_version"] == version
    assert inputs["labels"] == {"project": project, "release": release, "managed-by": "cross-cloud-ci"}
    assert "sandbox_root" not in inputs
