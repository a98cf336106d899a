"""A small real project for the source build: a git repository with a "hello" CLI, its build script and
an image recipe, at two release tags and one more commit on ``main``.

- ``v1.0.0`` (annotated tag): ``hello.sh``, ``build.sh`` and a ``Dockerfile`` (the fallback name);
- ``v1.1.0`` (lightweight tag): the ``Dockerfile`` renamed to ``Containerfile``, a new greeting;
- ``main``: one commit after ``v1.1.0``; it also carries ``feature/x``, a branch one commit further.

``build.sh`` writes ``dist/hello`` (the CLI, stamped with ``git describe --tags``) and a reproducible
``dist/hello.tar.gz``. The image is ``FROM scratch`` with ``/hello``: no base image to pull.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HELLO = """#!/bin/sh
# hello: greets, and says which version it is.
if [ "${1:-}" = "--version" ]; then echo "hello @VERSION@"; exit 0; fi
echo "@GREETING@, ${1:-world}"
"""

BUILD = """#!/bin/sh
# Builds dist/hello and dist/hello.tar.gz; the same commit always gives the same bytes.
set -eu
version=$(git describe --tags --always)
greeting=$(cat greeting.txt)
rm -rf dist
mkdir -p dist
sed -e "s/@VERSION@/$version/" -e "s/@GREETING@/$greeting/" hello.sh > dist/hello
chmod 755 dist/hello
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner -C dist -cf - hello \\
  | gzip -n > dist/hello.tar.gz
echo "built hello $version"
"""

CONTAINERFILE = """FROM scratch
COPY dist/hello /hello
ENTRYPOINT ["/hello"]
"""


@dataclass
class HelloProject:
    path: Path
    """The repository (a normal, non-bare one; clone it by path or file:// URL)."""
    shas: dict[str, str] = field(default_factory=dict)
    """Full sha of every tag and branch: ``v1.0.0``, ``v1.1.0``, ``main``, ``feature/x``."""

    def git(self, *args: str) -> str:
        return _git(self.path, *args)


def _git(repo: Path, *args: str, date: int | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.org",
        "GIT_COMMITTER_NAME": "Fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.org",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755 if executable else 0o644)


def make_hello_project(root: Path) -> HelloProject:
    """Create the project's repository in ``root/hello`` (which must not exist) and return it."""
    repo = root / "hello"
    repo.mkdir(parents=True)
    project = HelloProject(repo)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    date = 1_700_000_000

    def commit(message: str) -> str:
        nonlocal date
        date += 3600
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "-m", message, date=date)
        return _git(repo, "rev-parse", "HEAD")

    _write(repo / "hello.sh", HELLO)
    _write(repo / "build.sh", BUILD, executable=True)
    _write(repo / "greeting.txt", "hello\n")
    _write(repo / "Dockerfile", CONTAINERFILE)
    _write(repo / ".gitignore", "dist/\n")
    project.shas["v1.0.0"] = commit("hello 1.0.0")
    _git(repo, "tag", "--annotate", "-m", "release 1.0.0", "v1.0.0", date=date)

    _git(repo, "mv", "Dockerfile", "Containerfile")
    _write(repo / "greeting.txt", "hi\n")
    project.shas["v1.1.0"] = commit("hello 1.1.0: shorter greeting, Containerfile")
    _git(repo, "tag", "v1.1.0")

    _write(repo / "README", "hello: a fixture project for Cross-Cloud CI\n")
    project.shas["main"] = commit("README")

    _git(repo, "checkout", "--quiet", "-b", "feature/x")
    _write(repo / "greeting.txt", "hey\n")
    project.shas["feature/x"] = commit("feature: another greeting")
    _git(repo, "checkout", "--quiet", "main")
    return project
