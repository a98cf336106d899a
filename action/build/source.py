"""The ``source`` build mode: check out the release's commit, run the project's build commands, pin the
files they produced and package, push and pin an OCI image.

The checkout is a full fetch (every branch and tag) into ``<workdir>/source``, so build scripts that ask
git about themselves (``git describe --tags``) work; a ref is looked up as a tag first, then as a branch,
then as a commit, and finally fetched by name (a sha no branch contains, ``refs/pull/N/head``).

Build commands are argument lists run in the checkout with ``SOURCE_DATE_EPOCH`` (the commit time),
``CROSSCLOUD_REF``, ``CROSSCLOUD_SHA`` and ``CROSSCLOUD_ARCH`` in their environment. Paths in the spec
(``outputs`` globs, ``image.context``, ``image.containerfile``) are relative to the checkout and may not
leave it. Without a declared containerfile, the context's ``Containerfile`` is used, else its ``Dockerfile``.

Whose fault a failure is: a build command that fails, a ref, output, context or containerfile that does
not exist, a Containerfile that does not build are the project's (``ProjectFailure``); a missing git or
image builder, a repository that cannot be fetched and a registry that refuses or cannot be reached are the
environment's (``InfraFailure``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from crosscloud.stage_specs import BuildSpec, ImageSpec
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageFailure
from crosscloud_action.model import File, Image, Pinned
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import oci, process

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
"""Never wait for a password: a repository that needs one fails at once."""
SHA = re.compile(r"^[0-9a-f]{40}$")
HEX = re.compile(r"^[0-9a-f]{4,40}$")
REF = re.compile(r"^[^\x00-\x20\x7f~^:?*\[\\]{1,200}$")
"""What the config schema allows for a ref."""
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._/:-]*$")
TAG_MAX = 128
CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkout:
    path: Path
    sha: str
    commit_time: int
    """Committer time of ``sha`` (seconds since the epoch): ``SOURCE_DATE_EPOCH`` and the image's time."""


def build_from_source(ctx: StageContext, spec: BuildSpec, ref: str, *, repository_url: str | None = None) -> Pinned:
    """Check out ``ref`` of ``spec.repository`` (default ``repository_url``, then the project's
    ``repository_url``), run ``spec.commands``, pin ``spec.outputs`` and, when ``spec.image`` is declared,
    build, push and pin the image tagged ``<ref>.<sha8>.<job id>.<arch>``."""
    repository = spec.repository or repository_url or ctx.project.repository_url
    if not repository:
        raise ProjectFailure("build.repository is not set and the project has no repository_url")
    image_spec = spec.image
    git = git_program(ctx)
    # The builder is chosen before anything is fetched or built: a machine that cannot package the image
    # fails in a second, not after the whole build.
    builder = oci.select_builder(ctx) if image_spec else None
    try:
        checkout = fetch_checkout(ctx, repository, ref, git=git)
        run_commands(ctx, spec.commands, checkout, ref)
        files = pin_outputs(checkout.path, spec.outputs)
        for f in files:
            print(f"pinned {f.name} sha256:{f.sha256}", file=ctx.log, flush=True)
        images: tuple[Image, ...] = ()
        if image_spec and builder:
            images = (build_image(ctx, builder, image_spec, checkout, ref),)
    finally:
        if builder:
            builder.close(ctx)
    return Pinned(ref=ref, sha=checkout.sha, images=images, files=files)


# --- git ------------------------------------------------------------------------------------------------


def git_program(ctx: StageContext) -> str:
    found = shutil.which("git", path=oci.stage_env(ctx).get("PATH", os.defpath))
    if not found:
        raise InfraFailure("git is not installed (apt-get install git)")
    return found


def repository_location(repository: str) -> str:
    """What git is given: a URL as it is (refused with credentials in it), a local path made absolute."""
    if repository.startswith("-"):
        raise ProjectFailure(f"build.repository {repository!r} is not a URL or a path")
    if "://" in repository:
        parts = urlsplit(repository)
        if parts.password or (parts.username and parts.scheme in ("http", "https")):
            raise ProjectFailure(
                "build.repository must not carry credentials; give them to git through its environment"
            )
        return repository
    path = Path(repository).expanduser()
    if path.exists():
        return str(path.resolve())
    return repository  # scp-like (git@host:owner/name) or a path that fetch will report missing


def _git(
    ctx: StageContext,
    git: str,
    cwd: Path,
    *args: str,
    check: bool = True,
    failure: type[StageFailure] = InfraFailure,
) -> str:
    return process.run(ctx, [git, *args], cwd=cwd, env=GIT_ENV, check=check, failure=failure).stdout.strip()


def _rev(ctx: StageContext, git: str, cwd: Path, name: str) -> str | None:
    result = process.run(
        ctx, [git, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], cwd=cwd, env=GIT_ENV, check=False
    )
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and SHA.match(sha) else None


def fetch_checkout(ctx: StageContext, repository: str, ref: str, *, git: str | None = None) -> Checkout:
    """Fetch ``repository`` into ``<workdir>/source`` (reusing an earlier fetch there), resolve ``ref`` to a
    commit and check it out, clean."""
    if not REF.match(ref) or ref.startswith("-"):
        raise ProjectFailure(f"ref {ref!r} is not a valid git ref")
    git = git or git_program(ctx)
    location = repository_location(repository)
    src = ctx.workdir / "source"
    print(f"source: fetching {repository}", file=ctx.log, flush=True)
    if (src / ".git").is_dir():
        _git(ctx, git, src, "remote", "set-url", "origin", location)
    else:
        if src.exists():
            shutil.rmtree(src)
        src.mkdir(parents=True)
        _git(ctx, git, src, "-c", "init.defaultBranch=main", "init", "--quiet")
        _git(ctx, git, src, "remote", "add", "origin", location)
    try:
        _git(ctx, git, src, "fetch", "--quiet", "--tags", "--force", "--prune", "origin",
             "+refs/heads/*:refs/remotes/origin/*")  # fmt: skip
    except InfraFailure as err:
        raise InfraFailure(f"cannot fetch {repository}: {err.reason}"[:500]) from None
    sha = resolve_ref(ctx, git, src, ref)
    if sha is None:
        raise ProjectFailure(f"ref {ref} not found in {repository}")
    print(f"source: {ref} is {sha}", file=ctx.log, flush=True)
    _git(ctx, git, src, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", sha)
    _git(ctx, git, src, "clean", "-ffdxq")
    if (src / ".gitmodules").is_file():
        try:
            _git(ctx, git, src, "submodule", "update", "--init", "--recursive", "--force")
        except InfraFailure as err:
            raise InfraFailure(f"cannot fetch the submodules of {repository}: {err.reason}"[:500]) from None
    commit_time = int(_git(ctx, git, src, "show", "-s", "--format=%ct", sha))
    return Checkout(path=src, sha=sha, commit_time=commit_time)


def resolve_ref(ctx: StageContext, git: str, src: Path, ref: str) -> str | None:
    """The full sha of ``ref`` in the fetched repository: a tag, a branch, a commit (full or abbreviated),
    else whatever fetching ``ref`` by name from origin gives; ``None`` when none of them exists."""
    candidates = [f"refs/tags/{ref}", f"refs/remotes/origin/{ref}"]
    if ref.startswith("refs/heads/"):
        candidates.append("refs/remotes/origin/" + ref.removeprefix("refs/heads/"))
    elif ref.startswith("refs/tags/"):
        candidates.append(ref)
    if HEX.match(ref):
        candidates.append(ref)
    for candidate in candidates:
        sha = _rev(ctx, git, src, candidate)
        if sha:
            return sha
    fetched = process.run(ctx, [git, "fetch", "--quiet", "--no-tags", "origin", ref], cwd=src, env=GIT_ENV, check=False)
    if fetched.returncode == 0:
        return _rev(ctx, git, src, "FETCH_HEAD")
    return None


# --- build commands and outputs -------------------------------------------------------------------------


def run_commands(ctx: StageContext, commands: Sequence[Sequence[str]], checkout: Checkout, ref: str) -> None:
    """Run each command (an argument list, no shell) in the checkout; the first failure stops the build."""
    env = {
        "SOURCE_DATE_EPOCH": str(checkout.commit_time),
        "CROSSCLOUD_REF": ref,
        "CROSSCLOUD_SHA": checkout.sha,
        "CROSSCLOUD_ARCH": ctx.arch,
    }
    for number, command in enumerate(commands, 1):
        if not command:
            raise ProjectFailure(f"build command {number} is not a non-empty argument list")
        args = list(command)
        program = args[0]
        if "/" in program:  # a script of the project: its absence is the project's, not the machine's
            path = Path(program) if Path(program).is_absolute() else checkout.path / program
            if not path.is_file():
                raise ProjectFailure(f"build command {number}: {program} does not exist in the checkout")
            if not os.access(path, os.X_OK):
                raise ProjectFailure(f"build command {number}: {program} is not executable")
        try:
            process.run(ctx, args, cwd=checkout.path, env=env)
        except ProjectFailure as err:
            raise ProjectFailure(f"build command {number} ({shlex.join(args)[:120]}): {err.reason}"[:500]) from None


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refused when it is absolute or leads out of ``root``."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise ProjectFailure(f"{what} {relative!r} must be a path inside the checkout")
    path = root / pure
    if not path.resolve().is_relative_to(root.resolve()):
        raise ProjectFailure(f"{what} {relative!r} leads out of the checkout")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pin_outputs(root: Path, patterns: Sequence[str]) -> tuple[File, ...]:
    """The files matching each glob (relative to the checkout), by sha256, named by their path in the
    checkout. A glob that matches no file fails the build."""
    pinned: dict[str, File] = {}
    real_root = root.resolve()
    for pattern in patterns:
        pure = PurePosixPath(pattern)
        if not pattern or pure.is_absolute() or ".." in pure.parts:
            raise ProjectFailure(f"build output {pattern!r} must be a glob relative to the checkout")
        matches = sorted(p for p in root.glob(pattern) if p.is_file() and p.relative_to(root).parts[0] != ".git")
        if not matches:
            raise ProjectFailure(f"build output {pattern!r} matched no file")
        for path in matches:
            if not path.resolve().is_relative_to(real_root):
                raise ProjectFailure(f"build output {path.relative_to(root).as_posix()} leads out of the checkout")
            name = path.relative_to(root).as_posix()
            if name not in pinned:
                pinned[name] = File(name=name, sha256=sha256_file(path), path=str(path))
    return tuple(pinned.values())


# --- image ----------------------------------------------------------------------------------------------


def job_id(ctx: StageContext) -> str:
    """The workflow run id (``GITHUB_RUN_ID``), or ``local`` outside GitHub Actions."""
    return ctx.env.get("GITHUB_RUN_ID") or os.environ.get("GITHUB_RUN_ID") or "local"


def _tag_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def image_tag(ref: str, sha: str, job: str, arch: str) -> str:
    """The original's tag scheme ``<ref>.<sha8>.<job id>.<arch>``, made a valid tag: other characters
    become ``-``, it starts with a letter, digit or ``_``, and the ref is cut so the tag has at most 128
    characters."""
    suffix = f".{sha[:8]}.{_tag_part(job)[:40]}.{_tag_part(arch)[:20]}"
    head = _tag_part(ref).lstrip(".-") or "ref"
    room = TAG_MAX - len(suffix)
    if len(head) > room:
        head = head[:room].rstrip(".-")  # still starts with a letter, digit or "_"
    return head + suffix


def containerfile_of(root: Path, image_spec: ImageSpec, context: Path) -> Path:
    declared = image_spec.containerfile
    if declared:
        path = _inside(root, declared, "image.containerfile")
        if not path.is_file():
            raise ProjectFailure(f"image.containerfile {declared} does not exist in the checkout")
        return path
    for name in ("Containerfile", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    where = context.relative_to(root).as_posix()
    raise ProjectFailure(f"no Containerfile or Dockerfile in {where if where != '.' else 'the checkout root'}")


def build_image(
    ctx: StageContext, builder: oci.ImageBuilder, image_spec: ImageSpec, checkout: Checkout, ref: str
) -> Image:
    """Build the declared image from the checkout, push it and pin it by the digest the registry got."""
    name = image_spec.name
    if not IMAGE_NAME.match(name) or "@" in name or ":" in name.rpartition("/")[2]:
        raise ProjectFailure(f"image.name {name!r} must be a repository without tag or digest")
    context = _inside(checkout.path, image_spec.context or ".", "image.context")
    if not context.is_dir():
        raise ProjectFailure(f"image.context {image_spec.context} is not a directory in the checkout")
    containerfile = containerfile_of(checkout.path, image_spec, context)
    tag = image_tag(ref, checkout.sha, job_id(ctx), ctx.arch)
    reference = f"{name}:{tag}"
    print(f"image: building {reference} with {builder.program}", file=ctx.log, flush=True)
    builder.build(
        ctx,
        containerfile=containerfile,
        context=context,
        image=reference,
        arch=ctx.arch,
        timestamp=checkout.commit_time,
    )
    digest = builder.push(ctx, reference, tls_verify=image_spec.tls_verify)
    print(f"image: pushed {reference} as {name}@{digest}", file=ctx.log, flush=True)
    return Image(name=name, digest=digest, tag=tag)
