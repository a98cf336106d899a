"""Creating a status repository: a bare git repository whose first commit holds ``status-data/``."""

from __future__ import annotations

import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from crosscloud import layout
from crosscloud.config import Config, load_config, parse_config
from crosscloud.errors import BadInputError
from crosscloud.status_repo.git import Git
from crosscloud.status_repo.writer import DEFAULT_EMAIL, DEFAULT_NAME

SEED_FILES = ("README.md", "LAYOUT.md")


def default_config_text() -> bytes:
    return resources.files("crosscloud.status_data").joinpath(layout.CONFIG_PATH).read_bytes()


def default_config() -> Config:
    return parse_config(default_config_text(), f"status-data/{layout.CONFIG_PATH}")


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
    if config_file is not None:
        load_config(config_file)  # raises with file, line and field on any problem
        config_text = config_file.read_bytes()
    else:
        config_text = default_config_text()
    files = {layout.CONFIG_PATH: config_text}
    data = resources.files("crosscloud.status_data")
    for name in SEED_FILES:
        files[name] = data.joinpath(name).read_bytes()

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        git = Git(staging)
        git.run("init", "--quiet", "--bare", f"--initial-branch={layout.BRANCH}")
        commit = git.commit_files(
            f"refs/heads/{layout.BRANCH}",
            files,
            message="Initialise the status repository\n\n[skip ci]\n",
            identity=(DEFAULT_NAME, DEFAULT_EMAIL),
            when=int(time.time()),
        )
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return commit
