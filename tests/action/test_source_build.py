"""The ``source`` build mode against a real git repository (``fixture_project``), real buildah and a real
CNCF Distribution registry on 127.0.0.1; what was pushed is checked through the registry's own HTTP API
(and skopeo when installed), never through the code under test."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crosscloud.config import Project
from crosscloud.stage_specs import BuildSpec, ImageSpec
from crosscloud_action.build.source import build_from_source, image_tag
from crosscloud_action.errors import InfraFailure, ProjectFailure
from crosscloud_action.model import Pinned
from crosscloud_action.runtimes.interface import StageContext
from tests.helpers.fixture_project import HelloProject, make_hello_project
from tests.helpers.registry import Registry
from tests.helpers.required_tools import path_of
from tests.helpers.servers import free_port

BUILDAH = path_of("buildah")
SKOPEO = path_of("skopeo")

BUILD_CONFIG: dict[str, Any] = {
    "mode": "source",
    "commands": [["./build.sh"]],
    "outputs": ["dist/hello", "dist/*.tar.gz"],
}
BUILD = BuildSpec.from_dict(BUILD_CONFIG)

PROJECT = Project(
    name="hello",
    display_name="Hello",
    order=1,
    active=True,
    app_layer=True,
    deploy=True,
    arch=("amd64",),
    timeout=600,
    refs={"stable": "v1.1.0", "head": "main"},
    charts={},
)

MakeCtx = Callable[..., StageContext]


@pytest.fixture
def hello(tmp_path: Path) -> HelloProject:
    return make_hello_project(tmp_path / "upstream")


@pytest.fixture
def make_ctx(tmp_path: Path) -> Iterator[MakeCtx]:
    """Stage contexts, each with its own workdir and log (closed afterwards)."""
    logs: list[Any] = []

    def make(name: str = "cell", env: dict[str, str] | None = None, release: str = "stable") -> StageContext:
        workdir = tmp_path / name
        workdir.mkdir()
        log = (tmp_path / f"{name}.log").open("w")
        logs.append(log)
        return StageContext(
            project=PROJECT,
            release=release,
            arch="amd64",
            cloud=None,
            workdir=workdir,
            log=log,
            deadline=time.monotonic() + 120,
            env={"GITHUB_RUN_ID": "4242", **(env or {})},
        )

    yield make
    for log in logs:
        log.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry"))
    try:
        reg.start()
        yield reg
    finally:
        reg.stop()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_spec(registry: Registry, **extra: Any) -> BuildSpec:
    image = {"name": f"{registry.address}/fixture/hello", "tls_verify": False, **extra}
    return BuildSpec.from_dict({**BUILD_CONFIG, "image": image})


# --- refs, commands, outputs (git only) -----------------------------------------------------------------


def test_tag_and_main_build_their_own_commits_and_pin_outputs(hello: HelloProject, make_ctx: MakeCtx) -> None:
    stable = build_from_source(make_ctx("stable"), BUILD, "v1.1.0", repository_url=str(hello.path))
    head = build_from_source(make_ctx("head", release="head"), BUILD, "main", repository_url=str(hello.path))

    assert stable.sha == hello.git("rev-parse", "v1.1.0^{commit}") == hello.shas["v1.1.0"]
    assert head.sha == hello.git("rev-parse", "main") == hello.shas["main"]
    assert stable.sha != head.sha
    assert (stable.ref, head.ref) == ("v1.1.0", "main")
    assert stable.images == head.images == ()

    for pinned, describe in ((stable, "v1.1.0"), (head, f"v1.1.0-1-g{hello.shas['main'][:7]}")):
        assert [f.name for f in pinned.files] == ["dist/hello", "dist/hello.tar.gz"]
        for f in pinned.files:
            assert f.path is not None
            assert f.sha256 == sha256_of(Path(f.path)), f.name
        hello_bin = Path(pinned.files[0].path or "")
        # the build saw every tag: git describe worked in the checkout
        assert f"hello {describe}" in hello_bin.read_text()
        run = subprocess.run([str(hello_bin), "--version"], capture_output=True, text=True, check=True)
        assert run.stdout.strip() == f"hello {describe}"
    # the artifacts of a record leave machine paths out
    assert stable.artifacts() == {"files": [{"name": f.name, "sha256": f.sha256, "url": None} for f in stable.files]}


def test_outputs_are_reproducible_and_checkout_is_reused(hello: HelloProject, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    first = build_from_source(ctx, BUILD, "v1.1.0", repository_url=str(hello.path))
    # the same workdir again (a retried cell): fetched into, cleaned, built to the same bytes
    (ctx.workdir / "source" / "stray.txt").write_text("left from an earlier run")
    again = build_from_source(ctx, BUILD, "v1.1.0", repository_url=f"file://{hello.path}")
    assert [f.sha256 for f in again.files] == [f.sha256 for f in first.files]
    assert not (ctx.workdir / "source" / "stray.txt").exists()
    other = build_from_source(make_ctx("other"), BUILD, "v1.1.0", repository_url=str(hello.path))
    assert [f.sha256 for f in other.files] == [f.sha256 for f in first.files]


def test_refs_resolve_as_git_does(hello: HelloProject, make_ctx: MakeCtx) -> None:
    # a commit only a pull-request ref points at: not fetched with the branches, fetched by name
    tree = hello.git("rev-parse", "main^{tree}")
    pull = hello.git("commit-tree", "-p", hello.shas["main"], "-m", "a pull request", tree)
    hello.git("update-ref", "refs/pull/1/head", pull)
    cases = {
        "v1.0.0": hello.shas["v1.0.0"],  # annotated tag: the commit, not the tag object
        "refs/tags/v1.0.0": hello.shas["v1.0.0"],
        "feature/x": hello.shas["feature/x"],  # a branch with a slash
        "refs/heads/main": hello.shas["main"],
        hello.shas["v1.0.0"]: hello.shas["v1.0.0"],  # a full sha
        hello.shas["main"][:10]: hello.shas["main"],  # an abbreviated one
        "refs/pull/1/head": pull,
        "HEAD": hello.shas["main"],  # the remote's default branch
    }
    assert hello.git("rev-parse", "v1.0.0") != hello.shas["v1.0.0"]  # it really is an annotated tag
    for i, (ref, sha) in enumerate(cases.items()):
        pinned = build_from_source(make_ctx(f"ref{i}"), BuildSpec(mode="source"), ref, repository_url=str(hello.path))
        assert pinned.sha == sha, ref
        assert pinned.ref == ref


def test_unknown_ref_is_the_projects_failure(hello: HelloProject, make_ctx: MakeCtx) -> None:
    with pytest.raises(ProjectFailure) as err:
        build_from_source(make_ctx(), BUILD, "v9.9.9", repository_url=str(hello.path))
    assert err.value.reason == f"ref v9.9.9 not found in {hello.path}"
    assert err.value.status == "failed"


def test_failing_build_command_reports_its_last_error_line(hello: HelloProject, make_ctx: MakeCtx) -> None:
    spec = BuildSpec.from_dict(
        {
            **BUILD_CONFIG,
            "commands": [
                ["./build.sh"],
                ["sh", "-c", "echo compiling >&2; echo 'compiler error: boom' >&2; echo >&2; exit 3"],
                ["touch", "never-run"],
            ],
        }
    )
    ctx = make_ctx()
    with pytest.raises(ProjectFailure) as err:
        build_from_source(ctx, spec, "main", repository_url=str(hello.path))
    assert "build command 2" in err.value.reason
    assert err.value.reason.endswith("sh exited with 3: compiler error: boom")
    assert not (ctx.workdir / "source" / "never-run").exists()
    assert "compiler error: boom" in (ctx.workdir.parent / "cell.log").read_text()


def test_missing_output_and_missing_script_are_the_projects_failures(hello: HelloProject, make_ctx: MakeCtx) -> None:
    with pytest.raises(ProjectFailure, match=r"build output 'dist/\*\.zip' matched no file"):
        build_from_source(
            make_ctx("glob"),
            replace(BUILD, outputs=("dist/hello", "dist/*.zip")),
            "main",
            repository_url=str(hello.path),
        )
    with pytest.raises(ProjectFailure, match=r"build command 1: \./make\.sh does not exist in the checkout"):
        build_from_source(
            make_ctx("script"), replace(BUILD, commands=(("./make.sh",),)), "main", repository_url=str(hello.path)
        )
    with pytest.raises(ProjectFailure, match="must be a glob relative to the checkout"):
        build_from_source(make_ctx("escape"), replace(BUILD, outputs=("../*",)), "main", repository_url=str(hello.path))


def test_missing_git_and_unreachable_repository_are_infra_failures(
    hello: HelloProject, make_ctx: MakeCtx, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(InfraFailure, match=r"git is not installed \(apt-get install git\)"):
        build_from_source(make_ctx("nogit", env={"PATH": str(empty)}), BUILD, "main", repository_url=str(hello.path))
    port = free_port()  # nothing listens there
    with pytest.raises(InfraFailure, match=r"cannot fetch http://127\.0\.0\.1:\d+/hello\.git: git exited with 128"):
        build_from_source(make_ctx("down"), BUILD, "main", repository_url=f"http://127.0.0.1:{port}/hello.git")
    with pytest.raises(ProjectFailure, match="must not carry credentials"):
        build_from_source(make_ctx("creds"), BUILD, "main", repository_url="https://user:secret@example.org/x.git")


def test_image_tag_follows_the_original_scheme() -> None:
    sha = "0123456789abcdef" * 2 + "01234567"
    assert image_tag("v1.2.3", sha, "4242", "amd64") == "v1.2.3.01234567.4242.amd64"
    assert image_tag("refs/heads/feature/x", sha, "local", "arm64") == "refs-heads-feature-x.01234567.local.arm64"
    assert image_tag(".hidden", sha, "1", "amd64") == "hidden.01234567.1.amd64"
    long = image_tag("v" + "9" * 300, sha, "123456789", "ppc64le")
    assert len(long) == 128
    assert long.endswith(".01234567.123456789.ppc64le")


def test_no_image_builder_is_an_infra_failure_naming_the_package(
    hello: HelloProject, make_ctx: MakeCtx, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    spec = BuildSpec.from_dict({**BUILD_CONFIG, "image": {"name": "127.0.0.1:5000/fixture/hello"}})
    ctx = make_ctx(env={"PATH": str(bin_dir)})
    with pytest.raises(InfraFailure, match=r"buildah is not installed \(apt-get install buildah\)"):
        build_from_source(ctx, spec, "main", repository_url=str(hello.path))
    assert not (ctx.workdir / "source").exists()  # failed before fetching anything
    docker = shutil.which("docker")
    if docker:  # a docker client without an engine (as on this machine) does not count as a builder
        (bin_dir / "docker").symlink_to(docker)
        with pytest.raises(InfraFailure, match="docker is not usable"):
            build_from_source(
                make_ctx("docker", env={"PATH": str(bin_dir)}), spec, "main", repository_url=str(hello.path)
            )


FAKE_DOCKER = """#!{python}
# A docker client whose "engine" only records what it was asked (no engine runs on the test machine).
import json, os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
cmd = sys.argv[1]
if cmd == "info":
    print("28.2.2")
elif cmd == "push":
    print("The push refers to repository [" + sys.argv[2].rpartition(":")[0] + "]")
    print(sys.argv[2].rpartition(":")[2] + ": digest: sha256:" + "ab" * 32 + " size: 527")
"""


def test_docker_is_used_when_it_has_an_engine(hello: HelloProject, make_ctx: MakeCtx, tmp_path: Path) -> None:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER.format(python=sys.executable))
    fake.chmod(0o755)
    calls = tmp_path / "docker-calls.jsonl"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "CROSSCLOUD_IMAGE_BUILDER": "docker",
        "FAKE_DOCKER_LOG": str(calls),
    }
    spec = BuildSpec.from_dict({**BUILD_CONFIG, "image": {"name": "127.0.0.1:5000/fixture/hello"}})
    pinned = build_from_source(make_ctx(env=env), spec, "v1.1.0", repository_url=str(hello.path))
    tag = f"v1.1.0.{hello.shas['v1.1.0'][:8]}.4242.amd64"
    assert [(i.name, i.tag, i.digest) for i in pinned.images] == [
        ("127.0.0.1:5000/fixture/hello", tag, "sha256:" + "ab" * 32)
    ]
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [a[0] for a in argv] == ["info", "build", "push", "image"]
    build = argv[1]
    assert build[build.index("--file") + 1].endswith("/source/Containerfile")
    assert build[build.index("--tag") + 1] == f"127.0.0.1:5000/fixture/hello:{tag}"
    assert build[build.index("--platform") + 1] == "linux/amd64"
    assert argv[3] == ["image", "rm", f"127.0.0.1:5000/fixture/hello:{tag}"]


# --- images: buildah and a real registry ----------------------------------------------------------------


def check_pushed(registry: Registry, pinned: Pinned, expect_tag: str) -> None:
    """What the registry holds under the pinned tag is the pinned digest, and its one layer holds the
    pinned ``dist/hello``."""
    (image,) = pinned.images
    assert image.name == f"{registry.address}/fixture/hello"
    assert image.tag == expect_tag
    digest, manifest = registry.manifest("fixture/hello", expect_tag)
    assert image.digest == digest
    assert registry.manifest("fixture/hello", digest)[0] == digest  # also addressable by digest
    inspect = subprocess.run(
        [SKOPEO, "inspect", "--tls-verify=false", f"docker://{image.name}:{expect_tag}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(inspect.stdout)["Digest"] == digest
    config = json.loads(registry.blob("fixture/hello", manifest["config"]["digest"]))
    assert config["architecture"] == "amd64"
    assert config["config"]["Entrypoint"] == ["/hello"]
    (layer,) = manifest["layers"]
    blob = registry.blob("fixture/hello", layer["digest"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
        assert set(members) == {"hello"}
        extracted = tar.extractfile(members["hello"])
        assert extracted is not None
        with extracted:
            content = extracted.read()
    hello_file = next(f for f in pinned.files if f.name == "dist/hello")
    assert hashlib.sha256(content).hexdigest() == hello_file.sha256


def test_images_at_tag_and_main_are_pushed_and_pinned(
    hello: HelloProject, make_ctx: MakeCtx, registry: Registry
) -> None:
    spec = image_spec(registry)
    # v1.0.0 has only a Dockerfile (the fallback name); main has a Containerfile
    stable_ctx = make_ctx("stable")
    stable = build_from_source(stable_ctx, spec, "v1.0.0", repository_url=str(hello.path))
    head = build_from_source(make_ctx("head", release="head"), spec, "main", repository_url=str(hello.path))
    assert stable.sha == hello.shas["v1.0.0"]
    assert head.sha == hello.shas["main"]

    check_pushed(registry, stable, f"v1.0.0.{hello.shas['v1.0.0'][:8]}.4242.amd64")
    check_pushed(registry, head, f"main.{hello.shas['main'][:8]}.4242.amd64")
    assert stable.images[0].digest != head.images[0].digest

    image = head.images[0]
    assert head.release_env().splitlines() == [
        f'IMAGE_ARGS="--set image.repository={registry.address}/fixture/hello"',
        f'TAG_ARGS="--set image.tag={image.tag}"',
        f'IMAGE_DIGEST="{image.digest}"',
        'RELEASE_REF="main"',
        f'RELEASE_SHA="{hello.shas["main"]}"',
    ]
    assert Pinned.from_json(head.to_json()) == head
    # the private image store was removed with the build
    assert not (stable_ctx.workdir / "containers").exists()


def test_same_commit_gives_the_same_image(
    hello: HelloProject, make_ctx: MakeCtx, registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another checkout (other file times), another job, another image store: the same digest."""
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    spec = image_spec(registry)
    first = build_from_source(make_ctx("a", env={"GITHUB_RUN_ID": "1"}), spec, "v1.1.0", repository_url=str(hello.path))
    shared = tmp_path / "shared-store"  # a store that outlives the build: only the built tag is removed
    ctx = make_ctx("b", env={"CROSSCLOUD_BUILDAH_ROOT": str(shared)})
    del ctx.env["GITHUB_RUN_ID"]
    second = build_from_source(ctx, spec, "v1.1.0", repository_url=str(hello.path))
    sha8 = hello.shas["v1.1.0"][:8]
    assert (first.images[0].tag, second.images[0].tag) == (f"v1.1.0.{sha8}.1.amd64", f"v1.1.0.{sha8}.local.amd64")
    assert first.images[0].digest == second.images[0].digest
    assert registry.manifest("fixture/hello", f"v1.1.0.{sha8}.local.amd64")[0] == first.images[0].digest
    listed = subprocess.run(
        [str(BUILDAH), "--root", str(shared), "--runroot", str(shared / "run"), "--storage-driver", "vfs",
         "images", "--noheading"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert shared.is_dir()
    assert listed.stdout.strip() == ""


def test_broken_containerfile_is_the_projects_failure(
    hello: HelloProject, make_ctx: MakeCtx, registry: Registry
) -> None:
    with pytest.raises(ProjectFailure, match="image build failed: buildah exited with"):
        build_from_source(
            make_ctx("broken"), image_spec(registry, containerfile="hello.sh"), "main", repository_url=str(hello.path)
        )
    with pytest.raises(ProjectFailure, match=r"image\.containerfile build/Containerfile does not exist"):
        build_from_source(
            make_ctx("missing"),
            image_spec(registry, containerfile="build/Containerfile"),
            "main",
            repository_url=str(hello.path),
        )


def test_registry_down_is_an_infra_failure(hello: HelloProject, make_ctx: MakeCtx) -> None:
    port = free_port()  # nothing listens there
    spec = replace(BUILD, image=ImageSpec(f"127.0.0.1:{port}/fixture/hello", tls_verify=False))
    ctx = make_ctx()
    started = time.monotonic()
    with pytest.raises(InfraFailure) as err:
        build_from_source(ctx, spec, "main", repository_url=str(hello.path))
    assert err.value.reason == (
        f"registry 127.0.0.1:{port} is unreachable (connection refused) while pushing "
        f"127.0.0.1:{port}/fixture/hello:main.{hello.shas['main'][:8]}.4242.amd64"
    )
    assert err.value.status == "infra_failed"
    assert time.monotonic() - started < 40
    assert not (ctx.workdir / "containers").exists()
