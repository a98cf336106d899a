"""A local copy of a status repository to read from: the repository itself when it is on this machine,
else a bare mirror in the cache directory, refreshed by ``fetch``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from crosscloud.errors import GitCommandError, StatusRepoError
from crosscloud.status_repo.git import Git, Remote


def cache_dir() -> Path:
    base = os.environ.get("CROSSCLOUD_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / ("" if os.environ.get("CROSSCLOUD_CACHE_DIR") else "crosscloud")


def git_dir_of(path: Path) -> Path:
    """The git directory of a local repository, bare or not."""
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    if (path / ".git").is_dir():
        return path / ".git"
    raise StatusRepoError(f"{path} is not a git repository (create one with 'crosscloud init --repo {path}')")


class Mirror:
    """Where to read ``remote`` from. ``fetch()`` brings a remote mirror up to date (no-op when local)."""

    def __init__(self, remote: Remote, cache: Path | None = None):
        self.remote = remote
        local = remote.local_path
        if local is not None:
            if not local.exists():
                raise StatusRepoError(f"no status repository at {local}")
            self.git_dir = git_dir_of(local)
            self.is_copy = False
        else:
            digest = hashlib.sha256(remote.url.encode()).hexdigest()[:16]
            self.git_dir = (cache or cache_dir()) / "mirrors" / f"{digest}.git"
            self.is_copy = True

    def fetch(self) -> None:
        if not self.is_copy:
            return
        git = Git(self.git_dir, remote=self.remote)
        try:
            if not (self.git_dir / "HEAD").exists():
                self.git_dir.mkdir(parents=True, exist_ok=True)
                git.run("init", "--quiet", "--bare")
            git.run("fetch", "--quiet", "--prune", "--no-tags", self.remote.url, "+refs/heads/*:refs/heads/*")
        except GitCommandError as exc:
            raise StatusRepoError(f"cannot fetch the status repository {self.remote}: {exc.stderr.strip()}") from None
