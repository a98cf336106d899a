"""The refs writers coordinate through: pending proposals, the election of a round's combiner, and the
marks a combiner leaves. None of them is a lock: combining is safe for any writer at any moment, and
nothing ever waits for a ref to be released.

A writer publishes its records as a root commit on a ref of its own, ``refs/crosscloud/pending/<id>``
(creating a new ref never conflicts). Its id starts with the moment it was proposed (milliseconds since
the epoch, 13 digits), so the names sort oldest first, followed by 16 hex digits that make every
proposal unique. The proposal rides on the writer's push to the branch (the same push, not atomic), and
then its hex digits are the start of the branch commit pushed with it: when the branch update is
accepted, the proposal is redundant (its records are on the branch; anyone can tell from the names that
it rode on the tip) and the next writer deletes it; when the branch update is rejected, the proposal is
already there, waiting.

In the same push, the writer runs for election: it creates ``refs/crosscloud/combiner/<tip>/<shard>``,
where ``<tip>`` is the branch's tip it saw and ``<shard>`` (0 or 1) comes from its proposal id. Only one
push can create a ref (its value, a root commit or a commit on ``<tip>``, never fast-forwards another
writer's). The writers that saw one tip race to move it: the first push wins the branch and one shard's
election, which is void (its value is the branch's tip: it has nothing left to combine), and the first
loser of the other shard is elected, validly, to combine the round for the others. It waits a moment
for the proposals of writers finishing at the same time, then lands every pending proposal it sees in
one commit, deleting them and the election refs in the same atomic push. The others know at once that
they only have to watch, with ``ls-remote`` (names and ids, no objects).

A proposal whose records did not all land as they were proposed (one lost to a result that wins over
it, or no longer fits the configuration) is not just deleted: the push also sets
``refs/crosscloud/not-landed/<id>`` (to the proposal's commit), so that its writer knows to read the
branch before it reports. Its writer deletes the mark once read; marks older than ``MARK_LIFETIME``
(their writer died) are deleted by the next combiner.

When nobody is elected (a round landed, and proposals made after its combiner fetched are left), the
writer of the oldest live proposal combines (``combiner_rank`` 0). A proposal older than
``STALE_AFTER``, or one whose id carries no time, is left by a writer that is gone: it is landed by
whoever writes next, but it elects nobody. When a round makes no progress (the election refs, the
oldest live proposal and the branch all stay the same), the writer of rank ``r`` takes over after
``r + 1`` takeover periods, so a combiner that died delays its round, and never stops it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from crosscloud import layout

NAMESPACE = "refs/crosscloud/"
PENDING = "refs/crosscloud/pending/"
NOT_LANDED = "refs/crosscloud/not-landed/"
COMBINER = "refs/crosscloud/combiner/"
STALE_AFTER = 120.0
"""Seconds: a proposal this old elects nobody (its writer died or gave up); it still lands."""
MARK_LIFETIME = 600.0
"""Seconds: a not-landed mark this old is deleted by the next combiner (its writer is gone)."""
_ID = re.compile(r"^(\d{13})-[0-9a-f]{16}$")


ELECTION_SHARDS = 2


def new_proposal_id(now: float, rides_on: str | None = None) -> str:
    """``<milliseconds since the epoch>-<16 hex digits>``: sorts by age, never repeats. The hex digits
    are the start of the branch commit the proposal rides along with, or random."""
    return f"{int(now * 1000):013d}-{(rides_on or uuid.uuid4().hex)[:16]}"


def rode_on(proposal_id: str, tip: str | None) -> bool:
    """The proposal rode along with the branch update that is ``tip``: its records are on the branch."""
    return bool(tip) and proposal_id.rpartition("-")[2] == (tip or "")[:16]


def election_ref(tip: str, proposal_id: str) -> str:
    """The election ref a writer with this proposal runs for, after seeing ``tip``."""
    return f"{COMBINER}{tip}/{int(proposal_id[-1], 16) % ELECTION_SHARDS}"


def proposed_at(proposal_id: str) -> float | None:
    """When the proposal was made (seconds since the epoch), or None for an id that carries no time."""
    match = _ID.match(proposal_id)
    return int(match.group(1)) / 1000 if match else None


def is_live(proposal_id: str, now: float) -> bool:
    """A proposal whose writer is presumably still waiting for it to land."""
    made = proposed_at(proposal_id)
    return made is not None and now - made < STALE_AFTER


def may_be_awaited(proposal_id: str, now: float) -> bool:
    """A proposal whose writer may still be waiting to learn what became of it (a mark is worth it)."""
    made = proposed_at(proposal_id)
    return made is not None and now - made < MARK_LIFETIME


@dataclass
class RemoteRefs:
    """The branch's tip and the coordination refs, as a listing (``ls-remote``, ``for-each-ref``) shows
    them: pending proposals and not-landed marks by id, election refs by the tip they were run for."""

    tip: str | None
    pending: dict[str, str] = field(default_factory=dict)
    not_landed: dict[str, str] = field(default_factory=dict)
    combiners: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, listing: str) -> RemoteRefs:
        """``<oid> <name>`` lines (a tab or a space between)."""
        refs = cls(tip=None)
        for line in listing.splitlines():
            oid, _, name = line.replace("\t", " ").partition(" ")
            if name == f"refs/heads/{layout.BRANCH}":
                refs.tip = oid
            elif name.startswith(PENDING):
                refs.pending[name.removeprefix(PENDING)] = oid
            elif name.startswith(NOT_LANDED):
                refs.not_landed[name.removeprefix(NOT_LANDED)] = oid
            elif name.startswith(COMBINER):
                refs.combiners[name.removeprefix(COMBINER)] = oid
        return refs

    def elections(self) -> dict[str, str]:
        """The election refs (``<tip>/<shard>`` -> value) of writers elected to combine: all but the void
        ones, won by a push that moved the branch to its tip."""
        return {key: value for key, value in self.combiners.items() if value != self.tip}

    def elected_proposals(self, now: float) -> list[str]:
        """The live pending proposals of the writers the (not void) elections name: the ref's value is
        the proposal's commit, or the branch commit the proposal rode along with."""
        values = set(self.elections().values())
        return sorted(
            p
            for p, commit in self.pending.items()
            if is_live(p, now) and (commit in values or any(rode_on(p, v) for v in values))
        )

    def waiting(self, now: float) -> list[str]:
        """The live proposals, oldest first, but the one that rode on the tip."""
        return sorted(p for p in self.pending if is_live(p, now) and not rode_on(p, self.tip))


def combiner_rank(waiting: list[str], own: str) -> int:
    """How many of the ``waiting`` proposals are older than ``own`` (0: this writer combines when nobody
    is elected)."""
    return sum(1 for p in waiting if p < own)


def expired_marks(marks: list[str] | dict[str, str], now: float) -> list[str]:
    """Not-landed marks old enough that their writer is gone (or whose id carries no time)."""
    return [m for m in marks if not may_be_awaited(m, now)]
