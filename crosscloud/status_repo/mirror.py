"""A local copy of a status repository to read from: the repository itself when it is on this machine,
else a bare mirror in the cache directory, refreshed by ``fetch``.

With a history window (``history_days``) the mirror is always a copy, and a shallow one: each fetch keeps
only the commits of the last ``history_days`` days (``git fetch --shallow-since``, the boundary moving with
the clock, so older objects become unreachable and are pruned by ``git gc``). What the app serves then
grows with the breadth of a night, not with the age of the status repository; older history stays in the
status repository itself (``git log``). At least one commit is always kept: ``--shallow-since`` never
leaves a branch empty."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crosscloud.errors import BadInputError, GitCommandError, StatusRepoError
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

    def __init__(self, remote: Remote, cache: Path | None = None, *, history_days: float | None = None):
        if history_days is not None and history_days <= 0:
            raise BadInputError(f"the history window must be a positive number of days, not {history_days}")
        self.remote = remote
        self.history_days = history_days
        local = remote.local_path
        self.url = remote.url if local is None else local.resolve().as_uri()
        if local is not None and history_days is None:
            if not local.exists():
                raise StatusRepoError(f"no status repository at {local}")
            self.git_dir = git_dir_of(local)
            self.is_copy = False
        else:
            if local is not None and not local.exists():
                raise StatusRepoError(f"no status repository at {local}")
            window = "" if history_days is None else f"-{history_days:g}d"
            digest = hashlib.sha256(remote.url.encode()).hexdigest()[:16]
            self.git_dir = (cache or cache_dir()) / "mirrors" / f"{digest}{window}.git"
            self.is_copy = True

    def fetch(self) -> None:
        if not self.is_copy:
            return
        git = Git(self.git_dir, remote=self.remote)
        try:
            if not (self.git_dir / "HEAD").exists():
                self.git_dir.mkdir(parents=True, exist_ok=True)
                git.run("init", "--quiet", "--bare")
            fetch = ["fetch", "--quiet", "--prune", "--no-tags"]
            refspec = [self.url, "+refs/heads/*:refs/heads/*"]
            if self.history_days is None:
                git.run(*fetch, *refspec)
                return
            try:
                git.run(*fetch, f"--shallow-since={self.window_start().isoformat()}", *refspec)
            except GitCommandError as exc:
                if "no commits selected" not in exc.stderr:
                    raise
                git.run(*fetch, "--depth=1", *refspec)  # nothing new in the window: keep the tip alone
        except GitCommandError as exc:
            raise StatusRepoError(f"cannot fetch the status repository {self.remote}: {exc.stderr.strip()}") from None

    def window_start(self) -> datetime:
        """The oldest commit time the window keeps (only with ``history_days``)."""
        assert self.history_days is not None
        return (datetime.now(UTC) - timedelta(days=self.history_days)).replace(microsecond=0)
