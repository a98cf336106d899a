"""The configuration: the original cncf.ci files load unchanged; every error names file, line and field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from crosscloud.config import load_config, parse_config
from crosscloud.errors import ConfigError, ConfigErrors, UnknownNameError
from crosscloud.stage_specs import (
    DEFAULT_BUILD_MODE,
    BinarySpec,
    BuildSpec,
    ChartSpec,
    ChartTestSpec,
    E2ESpec,
    ImageSpec,
    ReadySpec,
    RunSpec,
)
from crosscloud.status_repo.seed import default_config
from tests.helpers.paths import CNCF_2018, CNCF_2020, ROOT


def test_december_2018_configuration_loads_with_its_projects_and_clouds_in_order() -> None:
    config = load_config(CNCF_2018)
    assert [c.name for c in config.active_clouds()] == [
        "aws", "azure", "gce", "ibmcloud", "packet", "openstack", "vsphere", "oci",
    ]  # fmt: skip
    assert [p.name for p in config.active_projects()] == [
        "kubernetes", "prometheus", "coredns", "fluentd", "linkerd", "envoy", "so",
    ]  # fmt: skip
    assert "gke" in config.clouds and not config.clouds["gke"].active
    kubernetes = config.project("kubernetes")
    assert not kubernetes.app_layer and kubernetes.cloud_stage() == "provision"
    assert config.kubernetes_project == "kubernetes"
    assert config.project("prometheus").ref("stable") == "v2.5.0"
    assert config.project("prometheus").ref("head") == "master"
    assert config.project("so").timeout == 2100
    assert config.clouds["packet"].display_name == "Bare Metal (Packet)"
    assert config.clouds["gce"].display_name == "GCE"  # trailing space in the original is trimmed
    assert config.sections()[0][0] is None  # no cncf_relations in 2018: one unnamed section


def test_november_2020_configuration_loads_with_sections_arch_and_inactive_projects() -> None:
    config = load_config(CNCF_2020)
    assert [c.name for c in config.active_clouds()] == ["packet"]
    active = [p.name for p in config.active_projects()]
    assert active == ["kubernetes", "coredns", "envoy", "etcd", "fluentd", "jaeger", "prometheus", "tuf",
                      "vitess", "linkerd2", "so"]  # fmt: skip
    assert "linkerd" not in active and "testproj" not in active
    assert [name for name, _ in config.sections()] == ["Graduated", "Incubating", "Linux Foundation"]
    assert config.project("prometheus").arch == ("amd64", "arm64")
    assert config.project("prometheus").ref("stable") is None  # came from configuration_repo in 2020
    assert config.project("jaeger").deploy is False
    assert config.project("etcd").charts == {"stable": "stable", "head": "master"}


def test_embedded_default_configuration_is_valid() -> None:
    config = default_config()
    assert [c.name for c in config.active_clouds()] == ["local"]
    assert not config.clouds["local"].kubernetes
    assert {"prometheus", "etcd", "nats"} <= {p.name for p in config.active_projects()}


def test_a_project_pins_its_repository_by_id() -> None:
    text = (ROOT / "status-data" / "cross-cloud.yml").read_text()
    pinned = text.replace(
        '    repository: "etcd-io/etcd"\n', '    repository: "etcd-io/etcd"\n    repository_id: 11225014\n'
    )
    assert parse_config(pinned, "pinned.yml").project("etcd").repository_id == 11225014
    assert default_config().project("etcd").repository_id is None
    with pytest.raises(ConfigError, match="repository_id"):
        parse_config(pinned.replace("repository_id: 11225014", "repository_id: etcd"), "pinned.yml")


def test_unknown_names_list_the_allowed_ones() -> None:
    config = load_config(CNCF_2018)
    with pytest.raises(UnknownNameError) as err:
        config.cloud("gcp")
    assert "unknown cloud 'gcp'" in str(err.value) and "aws" in str(err.value)


CASES = {
    "wrong type": (
        "clouds:\n  aws:\n    active: yes-please\nprojects:\n  k:\n    order: 1\n",
        3,
        "clouds.aws.active",
    ),
    "unknown key": ("clouds:\n  aws: {}\nprojects:\n  k:\n    ordr: 1\n", 5, "projects.k.ordr"),
    "bad name": ("clouds:\n  aws: {}\nprojects:\n  ../etc:\n    order: 1\n", 4, "projects.../etc"),
    "missing projects": ("clouds:\n  aws: {}\n", 1, "(root)"),
    "duplicate key": ("clouds:\n  aws: {}\n  aws: {}\nprojects:\n  k: {}\n", 3, "clouds.aws"),
    "bad arch": ("clouds:\n  aws: {}\nprojects:\n  k:\n    arch: [amd64, sparc]\n", 5, "projects.k.arch"),
    "unknown relation": (
        "cncf_relations: [Graduated]\nclouds:\n  aws: {}\nprojects:\n  k:\n    cncf_relation: Sandbox\n",
        6,
        "projects.k.cncf_relation",
    ),
    "non-string key": ("clouds:\n  aws: {}\n  1: {}\nprojects:\n  k: {}\n", 3, "clouds[1]"),
    # The stage specs are typed from what the schema passed: their mistakes are named like any other.
    "run without command": ("clouds:\n  aws: {}\nprojects:\n  k:\n    run:\n      ports: [x]\n", 5, "projects.k.run"),
    "e2e timeout": ("clouds:\n  aws: {}\nprojects:\n  k:\n    e2e:\n      timeout: x\n", 6, "projects.k.e2e.timeout"),
    "build override": (
        "clouds:\n  aws: {}\nprojects:\n  k:\n    build:\n      releases:\n        head:\n          mode: bake\n",
        8,
        "projects.k.build.releases.head.mode",
    ),
    "chart test": ("clouds:\n  aws: {}\nprojects:\n  k:\n    chart:\n      test: {}\n", 6, "projects.k.chart.test"),
}


@pytest.mark.parametrize("text,line,field", CASES.values(), ids=CASES.keys())
def test_errors_name_file_line_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "my/cross-cloud.yml")
    assert err.value.source == "my/cross-cloud.yml"
    assert err.value.field == field
    assert err.value.line == line
    assert str(err.value).startswith("my/cross-cloud.yml")


STAGES_YAML = """
clouds:
  local: {kubernetes: false}
projects:
  demo:
    stable_ref: v1.0.0
    build:
      mode: reuse
      binaries: [{name: demo, source: "debian:demo", version_args: [version]}]
      releases:
        head:
          mode: source
          commands: [[make, all]]
          image: {name: 127.0.0.1:5000/demo}
    run:
      command: ["{binary.demo}", "--port={port}"]
      ports: [admin]
      env: {LOG: debug}
      ready: {tcp: "{port}"}
    e2e: {check: demo-check, args: {timeout: "5"}, timeout: 30}
    chart: {name: demo, values: {replicas: 2, image: {pullPolicy: Never}}, test: {command: [check, "{namespace}"]}}
  bare: {}
"""


def test_stage_specs_are_parsed_once_into_frozen_types() -> None:
    config = parse_config(STAGES_YAML, "stages.yml")
    demo = config.project("demo")
    assert demo.build.mode == "reuse"
    assert demo.build.binaries == (BinarySpec("demo", version_args=("version",), source="debian:demo"),)
    head = demo.build.for_release("head")
    # the override replaces exactly the keys it sets: the binaries stay, the mode and commands are its own
    assert (head.mode, head.commands, head.binaries) == ("source", (("make", "all"),), demo.build.binaries)
    assert head.image == ImageSpec("127.0.0.1:5000/demo") and head.image.tls_verify
    assert demo.build.for_release("stable") == dataclasses.replace(demo.build, releases={})
    assert demo.run == RunSpec(
        command=("{binary.demo}", "--port={port}"),
        ports=("admin",),
        env={"LOG": "debug"},
        ready=ReadySpec(tcp="{port}"),
    )
    assert demo.e2e == E2ESpec(check="demo-check", args={"timeout": "5"}, timeout=30)
    assert demo.chart.test == ChartTestSpec(("check", "{namespace}"))
    assert demo.chart.values == {"replicas": 2, "image": {"pullPolicy": "Never"}}
    with pytest.raises(TypeError):
        demo.run.env["LOG"] = "info"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        demo.e2e.timeout = 1  # type: ignore[misc]
    bare = config.project("bare")
    assert (bare.build, bare.run, bare.e2e, bare.chart) == (BuildSpec(), None, E2ESpec(), ChartSpec())
    assert bare.build.for_release("stable").mode == DEFAULT_BUILD_MODE


def test_unknown_keys_suggest_the_nearest_known_one() -> None:
    with pytest.raises(ConfigError, match="unknown key 'stabel_ref'; did you mean 'stable_ref'"):
        parse_config("clouds:\n  aws: {}\nprojects:\n  k:\n    stabel_ref: v1\n", "c.yml")


def test_invalid_yaml_gives_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("clouds:\n  aws: {\nprojects: [\n", "c.yml")
    assert err.value.line is not None and "invalid YAML" in str(err.value)


def test_several_problems_are_reported_together() -> None:
    text = "clouds:\n  aws:\n    order: first\nprojects:\n  k:\n    timeout: soon\n"
    with pytest.raises(ConfigErrors) as err:
        parse_config(text, "c.yml")
    assert [p.field for p in err.value.problems] == ["clouds.aws.order", "projects.k.timeout"]
    assert [p.line for p in err.value.problems] == [3, 6]


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_bytes(b"clouds:\n  aws: {display_name: \xff}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_alias_bombs_are_refused_before_they_expand() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    with pytest.raises(ConfigError, match="too large after expanding aliases"):
        parse_config("\n".join(lines) + "\nclouds: {}\nprojects: {}\n", "bomb.yml")
