"""Commits result records into a status repository, safely while any number of writers do the same.

Each write is: fetch the tip, check the records against the tip's ``cross-cloud.yml``, decide per record
(new, identical: nothing to do, or older than what is stored: superseded), commit all of them in one
commit on top of the tip, push. A push rejected because another writer got there first is answered by
fetching the new tip and re-applying the same records on it, after a full-jitter exponential backoff.
Writers share no lock: each touches only its own cells, so re-applying is always correct."""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crosscloud import layout
from crosscloud.config import Config, parse_config
from crosscloud.errors import (
    BadInputError,
    GitCommandError,
    PushGaveUpError,
    StatusRepoError,
    UnknownNameError,
)
from crosscloud.records import Record
from crosscloud.status_repo.git import Git, Remote, is_transient

log = logging.getLogger(__name__)

DEFAULT_NAME = "Cross-Cloud CI"
DEFAULT_EMAIL = "cross-cloud-ci@users.noreply.github.com"


@dataclass
class WriteResult:
    commit: str | None
    """The commit that landed, or None when there was nothing to write."""
    written: list[Record] = field(default_factory=list)
    unchanged: list[Record] = field(default_factory=list)
    """Identical to what is stored: writing them again is a no-op."""
    superseded: list[Record] = field(default_factory=list)
    """Older than what is stored (a late arrival): the newer result stays."""
    attempts: int = 0


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: attempt n sleeps uniformly in [0, min(cap, base * 2**n))."""

    attempts: int = 20
    base: float = 0.1
    cap: float = 15.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return float(rng() * min(self.cap, self.base * 2.0**attempt))


def check_names(records: Sequence[Record], config: Config) -> None:
    """Every project, cloud and arch of ``records`` must be in the status repository's configuration."""
    for record in records:
        project = config.project(record.project)
        if record.data["arch"] not in project.arch:
            raise UnknownNameError("arch", record.data["arch"], project.arch, where=f"project {project.name}")
        cloud_name = record.data.get("cloud")
        if cloud_name is not None:
            cloud = config.cloud(cloud_name)
            k8s = record.data.get("kubernetes")
            if not cloud.kubernetes and k8s:
                raise BadInputError(
                    f"{record.key}: cloud {cloud.name} runs projects on the host, "
                    "so the record's kubernetes must be null"
                )
            if cloud.kubernetes and not k8s:
                raise BadInputError(
                    f"{record.key}: cloud {cloud.name} runs Kubernetes, so the record needs kubernetes.release "
                    "(stable or head)"
                )


def _newest_per_cell(records: Sequence[Record]) -> list[Record]:
    """Two records of one cell in one batch: the more recent wins (the later one on a tie)."""
    chosen: dict[object, Record] = {}
    for record in records:
        held = chosen.get(record.key)
        if held is None or record.recency() >= held.recency():
            chosen[record.key] = record
    return list(chosen.values())


class StatusRepoWriter:
    def __init__(
        self,
        remote: Remote,
        *,
        backoff: Backoff | None = None,
        author: tuple[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ):
        self.remote = remote
        self.backoff = backoff or Backoff()
        self.author = author or (
            os.environ.get("CROSSCLOUD_GIT_NAME", DEFAULT_NAME),
            os.environ.get("CROSSCLOUD_GIT_EMAIL", DEFAULT_EMAIL),
        )
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._config_cache: tuple[str, Config] | None = None

    def config(self) -> Config:
        """The configuration at the remote's tip (to fill in defaults before records are made)."""
        with tempfile.TemporaryDirectory(prefix="crosscloud-read-") as scratch:
            git = Git(Path(scratch), remote=self.remote)
            git.run("init", "--quiet", "--bare")
            return self._config(git, self._fetch(git))

    def write(self, records: Sequence[Record]) -> WriteResult:
        """Commit ``records`` (already validated ``Record`` objects) in one commit; see the module doc."""
        if not records:
            raise BadInputError("no records to write")
        batch = _newest_per_cell(records)
        with tempfile.TemporaryDirectory(prefix="crosscloud-write-") as scratch:
            git = Git(Path(scratch), remote=self.remote)
            git.run("init", "--quiet", "--bare")
            last_problem = ""
            for attempt in range(1, self.backoff.attempts + 1):
                try:
                    tip = self._fetch(git)
                    result = self._prepare(git, tip, batch)
                    if result.commit is None:
                        result.attempts = attempt
                        return result
                    problem = self._push(git, result.commit)
                except GitCommandError as exc:
                    if not is_transient(exc.stderr):
                        raise
                    problem = f"transient git failure: {exc}"
                if problem is None:
                    result.attempts = attempt
                    log.info("pushed %s after %d attempt(s)", result.commit, attempt)
                    return result
                last_problem = problem
                if attempt < self.backoff.attempts:
                    delay = self.backoff.delay(attempt - 1, self._rng)
                    log.info("attempt %d: %s; retrying in %.2f s", attempt, problem, delay)
                    self._sleep(delay)
            raise PushGaveUpError(
                f"gave up writing to {self.remote} after {self.backoff.attempts} attempts; last: {last_problem}"
            )

    def _fetch(self, git: Git) -> str:
        refspec = f"+refs/heads/{layout.BRANCH}:refs/heads/{layout.BRANCH}"
        try:
            git.run("fetch", "--quiet", "--no-tags", "--depth=1", self.remote.url, refspec)
        except GitCommandError as exc:
            if "couldn't find remote ref" in exc.stderr:
                raise StatusRepoError(
                    f"{self.remote} has no branch {layout.BRANCH}: create it with 'crosscloud init'"
                ) from None
            if is_transient(exc.stderr):
                raise
            raise StatusRepoError(f"cannot read the status repository {self.remote}: {exc.stderr.strip()}") from None
        return git.text("rev-parse", f"refs/heads/{layout.BRANCH}")

    def _config(self, git: Git, tip: str) -> Config:
        blob = git.run("rev-parse", f"{tip}:{layout.CONFIG_PATH}", check=False)
        if blob.returncode != 0:
            raise StatusRepoError(f"{self.remote} has no {layout.CONFIG_PATH} at its root")
        blob_id = blob.stdout.decode().strip()
        if self._config_cache is None or self._config_cache[0] != blob_id:
            text = git.run("cat-file", "blob", blob_id).stdout
            self._config_cache = (blob_id, parse_config(text, f"{layout.CONFIG_PATH} of {self.remote}"))
        return self._config_cache[1]

    def _prepare(self, git: Git, tip: str, batch: Sequence[Record]) -> WriteResult:
        """Decide every record against the tip and make the commit (not yet pushed)."""
        check_names(batch, self._config(git, tip))
        paths = [layout.cell_path(r.key) for r in batch]
        stored = git.read_blobs([f"{tip}:{p}" for p in paths])
        result = WriteResult(commit=None)
        for record, path in zip(batch, paths, strict=True):
            held = stored[f"{tip}:{path}"]
            if held is None:
                result.written.append(record)
                continue
            text = record.to_json().encode()
            if held == text:
                result.unchanged.append(record)
                continue
            try:
                older = Record.from_json(held, source=path).recency() > record.recency()
            except BadInputError:
                older = False  # a broken stored file is repaired by any valid record
            (result.superseded if older else result.written).append(record)
        if result.written:
            result.commit = self._commit(git, tip, result.written)
        return result

    def _commit(self, git: Git, parent: str, records: Sequence[Record]) -> str:
        files = {layout.cell_path(r.key): r.to_json().encode() for r in records}
        message = layout.commit_message(records)
        return git.commit_files(
            "refs/crosscloud/new",
            files,
            message=message,
            identity=self.author,
            when=int(self._clock()),
            parent=parent,
        )

    def _push(self, git: Git, commit: str) -> str | None:
        """Push ``commit`` as the new tip. None on success, the reason when another writer was first
        (or a hook refused): those are retried. Anything else is raised."""
        proc = git.run(
            "push",
            "--porcelain",
            "--quiet",
            self.remote.url,
            f"{commit}:refs/heads/{layout.BRANCH}",
            check=False,
        )
        if proc.returncode == 0:
            return None
        out = git.redact(proc.stdout.decode(errors="replace"))
        err = git.redact(proc.stderr.decode(errors="replace"))
        rejected = [line for line in out.splitlines() if line.startswith("!")]
        if rejected:
            return "push rejected: " + rejected[0].split("\t")[-1]
        if is_transient(err):
            return f"push failed: {err.strip().splitlines()[-1] if err.strip() else 'no output'}"
        raise GitCommandError(["push", str(self.remote)], proc.returncode, err)
