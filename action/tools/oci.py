"""OCI image builders for the source build: ``buildah`` (daemonless; the default) or ``docker`` (when that
is what the machine has and its engine answers). The build code asks ``select_builder`` for one and calls
``build``, ``push`` and ``close``; it never cares which program runs.

Why buildah's defaults are what they are (each can be overridden from the stage's environment):

- **Storage: a private store per build** (``--root``/``--runroot`` under the cell's workdir), emptied with
  ``buildah rmi --all`` and removed by ``close()``. Parallel cells never share (or lock) a store, nothing
  is left in ``/var/lib/containers``, and a store initialised with another driver cannot get in the way.
  ``CROSSCLOUD_BUILDAH_ROOT`` (and ``CROSSCLOUD_BUILDAH_RUNROOT``, default ``<root>/run``) names a shared
  store instead (kept, so base images stay cached); only the built tags are removed from it.
- **Storage driver ``vfs``** (``STORAGE_DRIVER`` overrides). ``overlay`` needs kernel overlayfs on the
  store's filesystem, fails when the store itself sits on overlayfs (a job inside a container), and needs
  ``fuse-overlayfs`` when rootless on older kernels; ``vfs`` works on any filesystem, as root or not. Its
  cost, a full copy per layer, is small for the images this builds (``FROM scratch`` plus build outputs).
- **Isolation ``chroot``** (``BUILDAH_ISOLATION`` overrides). buildah's default, ``oci``, needs an OCI
  runtime (``runc`` or ``crun``): without one every ``RUN`` step fails with ``exec: no command``. Those are
  only *recommended* by Debian's buildah package, so ``apt-get install --no-install-recommends buildah``
  leaves them out. ``chroot`` runs ``RUN`` steps with buildah alone, and needs no user namespaces as root.
- **Reproducible images**: ``--timestamp`` (the commit time of the checkout) fixes the created time and
  every file's time in the layers, so the same sources give the same digest on every run.

``docker`` builds with ``docker build`` and pushes with ``docker push`` (the digest is read from its output).
It cannot switch TLS verification per push: the engine trusts ``127.0.0.0/8`` over plain HTTP and any
other insecure registry must be in its ``insecure-registries``. ``CROSSCLOUD_IMAGE_BUILDER=buildah|docker``
forces the choice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from crosscloud_action.errors import InfraFailure, ProjectFailure, StageFailure, StageTimeout
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import process

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PUSH_RETRIES = 3
"""Push attempts after the first; buildah waits 2 s between them."""
ENGINE_PROBE_TIMEOUT = 20.0
CLEANUP_BUDGET = 120.0
"""Seconds the clean-up of a private store may take, even after a timeout or a cancellation."""

# Build errors that say the machine (or the network) failed rather than the project's Containerfile.
_INFRA_BUILD_ERRORS = re.compile(
    r"exec: no command|no such file or directory: .*(runc|crun)|cannot find .*runtime|"
    r"kernel does not support overlay|no space left on device|"
    r"newuidmap|newgidmap|cannot re-exec|operation not permitted|"
    r"pinging container registry|connection refused|no such host|i/o timeout|TLS handshake timeout|"
    r"toomanyrequests|503 Service Unavailable|server misbehaving|network is unreachable",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|network is unreachable|TLS handshake timeout|"
    r"server misbehaving|no route to host|connection reset",
    re.IGNORECASE,
)


class ImageBuilder(Protocol):
    """Builds an image from a Containerfile and pushes it; ``close()`` always, after a failure too."""

    program: str

    def build(
        self, ctx: StageContext, *, containerfile: Path, context: Path, image: str, arch: str, timestamp: int | None
    ) -> None:
        """Build ``context`` with ``containerfile`` into the local image ``image`` (``name:tag``)."""
        ...

    def push(self, ctx: StageContext, image: str, *, tls_verify: bool = True) -> str:
        """Push ``image`` (``name:tag``) to its registry and return the pushed manifest's digest."""
        ...

    def close(self, ctx: StageContext) -> None:
        """Remove what the builds left on this machine; never raises."""
        ...


def stage_env(ctx: StageContext) -> dict[str, str]:
    """The environment the stage's programs see: this process's, with the stage's own on top."""
    return {**os.environ, **ctx.env}


def registry_of(image: str) -> str:
    """The registry host of an image reference (``docker.io`` for a short name like ``library/x``)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def split_image(image: str) -> tuple[str, str]:
    """``name:tag`` into name and tag (a registry's ``host:port`` is not a tag)."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"{image!r} has no tag")
    return name, tag


def _last_line(text: str) -> str:
    line = next((x for x in reversed(text.splitlines()) if x.strip()), "no error output")
    return line.strip()[:300]


def _run_build(ctx: StageContext, args: list[str], cwd: Path) -> None:
    """Run an image build. Its failure is the project's (its Containerfile, its ``RUN`` steps), unless the
    error output says the machine or the network failed."""
    result = process.run(ctx, args, cwd=cwd, check=False)
    if result.returncode == 0:
        return
    reason = f"{Path(args[0]).name} exited with {result.returncode}: {_last_line(result.stderr)}"
    infra = _INFRA_BUILD_ERRORS.search(result.stderr)
    if infra:
        raise InfraFailure(f"image build could not run here ({infra.group(0)}): {reason}"[:500])
    raise ProjectFailure(f"image build failed: {reason}"[:500])


def _push(ctx: StageContext, args: list[str], image: str) -> subprocess.CompletedProcess[str]:
    """Run a push. Its failure is never the project's: the registry, the network or the credentials failed;
    an unreachable registry is said so (the whole error output is searched, the details are in the log)."""
    result = process.run(ctx, args, check=False)
    if result.returncode == 0:
        return result
    registry = registry_of(image)
    unreachable = _UNREACHABLE.search(result.stderr)
    if unreachable:
        raise InfraFailure(f"registry {registry} is unreachable ({unreachable.group(0)}) while pushing {image}"[:500])
    reason = f"{Path(args[0]).name} exited with {result.returncode}: {_last_line(result.stderr)}"
    raise InfraFailure(f"pushing {image} to {registry} failed: {reason}"[:500])


def _cleanup_ctx(ctx: StageContext) -> StageContext:
    """A context with a fresh time budget and no cancellation, so clean-up runs after either."""
    fresh = replace(ctx, deadline=time.monotonic() + CLEANUP_BUDGET)
    fresh.cancel = type(ctx.cancel)()
    return fresh


class Buildah:
    """``buildah bud`` and ``buildah push --digestfile``; storage, driver and isolation as the module says."""

    program = "buildah"

    def __init__(self, ctx: StageContext, *, executable: str = "buildah"):
        env = stage_env(ctx)
        self.executable = executable
        shared = env.get("CROSSCLOUD_BUILDAH_ROOT")
        self.private = not shared
        if shared:
            self.root = Path(shared)
            self.runroot = Path(env.get("CROSSCLOUD_BUILDAH_RUNROOT") or self.root / "run")
        else:
            self.root = ctx.workdir / "containers" / "storage"
            self.runroot = ctx.workdir / "containers" / "run"
        self.driver = env.get("STORAGE_DRIVER") or "vfs"
        self.isolation = env.get("BUILDAH_ISOLATION") or "chroot"
        self.images: list[str] = []

    def _global(self) -> list[str]:
        return [
            self.executable,
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            self.driver,
        ]

    def build(
        self, ctx: StageContext, *, containerfile: Path, context: Path, image: str, arch: str, timestamp: int | None
    ) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.runroot.mkdir(parents=True, exist_ok=True)
        args = [*self._global(), "bud", "--isolation", self.isolation, "--arch", arch]
        if timestamp is not None:
            args += ["--timestamp", str(timestamp)]
        args += ["--file", str(containerfile), "--tag", image, str(context)]
        self.images.append(image)
        _run_build(ctx, args, context)

    def push(self, ctx: StageContext, image: str, *, tls_verify: bool = True) -> str:
        digestfile = ctx.workdir / "containers" / "digest"
        digestfile.parent.mkdir(parents=True, exist_ok=True)
        digestfile.unlink(missing_ok=True)
        args = [*self._global(), "push", "--retry", str(PUSH_RETRIES), "--digestfile", str(digestfile)]
        if not tls_verify:
            args.append("--tls-verify=false")
        args += [image, f"docker://{image}"]
        _push(ctx, args, image)
        digest = digestfile.read_text().strip() if digestfile.is_file() else ""
        if not DIGEST.match(digest):
            raise InfraFailure(f"buildah pushed {image} but wrote no digest (got {digest[:80]!r})")
        return digest

    def close(self, ctx: StageContext) -> None:
        ctx = _cleanup_ctx(ctx)
        try:
            if self.private:
                if self.root.exists():
                    process.run(ctx, [*self._global(), "rmi", "--all", "--force"], check=False)
                shutil.rmtree(self.root.parent, ignore_errors=True)
            elif self.images:
                process.run(ctx, [*self._global(), "rmi", "--force", *self.images], check=False)
        except StageFailure as err:
            print(f"image clean-up failed: {err.reason}", file=ctx.log, flush=True)
        self.images.clear()


_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class Docker:
    """``docker build`` and ``docker push`` through a running engine."""

    program = "docker"

    def __init__(self, ctx: StageContext, *, executable: str = "docker"):
        self.executable = executable
        self.images: list[str] = []

    def build(
        self, ctx: StageContext, *, containerfile: Path, context: Path, image: str, arch: str, timestamp: int | None
    ) -> None:
        args = [self.executable, "build", "--platform", f"linux/{arch}"]
        if timestamp is not None:  # BuildKit's reproducible-build argument
            args += ["--build-arg", f"SOURCE_DATE_EPOCH={timestamp}"]
        args += ["--file", str(containerfile), "--tag", image, str(context)]
        self.images.append(image)
        _run_build(ctx, args, context)

    def push(self, ctx: StageContext, image: str, *, tls_verify: bool = True) -> str:
        if not tls_verify:
            print(
                "docker: tls_verify: false is up to the engine (127.0.0.0/8 and its insecure-registries)",
                file=ctx.log,
                flush=True,
            )
        result = _push(ctx, [self.executable, "push", image], image)
        found = _PUSHED_DIGEST.findall(result.stdout)
        if found:
            return str(found[-1])
        name, _ = split_image(image)
        listed = process.run(
            ctx,
            [self.executable, "image", "inspect", "--format", '{{join .RepoDigests "\\n"}}', image],
            failure=InfraFailure,
        ).stdout
        for line in listed.splitlines():
            repo, _, digest = line.strip().partition("@")
            if repo == name and DIGEST.match(digest):
                return digest
        raise InfraFailure(f"docker pushed {image} but reported no digest")

    def close(self, ctx: StageContext) -> None:
        ctx = _cleanup_ctx(ctx)
        if self.images:
            try:
                process.run(ctx, [self.executable, "image", "rm", *self.images], check=False)
            except StageFailure as err:
                print(f"image clean-up failed: {err.reason}", file=ctx.log, flush=True)
        self.images.clear()


def docker_engine_problem(ctx: StageContext, executable: str) -> str | None:
    """Why ``docker`` cannot build here (``None`` when its engine answers)."""
    try:
        result = process.run(
            ctx,
            [executable, "info", "--format", "{{.ServerVersion}}"],
            check=False,
            timeout=ENGINE_PROBE_TIMEOUT,
            failure=InfraFailure,
        )
    except StageTimeout:
        if time.monotonic() >= ctx.deadline:
            raise
        return f"its engine did not answer within {ENGINE_PROBE_TIMEOUT:.0f} s"
    if result.returncode != 0 or not result.stdout.strip():
        return f"its engine is not reachable ({_last_line(result.stderr)})"
    return None


def select_builder(ctx: StageContext) -> ImageBuilder:
    """buildah when installed, else docker when its engine answers; ``CROSSCLOUD_IMAGE_BUILDER`` forces
    one. Neither usable is an ``InfraFailure`` that says what to install."""
    env = stage_env(ctx)
    path = env.get("PATH", os.defpath)
    wanted = env.get("CROSSCLOUD_IMAGE_BUILDER", "").strip().lower()
    if wanted not in ("", "buildah", "docker"):
        raise InfraFailure(f"CROSSCLOUD_IMAGE_BUILDER must be buildah or docker, not {wanted!r}")
    buildah = shutil.which("buildah", path=path)
    docker = shutil.which("docker", path=path)
    if wanted != "docker" and buildah:
        return Buildah(ctx, executable=buildah)
    if wanted == "buildah":
        raise InfraFailure("buildah is not installed (apt-get install buildah)")
    problem = "it is not installed" if not docker else docker_engine_problem(ctx, docker)
    if docker and problem is None:
        return Docker(ctx, executable=docker)
    if wanted == "docker":
        raise InfraFailure(f"docker cannot build images: {problem}")
    raise InfraFailure(
        f"no image builder: buildah is not installed (apt-get install buildah) and docker is not usable: {problem}"[
            :500
        ]
    )
