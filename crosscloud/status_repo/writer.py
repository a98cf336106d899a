"""Commits result records into a status repository, safely while any number of writers do the same.

A write first tries the plain way: fetch the tip, check the records against the tip's
``cross-cloud.yml``, decide per record (new; identical: nothing to do; older than what is stored:
superseded), commit them in one commit on the tip, push. Uncontended, that is one push.

When that push is rejected (another writer got there first), the writer does not just retry the same
race, which collapses when hundreds of jobs finish together: it *combines*. It publishes its records as
a small root commit on a ref of its own, ``refs/crosscloud/pending/<id>`` (creating a new ref never
conflicts), then loops: fetch the branch and every pending ref; if its records are on the branch, it is
done; otherwise it commits every pending proposal it can see onto the tip (newest result per cell) and
pushes that, together with deleting the proposals it consumed, in one atomic push. One successful push
lands the results of many writers, so each round makes progress for everybody. Rejected rounds back off
with full jitter. Writers share no lock; a writer that dies after proposing still has its results landed
by the next one."""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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

PENDING = "refs/crosscloud/pending/"
COMBINE_BASE_CAP = 1.0
"""Seconds: the most the first combining delay grows with a slow attempt. Larger waits only idle the
machine (measured: with the uncapped base, 256 writers waited 209 s against a 61 s serial floor)."""
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
    round_trips: int = 0
    """Fetches, pushes and ls-remotes this write made against the remote (uncontended: 2)."""


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
        self.round_trips = 0
        """Round trips to the remote over every call of this writer, the failed ones included."""

    def config(self) -> Config:
        """The configuration at the remote's tip (to fill in defaults before records are made)."""
        with tempfile.TemporaryDirectory(prefix="crosscloud-read-") as scratch:
            git = Git(Path(scratch), remote=self.remote)
            git.run("init", "--quiet", "--bare")
            try:
                return self._config(git, self._fetch(git))
            finally:
                self.round_trips += git.round_trips

    def write(self, records: Sequence[Record]) -> WriteResult:
        """Commit ``records`` (already validated ``Record`` objects); see the module doc."""
        if not records:
            raise BadInputError("no records to write")
        batch = _newest_per_cell(records)
        with tempfile.TemporaryDirectory(prefix="crosscloud-write-") as scratch:
            git = Git(Path(scratch), remote=self.remote)
            git.run("init", "--quiet", "--bare")
            try:
                began = time.monotonic()
                result = self._direct(git, batch)
                if not result.attempts:
                    # The race is as wide as an attempt is long: on a busy machine, wait proportionally longer.
                    result = self._combined(git, result, round_trip=time.monotonic() - began)
                result.round_trips = git.round_trips
                return result
            finally:
                self.round_trips += git.round_trips

    def _direct(self, git: Git, batch: Sequence[Record]) -> WriteResult:
        """One plain attempt; ``attempts`` stays 0 when it lost the race (the caller then combines)."""
        try:
            tip = self._fetch(git)
            result = self._prepare(git, tip, batch)
            if result.commit is None:
                result.attempts = 1
                return result
            if self._push(git, [f"{result.commit}:refs/heads/{layout.BRANCH}"]) is None:
                result.attempts = 1
                return result
        except GitCommandError as exc:
            if not is_transient(exc.stderr):
                raise
            result = self._prepare(git, self._fetch(git), batch)
        return result

    def _combined(self, git: Git, result: WriteResult, *, round_trip: float = 0.0) -> WriteResult:
        """Propose ``result.written`` on a pending ref, then combine rounds until it is on the branch.

        Backoff delays start from ``round_trip`` (how long the lost direct attempt took) rather than a
        fixed base: the first writer to wake combines every proposal it sees, and the others, waking
        later, find their records landed and push nothing."""
        mine = result.written
        proposal = self._propose(git, mine)
        backoff = replace(self.backoff, base=min(max(self.backoff.base, round_trip), COMBINE_BASE_CAP))
        # Let the proposals of writers that finished at the same moment arrive: one round then lands them all.
        self._sleep(backoff.delay(0, self._rng))
        last_problem = ""
        for attempt in range(2, self.backoff.attempts + 1):
            commit = None
            try:
                tip, pending = self._fetch_all(git)
                if self._settle(git, tip, result):
                    result.commit, result.attempts = tip, attempt
                    if proposal in pending:  # landed by a combiner that had not seen it: tidy up
                        self._push(git, [f":{proposal}"])
                    return result
                if proposal not in pending:
                    proposal = self._propose(git, mine)
                    pending = self._fetch_all(git)[1]
                commit, consumed = self._combine(git, tip, pending)
                refspecs = ([f"{commit}:refs/heads/{layout.BRANCH}"] if commit else []) + [f":{r}" for r in consumed]
                problem = self._push(git, refspecs, atomic=True) if refspecs else "nothing to combine"
            except GitCommandError as exc:
                if not is_transient(exc.stderr):
                    raise
                problem = f"transient git failure: {exc}"
            if problem is None and commit is not None and self._settle(git, commit, result):
                result.commit, result.attempts = commit, attempt
                log.info("combined %d proposal(s) into %s after %d attempt(s)", len(consumed), commit, attempt)
                return result
            last_problem = problem or "combined without this writer's records"
            if attempt < self.backoff.attempts:
                delay = backoff.delay(attempt - 1, self._rng)
                log.info("attempt %d: %s; retrying in %.2f s", attempt, last_problem, delay)
                self._sleep(delay)
        raise PushGaveUpError(
            f"gave up writing to {self.remote} after {self.backoff.attempts} attempts; last: {last_problem} "
            f"(the records stay proposed on {proposal} for the next writer to land)"
        )

    def _propose(self, git: Git, records: Sequence[Record]) -> str:
        """Publish ``records`` as a root commit on a new pending ref of this writer's own.

        The commit names its proposal id, so that no two proposals are ever the same commit: the same
        records proposed again within one second would otherwise repeat the commit id of the earlier
        proposal, which this writer's own ``--depth=1`` fetch of the pending refs has marked shallow, and
        the remote refuses a push of a shallow commit ("shallow update not allowed")."""
        proposal_id = uuid.uuid4().hex
        ref = f"{PENDING}{proposal_id}"
        files = {layout.cell_path(r.key): r.to_json().encode() for r in records}
        message = layout.commit_message(records).rstrip("\n") + f"\nCross-Cloud-Proposal: {proposal_id}\n"
        commit = git.commit_files("refs/crosscloud/proposal", files, message=message,
                                  identity=self.author, when=int(self._clock()))  # fmt: skip
        for attempt in range(self.backoff.attempts):
            problem = self._push(git, [f"{commit}:{ref}"])
            if problem is None:
                return ref
            self._sleep(self.backoff.delay(attempt, self._rng))
        raise PushGaveUpError(
            f"gave up writing to {self.remote} after {self.backoff.attempts} attempts; last: {problem}"
        )

    def _fetch_all(self, git: Git) -> tuple[str, dict[str, str]]:
        """The branch's tip and every pending proposal (ref -> commit)."""
        git.run("fetch", "--quiet", "--no-tags", "--depth=1", "--prune", self.remote.url,
                f"+refs/heads/{layout.BRANCH}:refs/heads/{layout.BRANCH}", f"+{PENDING}*:{PENDING}*")  # fmt: skip
        tip = git.text("rev-parse", f"refs/heads/{layout.BRANCH}")
        listing = git.text("for-each-ref", "--format=%(refname) %(objectname)", PENDING)
        return tip, dict(line.split(" ", 1) for line in listing.splitlines() if line)

    def _settle(self, git: Git, tip: str, result: WriteResult) -> bool:
        """True when every record of ``result.written`` is settled on ``tip``: stored as is (it stays
        written), or replaced by a result that wins over it, newer or the winner of a tie (it moves to
        ``result.superseded``). False, with ``result`` untouched, while any is still missing."""
        records = result.written
        paths = {f"{tip}:{layout.cell_path(r.key)}": r for r in records}
        stored = git.read_blobs(list(paths))
        lost: list[Record] = []
        for spec, record in paths.items():
            held = stored[spec]
            if held is None:
                return False
            if held != record.to_json().encode():
                try:
                    if Record.from_json(held, source=spec).recency() < record.recency():
                        return False
                except BadInputError:
                    return False
                lost.append(record)
        if lost:
            result.written = [r for r in records if r not in lost]
            result.superseded += lost
        return True

    def _combine(self, git: Git, tip: str, pending: dict[str, str]) -> tuple[str | None, list[str]]:
        """One commit on ``tip`` with the newest valid record per cell among all ``pending`` proposals,
        and the proposals it settles (landed now, already on the tip, superseded or invalid)."""
        listed: list[tuple[str, str, str]] = []  # (ref, path, blob)
        ref_of = {commit: ref for ref, commit in pending.items()}
        # One process for every proposal: each is a root commit, so its --root diff lists its records.
        out = git.run("log", "--no-walk=unsorted", "--root", "--raw", "--no-abbrev", "-z", "--format=%x01%H",
                      *pending.values()).stdout.decode()  # fmt: skip
        for chunk in out.split("\x01")[1:]:
            tokens = chunk.split("\0")
            commit = tokens[0].strip()
            for meta, path in zip(tokens[1::2], tokens[2::2], strict=False):
                fields = meta.strip().split(" ")
                if len(fields) >= 4 and commit in ref_of:
                    listed.append((ref_of[commit], path, fields[3]))
        contents = git.read_blobs(sorted({blob for _, _, blob in listed}))
        config = self._config(git, tip)
        candidates: dict[str, Record] = {}
        for ref, path, blob in listed:
            try:
                record = Record.from_json(contents[blob] or b"", source=f"{path} of {ref}")
                if layout.cell_path(record.key) != path:
                    raise BadInputError(f"{path} of {ref} is filed under the wrong path")
                check_names([record], config)
            except BadInputError as exc:
                log.warning("ignoring an invalid proposal: %s", exc)
                continue
            held = candidates.get(path)
            if held is None or record.recency() >= held.recency():
                candidates[path] = record
        decided = self._prepare(git, tip, list(candidates.values()), check=False)
        return decided.commit, list(pending)

    def update_config(self, text: bytes, source: str) -> WriteResult:
        """Replace ``cross-cloud.yml`` with ``text`` (checked first) in one commit; no-op when identical."""
        parse_config(text, source)

        def prepare(git: Git, tip: str) -> WriteResult:
            held = git.read_blobs([f"{tip}:{layout.CONFIG_PATH}"])[f"{tip}:{layout.CONFIG_PATH}"]
            if held == text:
                return WriteResult(commit=None)
            message = f"Update {layout.CONFIG_PATH}\n\n[skip ci]\n"
            files = {layout.CONFIG_PATH: text}
            commit = git.commit_files("refs/crosscloud/new", files, message=message, identity=self.author,
                                      when=int(self._clock()), parent=tip)  # fmt: skip
            return WriteResult(commit=commit)

        return self._commit_loop(prepare)

    def _commit_loop(self, prepare: Callable[[Git, str], WriteResult]) -> WriteResult:
        """Fetch the tip, ``prepare`` a commit on it, push; on rejection back off and do it all again."""
        with tempfile.TemporaryDirectory(prefix="crosscloud-write-") as scratch:
            git = Git(Path(scratch), remote=self.remote)
            git.run("init", "--quiet", "--bare")
            try:
                result = self._commit_attempts(git, prepare)
                result.round_trips = git.round_trips
                return result
            finally:
                self.round_trips += git.round_trips

    def _commit_attempts(self, git: Git, prepare: Callable[[Git, str], WriteResult]) -> WriteResult:
        """The attempts of ``_commit_loop`` in its scratch repository."""
        last_problem = ""
        for attempt in range(1, self.backoff.attempts + 1):
            try:
                tip = self._fetch(git)
                result = prepare(git, tip)
                if result.commit is None:
                    result.attempts = attempt
                    return result
                problem = self._push(git, [f"{result.commit}:refs/heads/{layout.BRANCH}"])
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

    def _prepare(self, git: Git, tip: str, batch: Sequence[Record], *, check: bool = True) -> WriteResult:
        """Decide every record against the tip and make the commit (not yet pushed)."""
        if check:
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

    def _push(self, git: Git, refspecs: Sequence[str], *, atomic: bool = False) -> str | None:
        """Push ``refspecs``. None on success, the reason when another writer was first (or a hook
        refused): those are retried. Anything else is raised."""
        args = ["push", "--porcelain", "--quiet", *(["--atomic"] if atomic else []), self.remote.url, *refspecs]
        proc = git.run(*args, check=False)
        if proc.returncode == 0:
            return None
        out = git.redact(proc.stdout.decode(errors="replace"))
        err = git.redact(proc.stderr.decode(errors="replace"))
        rejected = [line for line in out.splitlines() if line.startswith("!")]
        if rejected:
            return "push rejected: " + rejected[0].split("\t")[-1]
        if is_transient(err) or "atomic push failed" in err:
            return f"push failed: {err.strip().splitlines()[-1] if err.strip() else 'no output'}"
        raise GitCommandError(["push", str(self.remote)], proc.returncode, err)
