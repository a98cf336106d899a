"""Creating a status repository: its first commit holds ``status-data/`` (the template repository: README,
LAYOUT.md, ``.github/workflows/``) and the configuration.

Two places to create it, with the same first commit:

- a local path: a new bare repository, built beside the path and moved into place;
- a URL (``https://github.com/ORG/NAME.git``, ``file://``): an **existing, empty** repository (as GitHub
  creates it without a README), seeded with one push of ``main``. A repository that has any branch is
  left alone (``--exist-ok`` accepts one that already is a status repository)."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from crosscloud import layout, packaged
from crosscloud.config import Config, load_config, parse_config
from crosscloud.errors import BadInputError, GitCommandError, StatusRepoError
from crosscloud.status_repo.git import Git, Remote
from crosscloud.status_repo.writer import DEFAULT_EMAIL, DEFAULT_NAME

NOT_SEEDED = frozenset({"__init__.py"})
"""Files of ``status-data/`` that make it a Python package, not part of a status repository."""
MESSAGE = "Initialise the status repository\n\n[skip ci]\n"


def default_config_text() -> bytes:
    return (packaged.status_data() / layout.CONFIG_PATH).read_bytes()


def default_config() -> Config:
    return parse_config(default_config_text(), f"status-data/{layout.CONFIG_PATH}")


def seed_files(config_file: Path | None = None) -> dict[str, bytes]:
    """Path -> content of the first commit: every file of ``status-data/`` (at any depth, hidden ones
    too), with ``cross-cloud.yml`` from ``config_file`` (checked first) instead of the default."""
    if config_file is not None:
        load_config(config_file)  # raises with file, line and field on any problem
        config_text = config_file.read_bytes()
    else:
        config_text = default_config_text()
    root = packaged.status_data()
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.as_posix() not in NOT_SEEDED and "__pycache__" not in relative.parts:
            files[relative.as_posix()] = path.read_bytes()
    files[layout.CONFIG_PATH] = config_text
    return files


def _seed_commit(git: Git, files: dict[str, bytes]) -> str:
    return git.commit_files(f"refs/heads/{layout.BRANCH}", files, message=MESSAGE,
                            identity=(DEFAULT_NAME, DEFAULT_EMAIL), when=int(time.time()))  # fmt: skip


def is_status_repo(path: Path) -> bool:
    git = Git(path)
    return git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{layout.BRANCH}", check=False).returncode == 0


def init_status_repo(path: Path, config_file: Path | None = None, *, exist_ok: bool = False) -> str:
    """Create a bare status repository at ``path`` seeded with ``status-data/`` and the configuration
    (``config_file``, else the embedded default). Returns the first commit.

    The configuration is checked first; the repository is built beside ``path`` and moved into place,
    so a failure leaves nothing behind and an existing directory is never touched."""
    if path.exists():
        if exist_ok and is_status_repo(path):
            return Git(path).text("rev-parse", f"refs/heads/{layout.BRANCH}")
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        else:
            raise BadInputError(f"{path} already exists: choose a new path (or --exist-ok for a status repository)")
    files = seed_files(config_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        git = Git(staging)
        git.run("init", "--quiet", "--bare", f"--initial-branch={layout.BRANCH}")
        commit = _seed_commit(git, files)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return commit


@dataclass(frozen=True)
class Seeded:
    """What ``seed_remote`` did: the commit ``main`` is at, and whether this call pushed it."""

    commit: str
    created: bool
    files: tuple[str, ...] = ()


def remote_heads(git: Git, remote: Remote) -> dict[str, str]:
    """Branch -> commit of ``remote`` (``git ls-remote --heads``); an empty repository has none."""
    try:
        out = git.text("ls-remote", "--heads", "--", remote.url)
    except GitCommandError as exc:
        raise StatusRepoError(f"cannot read {remote}: {exc.stderr.strip() or exc}") from None
    heads = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        heads[ref.removeprefix("refs/heads/")] = sha
    return heads


def seed_remote(remote: Remote, config_file: Path | None = None, *, exist_ok: bool = False) -> Seeded:
    """Seed the existing, empty repository at ``remote`` with the first commit of a status repository
    (one push of ``main``; the token, if any, goes to git in a header). A repository with a branch is
    refused, unless ``exist_ok`` and it already is a status repository (``main`` with a
    ``cross-cloud.yml``). Nothing is pushed when the configuration is bad."""
    files = seed_files(config_file)
    with tempfile.TemporaryDirectory(prefix="crosscloud-init-") as scratch:
        git = Git(Path(scratch), remote=remote)
        git.run("init", "--quiet", "--bare", f"--initial-branch={layout.BRANCH}")
        heads = remote_heads(git, remote)
        if heads:
            if exist_ok and layout.BRANCH in heads:
                ref = f"refs/heads/{layout.BRANCH}"
                git.run("fetch", "--quiet", "--no-tags", "--depth=1", remote.url, f"+{ref}:{ref}")
                if git.run("cat-file", "-e", f"{ref}:{layout.CONFIG_PATH}", check=False).returncode == 0:
                    return Seeded(heads[layout.BRANCH], created=False)
            names = ", ".join(sorted(heads))
            raise BadInputError(
                f"{remote} is not empty (branches: {names}): crosscloud init seeds an empty repository; create "
                "it without a README, licence or .gitignore"
                + ("" if exist_ok else ", or pass --exist-ok when it already is a status repository")
            )
        commit = _seed_commit(git, files)
        proc = git.run("push", "--porcelain", "--quiet", remote.url, f"{commit}:refs/heads/{layout.BRANCH}",
                       check=False)  # fmt: skip
        if proc.returncode != 0:
            err = git.redact(proc.stderr.decode(errors="replace") + proc.stdout.decode(errors="replace"))
            last = next((line for line in reversed(err.strip().splitlines()) if line.strip()), "no output")
            raise StatusRepoError(f"cannot push the first commit to {remote}: {last}")
    return Seeded(commit, created=True, files=tuple(sorted(files)))
