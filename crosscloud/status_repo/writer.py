"""Commits result records into a status repository, safely while any number of writers do the same.

A write first looks: one fetch of the branch's tip and of the pending proposals (below). It checks the
records against the tip's ``cross-cloud.yml`` and decides per record (new; identical: nothing to do;
older than what is stored, or the loser of a tie: superseded). When no other writer is waiting for its
proposal to land, it commits the records on the tip and pushes: uncontended, a write is one fetch and
one push.

When other writers' proposals are pending (others are already contending), or the direct push is
rejected (another writer got there first), the writer does not race again, which collapses when
hundreds of jobs finish together: it *proposes*. It publishes its records as a small root commit on a
ref of its own, ``refs/crosscloud/pending/<id>`` (creating a new ref never conflicts; see
``proposals``), and waits for a round of combining to land them. Each round one writer combines: the
one whose live proposal is the oldest. It fetches every pending proposal, commits them all onto the tip
in one commit (the winning result per cell), and pushes that together with deleting the proposals it
consumed, in one atomic push. The others only watch, with ``ls-remote`` (names and ids, no objects):
when their proposal is gone, a combiner landed it, and unless the combiner marked it not landed as
proposed (a record lost to a result that wins over it), there is nothing more to read. One push lands
the results of many writers, and watching writers cost the remote one small request per round.

Writers share no lock. The election only decides who goes first: when a round makes no progress (the
combiner died, or is slow), the next writers in line take over one after another, and a proposal whose
writer died is landed by whoever combines next."""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from crosscloud import layout
from crosscloud.config import Config, parse_config
from crosscloud.errors import (
    BadInputError,
    GitCommandError,
    PushGaveUpError,
    StatusRepoError,
    UnknownNameError,
)
from crosscloud.records import MAX_RECORD_BYTES, Record, check_not_ahead
from crosscloud.status_repo.git import Git, Remote, is_transient
from crosscloud.status_repo.proposals import (
    COMBINER,
    MARK_LIFETIME,
    NAMESPACE,
    NOT_LANDED,
    PENDING,
    RemoteRefs,
    combiner_rank,
    election_ref,
    expired_marks,
    is_live,
    may_be_awaited,
    new_proposal_id,
)

log = logging.getLogger(__name__)

SCRATCH_CONFIG = {"maintenance.auto": "false"}
"""The writer's scratch repositories live for one write: no housekeeping process after each fetch."""
PROPOSAL_MARK = "Cross-Cloud CI proposal"
"""The first line of a proposal's message; the records follow as one JSON object (cell path -> text)."""
RIDES_ON, MADE_ON = "Rides-On: ", "Made-On: "
"""Lines of a proposal that rode along on a push of a branch commit: that commit, and its parent."""
REPROPOSE = "proposal consumed without landing"
STAND_DOWN = "an older proposal's writer is elected too"
SETTLED_BEFORE = "settled by an earlier round"
DRAIN_ROUNDS = 8
"""A combiner that landed its round lands at most this many more, of proposals that came too late."""
LOOK_ATTEMPTS = 5
"""Tries of the first fetch when it fails in a way that may go away on its own."""
MIN_UNIT, MAX_UNIT = 0.05, 10.0
"""Seconds: the bounds of a writer's round-trip estimate (how long its proposal push took)."""
SETTLE_UNITS = 4.0
"""The elected combiner waits this many round trips for the proposals of writers finishing with it."""
ROUND_UNITS = 4.0
"""Combining takes about this many round trips: a watching writer looks after the round has had time."""
WAIT_GROWTH, MAX_WATCH_UNITS, MAX_WATCH = 1.5, 8.0, 5.0
"""Each further look of a watching writer whose proposal is still pending waits this much longer, up to
this many round trips and seconds (a writer learns that its records landed at most that late)."""
MIN_PATIENCE = 60.0
"""Seconds a proposing writer waits at least for its records to land (more with a longer backoff)."""
TAKEOVER_UNITS, TAKEOVER_MIN = 8.0, 1.0
"""When a round makes no progress for this many round trips (at least TAKEOVER_MIN seconds), the next
writer in line combines it."""
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


@dataclass
class Proposals:
    """What pending proposals hold (``StatusRepoWriter._read_proposals``)."""

    entries: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(proposal, cell path, record text)"""
    rides: dict[str, tuple[str, str]] = field(default_factory=dict)
    """proposal -> (the branch commit it rode along with, the tip that commit was made on)"""


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
        if record.arch not in project.arch:
            raise UnknownNameError("arch", record.arch, project.arch, where=f"project {project.name}")
        cloud_name = record.cloud
        if cloud_name is not None:
            cloud = config.cloud(cloud_name)
            k8s = record.kubernetes_release
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


def _stored(text: bytes, source: str) -> Record:
    """A record read back from the repository (a stored cell, a proposal). One dated ahead of the clock is
    treated as broken (``RecordError``): it must never win over a genuine result."""
    record = Record.from_json(text, source=source)
    check_not_ahead(record, datetime.now(UTC), source)
    return record


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
        return self.config_file()[1]

    def config_file(self) -> tuple[bytes, Config]:
        """The configuration at the remote's tip: the file as stored, and parsed (``crosscloud plan`` hands
        the very file to every job of a night)."""
        with tempfile.TemporaryDirectory(prefix="crosscloud-read-") as scratch:
            git = Git(Path(scratch), remote=self.remote, config=SCRATCH_CONFIG)
            git.run("init", "--quiet", "--bare")
            try:
                tip = self._fetch(git)
                config = self._config(git, tip)
                return git.run("cat-file", "blob", f"{tip}:{layout.CONFIG_PATH}").stdout, config
            finally:
                self.round_trips += git.round_trips

    def write(self, records: Sequence[Record]) -> WriteResult:
        """Commit ``records`` (already validated ``Record`` objects); see the module doc. A record dated
        ahead of this machine's clock (``records.CLOCK_AHEAD``) is refused: ``RecordError`` naming it."""
        if not records:
            raise BadInputError("no records to write")
        now = datetime.now(UTC)
        for record in records:
            check_not_ahead(record, now, source=record.summary())
        batch = _newest_per_cell(records)
        with tempfile.TemporaryDirectory(prefix="crosscloud-write-") as scratch:
            git = Git(Path(scratch), remote=self.remote, config=SCRATCH_CONFIG)
            git.run("init", "--quiet", "--bare")
            try:
                result = self._write(git, batch)
                result.round_trips = git.round_trips
                return result
            finally:
                self.round_trips += git.round_trips

    def _write(self, git: Git, batch: Sequence[Record]) -> WriteResult:
        """Look, push the records to the branch with their proposal riding along (or, when others are
        already waiting for a round, only the proposal), and await a round when the branch moved first."""
        tip, refs = self._look(git)
        result = self._prepare(git, tip, batch)
        result.attempts = 1
        if result.commit is None:
            return result
        now = self._clock()
        listed = self._read_proposals(git, refs.pending)
        landed = self._landed_as_proposed(git, tip, listed.entries, refs.pending)
        done = self._completed_rides(git, tip, listed.rides) - landed
        waiting = [p for p in refs.pending if p not in landed | done]
        contended = any(is_live(p, now) for p in waiting)
        log.debug("looked: tip %s, %d pending (%d landed), contended: %s", tip[:12], len(refs.pending),
                  len(landed), contended)  # fmt: skip
        # What writers before left behind: proposals already on the branch (or that were, before a
        # commit made by hand changed their cells), void or past elections.
        garbage = [f":{PENDING}{p}" for p in sorted(landed | done)]
        garbage += [f"{refs.pending[p]}:{NOT_LANDED}{p}" for p in sorted(done) if may_be_awaited(p, now)]
        garbage += [f":{COMBINER}{k}" for k, v in refs.combiners.items() if v == tip or not contended]
        if waiting and not contended:  # only proposals of writers that are gone: land them with ours
            if self._land_with_leftovers(git, tip, {p: refs.pending[p] for p in waiting}, result, garbage):
                return result
            return self._await(git, result, *self._propose(git, result.written))
        # The proposal rides along on the branch update (uncontended), or goes alone (others wait already).
        rides_on = None if contended else (result.commit, tip)
        proposal, commit = self._proposal_commit(git, result.written, rides_on=rides_on)
        refspecs = [f"{commit}:{PENDING}{proposal}", *garbage]
        if not contended:
            refspecs.insert(0, f"{result.commit}:refs/heads/{layout.BRANCH}")
        election = election_ref(tip, proposal)
        if not refs.elections() and election.removeprefix(COMBINER) not in refs.combiners:
            refspecs.append(f"{commit if contended else result.commit}:{election}")
        statuses = self._push_statuses(git, refspecs)
        branch = statuses.get(f"refs/heads/{layout.BRANCH}")
        if not contended and branch is None and self._settle(git, result.commit, result):
            return result  # the proposal that rode along is already landed: the next writer deletes it
        if statuses.get(f"{PENDING}{proposal}", "no answer") is not None:
            log.info("push: %s; proposing again", branch or statuses.get(f"{PENDING}{proposal}"))
            return self._await(git, result, *self._propose(git, result.written))
        return self._await(git, result, proposal, statuses.get(election, "") is None)

    def _look(self, git: Git) -> tuple[str, RemoteRefs]:
        """The branch's tip and the coordination refs, retrying a transient failure a few times."""
        for attempt in range(LOOK_ATTEMPTS):
            try:
                return self._fetch_all(git)
            except GitCommandError as exc:
                if not is_transient(exc.stderr) or attempt == LOOK_ATTEMPTS - 1:
                    raise
                self._sleep(self.backoff.delay(attempt, self._rng))
        raise AssertionError("unreachable")

    def _land_with_leftovers(
        self, git: Git, tip: str, leftovers: dict[str, str], result: WriteResult, garbage: list[str]
    ) -> bool:
        """Land the records together with the proposals writers that are gone left pending, in one atomic
        push (their deletion must not happen without their landing). False when the branch moved first."""
        commit, refspecs = self._combine(git, tip, leftovers, own=result.written)
        if commit is None:  # cannot happen: result.written is not empty and was decided against tip
            return False
        refspecs += [spec for spec in garbage if spec not in refspecs]
        problem = self._push(git, [f"{commit}:refs/heads/{layout.BRANCH}", *refspecs], atomic=True)
        if problem is not None:
            log.info("push: %s; proposing", problem)
            return False
        return self._settle(git, commit, result)

    def _await(self, git: Git, result: WriteResult, proposal: str, elected: bool) -> WriteResult:
        """Wait until a round of combining lands the proposal: combine it when elected (or when this
        writer's proposal is the oldest and nobody is, or the round stalls), else watch (``proposals``)."""
        mine = list(result.written)
        # One round trip as this writer sees it now (the remote's latency plus this machine's load), from
        # the look and the push it just made: the waits below are counted in these.
        unit = min(max(git.elapsed_remote / max(git.round_trips, 1), MIN_UNIT), MAX_UNIT)
        settle, one_round = SETTLE_UNITS * unit, min((SETTLE_UNITS + ROUND_UNITS) * unit, 2 * MAX_WATCH)
        takeover = max(TAKEOVER_MIN, TAKEOVER_UNITS * unit)
        patience = min(max(self.backoff.cap * self.backoff.attempts, MIN_PATIENCE), MARK_LIFETIME / 2)
        deadline = time.monotonic() + patience
        log.debug("proposed %s, elected: %s (round trip %.3f s)", proposal, elected, unit)
        # The elected combiner lets the proposals of writers finishing with it arrive; a watcher looks
        # once that round has had time to land.
        wait, combine = (settle, True) if elected else (one_round, False)
        progress: tuple[object, float] = (None, time.monotonic())
        combines, last_problem, watch = 0, "no round landed it", 0.0
        while time.monotonic() < deadline:
            self._sleep(wait if combine else wait * (0.75 + 0.5 * self._rng()))
            if combine:
                combines += 1
                problem = self._combine_round(git, proposal, result, elected=elected)
                log.debug("combining round %d: %s", combines, problem or "landed")
                if problem in (None, SETTLED_BEFORE):
                    if problem is None:
                        self._drain(git, unit)
                    result.attempts += combines
                    return result
                if problem == STAND_DOWN:
                    elected, combine, wait = False, False, one_round
                    continue
                if problem == REPROPOSE:
                    proposal, elected = self._propose(git, mine)
                    wait, combine = (settle, True) if elected else (one_round, False)
                    continue
                last_problem = problem
                if combines >= self.backoff.attempts:
                    break
                # Another combiner may have been first, and landed these records too: the elected one
                # finds out by combining again (its fetch shows it), the others by watching.
                wait, combine = self.backoff.delay(combines, self._rng) + unit, elected
                continue
            try:
                refs = self._list(git)
            except GitCommandError as exc:
                if not is_transient(exc.stderr):
                    raise
                last_problem, wait = f"transient git failure: {exc}", ROUND_UNITS * unit
                continue
            if proposal not in refs.pending:
                if proposal not in refs.not_landed:  # landed as proposed
                    log.debug("landed as proposed")
                    result.commit = refs.tip
                    result.attempts += combines
                    return result
                if self._read_outcome(git, proposal, self._fetch(git), result, delete_mark=True):
                    result.attempts += combines
                    return result
                proposal, elected = self._propose(git, mine)
                wait, combine = (settle, True) if elected else (one_round, False)
                continue
            now = self._clock()
            key = (sorted(refs.combiners.items()), refs.waiting(now)[:1], refs.tip)
            if key != progress[0]:
                progress = (key, time.monotonic())
            stalled = time.monotonic() - progress[1]
            rank = combiner_rank(refs.waiting(now), proposal)
            elections = refs.elections()
            log.debug("watching: %d pending, rank %d, elections %d, stalled %.1f s", len(refs.pending), rank,
                      len(elections), stalled)  # fmt: skip
            if elected or (rank == 0 and not elections) or stalled >= (rank + 1) * takeover:
                wait, combine = 0.0, True
            elif elections:
                # A round is on, and takes longer than it seemed (a busy remote): look less often, but
                # not so seldom that this writer learns late that its records landed.
                watch = min(max(watch * WAIT_GROWTH, ROUND_UNITS * unit), MAX_WATCH_UNITS * unit, MAX_WATCH)
                wait = watch
            else:  # the writer of the oldest proposal combines now: a round of its own
                wait = min(ROUND_UNITS * unit, self.backoff.cap)
        raise PushGaveUpError(
            f"gave up writing to {self.remote} after {result.attempts + combines} attempts; last: {last_problem} "
            f"(the records stay proposed on {PENDING}{proposal} for the next writer to land)"
        )

    def _drain(self, git: Git, unit: float) -> None:
        """After landing a round as its combiner: land the proposals that came too late for it, whose
        writers would otherwise wait for the oldest of them to look again, until none is left or another
        writer is elected. This writer's records are settled already: a failure here only stops it."""
        try:
            for _ in range(DRAIN_ROUNDS):
                self._sleep(unit)
                refs = self._list(git)
                if not refs.waiting(self._clock()) or refs.elections():
                    return
                tip, fetched = self._fetch_all(git)
                commit, refspecs = self._combine(git, tip, fetched.pending)
                refspecs += [f":{NOT_LANDED}{m}" for m in expired_marks(fetched.not_landed, self._clock())]
                refspecs += [f":{COMBINER}{t}" for t in fetched.combiners]
                branch = [f"{commit}:refs/heads/{layout.BRANCH}"] if commit else []
                if self._push(git, branch + refspecs, atomic=True) is not None:
                    return  # another writer moved the branch: it or the writers waiting go on
                log.info("combined %d late proposal(s) into %s", len(fetched.pending), commit or tip)
        except (GitCommandError, StatusRepoError) as exc:
            log.info("stopped landing late proposals: %s", exc)

    def _read_outcome(self, git: Git, proposal: str, tip: str, result: WriteResult, *, delete_mark: bool) -> bool:
        """This writer's proposal is consumed, and marked not landed as proposed: tell from ``tip`` which
        records were superseded, and delete the mark. False when a record is still missing (it no longer
        fits the configuration, which then raises here, or it was lost): the caller proposes again."""
        if delete_mark:  # the mark expires anyway: a refusal is harmless
            self._push(git, [f":{NOT_LANDED}{proposal}"])
        if self._settle(git, tip, result):
            result.commit = tip
            return True
        check_names(result.written, self._config(git, tip))
        log.warning("proposal %s was consumed without landing; proposing again", proposal)
        return False

    def _combine_round(self, git: Git, proposal: str, result: WriteResult, *, elected: bool) -> str | None:
        """Land every pending proposal in one commit. None when this round landed this writer's records,
        ``SETTLED_BEFORE`` when an earlier one did, ``REPROPOSE`` when they were dropped, ``STAND_DOWN``
        when this elected writer sees another elected before it, else why not yet."""
        try:
            tip, refs = self._fetch_all(git)
            if proposal not in refs.pending:  # an earlier round consumed it
                if proposal not in refs.not_landed:
                    result.commit = tip
                    return SETTLED_BEFORE
                read = self._read_outcome(git, proposal, tip, result, delete_mark=True)
                return SETTLED_BEFORE if read else REPROPOSE
            # Writers that saw different tips may each have won an election: the oldest combines.
            if elected and any(p < proposal for p in refs.elected_proposals(self._clock())):
                return STAND_DOWN
            commit, refspecs = self._combine(git, tip, refs.pending, exclude_mark=proposal)
            refspecs += [f":{NOT_LANDED}{m}" for m in expired_marks(refs.not_landed, self._clock())]
            refspecs += [f":{COMBINER}{t}" for t in refs.combiners]
            branch = [f"{commit}:refs/heads/{layout.BRANCH}"] if commit else []
            problem = self._push(git, branch + refspecs, atomic=True)
        except GitCommandError as exc:
            if not is_transient(exc.stderr):
                raise
            return f"transient git failure: {exc}"
        if problem is not None:
            return problem
        landed = commit or tip
        if not self._settle(git, landed, result):
            return REPROPOSE  # cannot happen: this writer's own proposal was among those combined
        result.commit = landed
        log.info("combined %d proposal(s) into %s", len(refs.pending), landed)
        return None

    def _proposal_commit(
        self, git: Git, records: Sequence[Record], *, rides_on: tuple[str, str] | None = None
    ) -> tuple[str, str]:
        """A new proposal of ``records``: its id, and its root commit (made locally, not yet pushed). The
        records travel in the commit's message, with the empty tree: one object per proposal for every
        writer that fetches it, not one per directory. A proposal that ``rides_on`` a push of a branch
        commit (the commit, and the tip it was made on) names both (``_completed_rides``).

        The commit names its proposal id, so that no two proposals are ever the same commit: the same
        records proposed again within one second would otherwise repeat the commit id of the earlier
        proposal, which this writer's own ``--depth=1`` fetch of the pending refs has marked shallow, and
        the remote refuses a push of a shallow commit ("shallow update not allowed")."""
        proposal = new_proposal_id(self._clock(), rides_on[0] if rides_on else None)
        payload = json.dumps({layout.cell_path(r.key): r.to_json() for r in records}, ensure_ascii=False)
        ride = f"\n{RIDES_ON}{rides_on[0]}\n{MADE_ON}{rides_on[1]}" if rides_on else ""
        message = f"{PROPOSAL_MARK} {proposal}{ride}\n\n{payload}\n"
        commit = git.commit_files("refs/crosscloud/proposal", {}, message=message,
                                  identity=self.author, when=int(self._clock()))  # fmt: skip
        return proposal, commit

    def _propose(self, git: Git, records: Sequence[Record]) -> tuple[str, bool]:
        """Publish a new proposal of ``records`` on its own pending ref (retried while refused), running
        for election; its id, and whether this writer was elected."""
        problem: str | None = "no attempt"
        # Run for the round on the last tip this writer saw: when a writer already runs it, this push
        # only fails to create that ref.
        tip = git.text("rev-parse", f"refs/heads/{layout.BRANCH}")
        for attempt in range(self.backoff.attempts):
            proposal, commit = self._proposal_commit(git, records)
            run_for = election_ref(tip, proposal)
            refspecs = [f"{commit}:{PENDING}{proposal}", f"{commit}:{run_for}"]
            statuses = self._push_statuses(git, refspecs)
            problem = statuses.get(f"{PENDING}{proposal}", "no answer for the proposal")
            if problem is None:
                return proposal, statuses.get(run_for, "") is None
            self._sleep(self.backoff.delay(attempt, self._rng))
        raise PushGaveUpError(
            f"gave up writing to {self.remote} after {self.backoff.attempts} attempts; last: {problem}"
        )

    def _fetch_all(self, git: Git) -> tuple[str, RemoteRefs]:
        """The branch's tip and every coordination ref (with the proposals' commits), in one fetch."""
        try:
            branch = f"refs/heads/{layout.BRANCH}"
            git.run("fetch", "--quiet", "--no-tags", "--depth=1", "--prune", self.remote.url,
                    f"+{branch}:{branch}", f"+{NAMESPACE}*:{NAMESPACE}*")  # fmt: skip
        except GitCommandError as exc:
            self._explain_fetch_failure(exc)
        listing = git.text("for-each-ref", "--format=%(objectname) %(refname)", f"refs/heads/{layout.BRANCH}",
                           NAMESPACE)  # fmt: skip
        refs = RemoteRefs.parse(listing)
        if refs.tip is None:
            raise StatusRepoError(f"{self.remote} has no branch {layout.BRANCH}: create it with 'crosscloud init'")
        return refs.tip, refs

    def _list(self, git: Git) -> RemoteRefs:
        """The branch's tip and the coordination refs: names and ids only, no objects."""
        return RemoteRefs.parse(git.text("ls-remote", self.remote.url, f"refs/heads/{layout.BRANCH}", f"{NAMESPACE}*"))

    def _settle(self, git: Git, tip: str, result: WriteResult) -> bool:
        """True when every record of ``result.written`` is settled on ``tip``: stored as is (it stays
        written), or replaced by a result that wins over it, newer or the winner of a tie (it moves to
        ``result.superseded``). False, with ``result`` untouched, while any is still missing."""
        records = result.written
        paths = {layout.cell_path(r.key): r for r in records}
        stored = git.read_paths(tip, list(paths), MAX_RECORD_BYTES)  # a huge stored file is never read
        lost: list[Record] = []
        for spec, record in paths.items():
            held = stored[spec]
            if held is None:
                return False
            if held != record.to_json().encode():
                try:
                    if _stored(held, spec).recency() < record.recency():
                        return False
                except BadInputError:
                    return False
                lost.append(record)
        if lost:
            result.written = [r for r in records if r not in lost]
            result.superseded += lost
        return True

    def _combine(
        self,
        git: Git,
        tip: str,
        pending: dict[str, str],
        *,
        own: Sequence[Record] = (),
        exclude_mark: str | None = None,
    ) -> tuple[str | None, list[str]]:
        """One commit on ``tip`` (None: nothing changes) with the winning record per cell among the
        ``pending`` proposals and ``own`` records (already checked), and the refspecs that settle the
        proposals: each is deleted, and one whose records did not all land as proposed, and whose writer
        may still be waiting (``may_be_awaited``, and not ``exclude_mark``), gets a not-landed mark.

        A proposal ``tip`` already holds as proposed (it rode along on its writer's successful push, or
        an identical result landed) is settled as written, whatever this commit does to its cells."""
        read = self._read_proposals(git, pending)
        already = self._landed_as_proposed(git, tip, read.entries, pending)
        done = self._completed_rides(git, tip, read.rides) - already  # rode on an accepted push: not again
        listed = [entry for entry in read.entries if entry[0] not in already | done]
        config = self._config(git, tip)
        candidates: dict[str, Record] = {layout.cell_path(r.key): r for r in own}
        for proposal, path, text in listed:
            try:
                record = _stored(text, f"{path} of proposal {proposal}")
                if layout.cell_path(record.key) != path:
                    raise BadInputError(f"{path} of proposal {proposal} is filed under the wrong path")
                check_names([record], config)
            except BadInputError as exc:
                log.warning("ignoring an invalid proposal: %s", exc)
                continue
            held = candidates.get(path)
            if held is None or record.recency() > held.recency():
                candidates[path] = record
        decided = self._prepare(git, tip, list(candidates.values()), check=False)
        landed = already | self._landed_as_proposed(git, decided.commit or tip, listed, pending)
        now = self._clock()
        refspecs = [f":{PENDING}{p}" for p in pending]
        refspecs += [
            f"{pending[p]}:{NOT_LANDED}{p}"
            for p in sorted(pending)
            if p not in landed and p != exclude_mark and may_be_awaited(p, now)
        ]
        return decided.commit, refspecs

    def _read_proposals(self, git: Git, pending: dict[str, str]) -> Proposals:
        """What each pending proposal (fetched) holds: (proposal, cell path, record text), and for the ones
        that rode along on a branch push, (branch commit, tip it was made on). A proposal carries its
        records in its message (``_proposal_commit``); one made by an earlier version of the writer
        carries them as files, its ``--root`` diff lists them."""
        if not pending:
            return Proposals()
        entries: list[tuple[str, str, bytes]] = []
        rides: dict[str, tuple[str, str]] = {}
        as_files: dict[str, str] = {}
        objects = git.read_objects(sorted(set(pending.values())))
        for proposal, commit in pending.items():
            found = objects[commit]
            body = found[1].partition(b"\n\n")[2] if found and found[0] == "commit" else b""
            marker, _, payload = body.partition(b"\n\n")
            if not marker.startswith(PROPOSAL_MARK.encode()):
                as_files[proposal] = commit
                continue
            lines = [line.partition(": ") for line in marker.decode(errors="replace").splitlines()[1:]]
            said = {name + sep: value for name, sep, value in lines}
            if said.get(RIDES_ON) and said.get(MADE_ON):
                rides[proposal] = (said[RIDES_ON], said[MADE_ON])
            try:
                records = json.loads(payload)
                if not isinstance(records, dict) or not all(isinstance(v, str) for v in records.values()):
                    raise ValueError("not an object of texts")
            except ValueError as exc:
                log.warning("ignoring an invalid proposal %s: %s", proposal, exc)
                continue
            entries += [(proposal, path, text.encode()) for path, text in records.items()]
        if as_files:
            listed: list[tuple[str, str, str]] = []
            proposal_of = {commit: proposal for proposal, commit in as_files.items()}
            out = git.run("log", "--no-walk=unsorted", "--root", "--raw", "--no-abbrev", "-z", "--format=%x01%H",
                          *as_files.values()).stdout.decode()  # fmt: skip
            for chunk in out.split("\x01")[1:]:
                tokens = chunk.split("\0")
                commit = tokens[0].strip()
                for meta, path in zip(tokens[1::2], tokens[2::2], strict=False):
                    fields = meta.strip().split(" ")
                    if len(fields) >= 4 and commit in proposal_of:
                        listed.append((proposal_of[commit], path, fields[3]))
            contents = git.read_blobs(sorted({blob for _, _, blob in listed}))
            entries += [(proposal, path, contents[blob] or b"") for proposal, path, blob in listed]
        return Proposals(entries, rides)

    def _completed_rides(self, git: Git, tip: str, rides: dict[str, tuple[str, str]]) -> set[str]:
        """The proposals that rode along on a branch push that was accepted (the branch commit is the tip
        or a parent of it: a commit made by hand since may have changed their cells), or that cannot be
        waiting (made on the tip itself: the branch never moved away from under their push, or was moved
        back by hand). Those must not land again: they are settled, not waiting."""
        if not rides:
            return set()
        found = git.read_objects([tip])[tip]
        header = found[1].partition(b"\n\n")[0].decode(errors="replace") if found else ""
        parents = {line.split(" ", 1)[1] for line in header.splitlines() if line.startswith("parent ")}
        return {p for p, (branch, made_on) in rides.items() if branch == tip or branch in parents or made_on == tip}

    def _landed_as_proposed(
        self, git: Git, tip: str, entries: list[tuple[str, str, bytes]], pending: dict[str, str]
    ) -> set[str]:
        """The proposals every record of which ``tip`` holds exactly as proposed."""
        held = git.read_paths(tip, sorted({path for _, path, _ in entries}), MAX_RECORD_BYTES)
        short = {p for p, path, text in entries if held[path] != text}
        return {p for p in pending if p not in short}

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
            git = Git(Path(scratch), remote=self.remote, config=SCRATCH_CONFIG)
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
            self._explain_fetch_failure(exc)
        return git.text("rev-parse", f"refs/heads/{layout.BRANCH}")

    def _explain_fetch_failure(self, exc: GitCommandError) -> NoReturn:
        """Re-raise a failed fetch: transient as is (the caller retries), the rest as a clear error."""
        if "couldn't find remote ref" in exc.stderr:
            raise StatusRepoError(f"{self.remote} has no branch {layout.BRANCH}: create it with 'crosscloud init'")
        if is_transient(exc.stderr):
            raise exc
        raise StatusRepoError(f"cannot read the status repository {self.remote}: {exc.stderr.strip()}")

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
        stored = git.read_paths(tip, paths, MAX_RECORD_BYTES)
        result = WriteResult(commit=None)
        for record, path in zip(batch, paths, strict=True):
            held = stored[path]
            if held is None:  # no file, or one too large to be a record (never read): any record repairs it
                result.written.append(record)
                continue
            text = record.to_json().encode()
            if held == text:
                result.unchanged.append(record)
                continue
            try:
                older = _stored(held, path).recency() > record.recency()
            except BadInputError:
                older = False  # a broken (or future-dated) stored file is repaired by any valid record
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
        statuses = self._push_statuses(git, refspecs, atomic=atomic)
        return next((problem for problem in statuses.values() if problem is not None), None)

    def _push_statuses(self, git: Git, refspecs: Sequence[str], *, atomic: bool = False) -> dict[str, str | None]:
        """Push ``refspecs``; per remote ref, None when it was updated, else the reason it was not
        (another writer was first, or a hook refused). A failure that is neither is raised."""
        args = ["push", "--porcelain", *(["--atomic"] if atomic else []), self.remote.url, *refspecs]
        proc = git.run(*args, check=False)
        out = git.redact(proc.stdout.decode(errors="replace"))
        statuses: dict[str, str | None] = {}
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and len(fields[0]) == 1:
                ref = fields[1].rpartition(":")[2]
                statuses[ref] = "push rejected: " + fields[2] if fields[0] == "!" else None
        if proc.returncode == 0:
            return statuses
        err = git.redact(proc.stderr.decode(errors="replace"))
        if any(problem is not None for problem in statuses.values()):
            return statuses
        if is_transient(err) or "atomic push failed" in err:
            problem = f"push failed: {err.strip().splitlines()[-1] if err.strip() else 'no output'}"
            return {spec.rpartition(":")[2]: problem for spec in refspecs}
        raise GitCommandError(["push", str(self.remote)], proc.returncode, err)
