"""The status repository writer against real bare repositories (and a real HTTP remote on 127.0.0.1)."""

from __future__ import annotations

import json
import multiprocessing
import stat
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crosscloud import layout
from crosscloud.errors import BadInputError, PushGaveUpError, RecordError, StatusRepoError, UnknownNameError
from crosscloud.records import CLOCK_AHEAD, Record, format_time
from crosscloud.status_repo.git import Git, Remote
from crosscloud.status_repo.proposals import (
    COMBINER,
    PENDING,
    RemoteRefs,
    combiner_rank,
    election_ref,
    expired_marks,
    new_proposal_id,
    proposed_at,
    rode_on,
)
from crosscloud.status_repo.writer import PROPOSAL_MARK, TAKEOVER_MIN, Backoff, StatusRepoWriter
from tests.helpers.git_http_server import GitHTTPServer
from tests.helpers.status_repos import git, make_record, record_data, snapshot
from tests.helpers.writer_faults import unread_marks, unsettled_refs

Writer = Callable[..., StatusRepoWriter]


def stored(repo: Path, record: Record) -> str | None:
    try:
        return git(repo, "show", f"main:{layout.cell_path(record.key)}") + "\n"
    except subprocess.CalledProcessError:
        return None


def commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "main"))


def install_hook(repo: Path, body: str) -> None:
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n" + body)
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)


def test_one_record_is_one_commit_with_a_subject_in_words_and_trailers(status_repo: Path, writer_for: Writer) -> None:
    record = make_record(status="failed", reason="etcd did not answer on 127.0.0.1:2379")
    result = writer_for(status_repo).write([record])
    assert result.commit and result.written == [record] and result.attempts == 1
    assert result.round_trips == 2  # the floor: one fetch, one push
    assert stored(status_repo, record) == record.to_json()
    assert git(status_repo, "log", "-1", "--format=%s") == "etcd stable v3.4.23 local deploy: failed"
    trailers = git(status_repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Cross-Cloud-Status: failed" in trailers
    assert "Cross-Cloud-Run-URL: https://github.com/etcd-io/etcd/actions/runs/100" in trailers
    assert "Cross-Cloud-Run-Attempt: 1" in trailers
    assert "[skip ci]" in git(status_repo, "log", "-1", "--format=%b")


def test_a_whole_matrix_lands_in_one_commit(status_repo: Path, writer_for: Writer) -> None:
    records = [
        make_record(project=p, release=r, stage=s, status="success")
        for p in ("prometheus", "etcd", "nats")
        for r in ("stable", "head")
        for s in ("build", "provision", "deploy", "e2e")
    ]
    before = commits(status_repo)
    result = writer_for(status_repo).write(records)
    assert len(result.written) == 24 and commits(status_repo) == before + 1
    assert all(stored(status_repo, r) == r.to_json() for r in records)
    assert git(status_repo, "log", "-1", "--format=%s") == "etcd, nats, prometheus: 24 results: 24 success"


def test_writing_an_identical_record_again_is_a_no_op(status_repo: Path, writer_for: Writer) -> None:
    record = make_record()
    writer_for(status_repo).write([record])
    before = snapshot(status_repo)
    result = writer_for(status_repo).write([Record.from_dict(record_data())])
    assert result.commit is None and len(result.unchanged) == 1
    assert snapshot(status_repo) == before


def test_an_older_result_arriving_late_never_replaces_a_newer_one(status_repo: Path, writer_for: Writer) -> None:
    newer = make_record(status="success", started_at="2026-11-02T08:00:00Z", finished_at="2026-11-02T08:05:00Z",
                        run={"id": 200, "attempt": 1})  # fmt: skip
    older = make_record(status="failed", started_at="2026-11-01T08:00:00Z", finished_at="2026-11-02T09:00:00Z",
                        run={"id": 100, "attempt": 1})  # fmt: skip
    writer_for(status_repo).write([newer])
    before = snapshot(status_repo)
    result = writer_for(status_repo).write([older])
    assert result.superseded == [older] and result.commit is None
    assert stored(status_repo, newer) == newer.to_json() and snapshot(status_repo) == before


def test_a_rerun_attempt_and_a_final_status_replace_what_they_follow(status_repo: Path, writer_for: Writer) -> None:
    running = make_record(status="running", finished_at=None)
    final = make_record(status="failed", finished_at="2026-11-01T08:09:00Z")
    rerun = make_record(status="success", run={"id": 100, "attempt": 2})
    writer = writer_for(status_repo)
    assert writer.write([running]).written
    assert writer.write([final]).written
    assert writer.write([running]).superseded  # the late 'running' of the same run loses to its final status
    assert writer.write([rerun]).written
    assert stored(status_repo, rerun) == rerun.to_json()


def test_names_are_checked_against_the_repository_config_and_nothing_is_written(
    status_repo: Path, writer_for: Writer
) -> None:
    before = snapshot(status_repo)
    writer = writer_for(status_repo)
    with pytest.raises(UnknownNameError, match=r"unknown project 'coredns'.*allowed: prometheus, etcd, nats"):
        writer.write([make_record(), make_record(project="coredns")])
    with pytest.raises(UnknownNameError, match="unknown cloud 'aws'"):
        writer.write([make_record(cloud="aws")])
    with pytest.raises(UnknownNameError, match="unknown arch 'arm64'"):
        writer.write([make_record(arch="arm64")])
    with pytest.raises(BadInputError, match="runs projects on the host"):
        writer.write([make_record(kubernetes={"release": "stable"})])
    assert snapshot(status_repo) == before


def test_a_record_dated_ahead_of_the_clock_is_refused_naming_the_field(status_repo: Path, writer_for: Writer) -> None:
    before = snapshot(status_repo)
    soon = format_time(datetime.now(UTC) + CLOCK_AHEAD - timedelta(seconds=30))  # a runner's clock a little fast
    assert writer_for(status_repo).write([make_record(started_at=soon, finished_at=soon)]).written
    before = snapshot(status_repo)
    for field in ("started_at", "finished_at"):
        late = {"started_at": "2026-11-01T08:00:00Z", "finished_at": "2099-01-01T00:00:00Z"}
        if field == "started_at":
            late["started_at"] = "2099-01-01T00:00:00Z"
        with pytest.raises(RecordError) as refused:
            writer_for(status_repo).write([make_record(project="nats"), make_record(**late)])
        assert refused.value.field == field and "ahead of the clock" in str(refused.value)
    assert snapshot(status_repo) == before  # the good record of the same batch did not land either


def test_a_stored_record_dated_in_the_future_is_replaced_by_the_next_genuine_result(
    status_repo: Path, writer_for: Writer
) -> None:
    """A runner with a wrong clock (or a hand edit) stored ``started_at 2099``: it must not pin its cell."""
    future = make_record(status="failed", reason="clock wrong").to_json().replace("2026-11-01T08", "2099-01-01T08")
    by_hand = Git(status_repo)
    by_hand.commit_files("refs/heads/main", {layout.cell_path(make_record().key): future.encode()},
                         message="by hand\n", identity=("A", "a@b"), when=1_800_000_000,
                         parent=by_hand.text("rev-parse", "main"))  # fmt: skip
    genuine = make_record(started_at="2026-11-02T08:00:00Z", finished_at="2026-11-02T08:05:00Z")
    result = writer_for(status_repo).write([genuine])
    assert result.written == [genuine] and not result.superseded
    stored = git(status_repo, "show", f"main:{layout.cell_path(genuine.key)}")
    assert json.loads(stored)["started_at"] == "2026-11-02T08:00:00Z"


def test_a_rejected_push_is_retried_on_the_fresh_tip(status_repo: Path, writer_for: Writer) -> None:
    """A pre-receive hook refuses the first two pushes, as a concurrent writer's push would."""
    counter = status_repo / "refusals"
    counter.write_text("")
    install_hook(status_repo, f'n=$(wc -c < "{counter}"); if [ "$n" -lt 2 ]; then printf x >> "{counter}"; '
                              'echo "busy" >&2; exit 1; fi\n')  # fmt: skip
    delays: list[float] = []
    result = writer_for(status_repo, sleep=delays.append).write([make_record()])
    # refused: the push with the proposal riding along, then the first proposal push (retried after one
    # backoff); elected, after a short wait for other proposals, the combining round lands the record on
    # the fresh tip and deletes the proposal in the same atomic push; then one look for late proposals
    assert result.attempts == 2 and len(delays) == 3
    assert stored(status_repo, make_record()) == make_record().to_json()
    assert git(status_repo, "for-each-ref", "refs/crosscloud/") == ""


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    backoff = Backoff(attempts=10, base=0.5, cap=4.0)
    assert [backoff.delay(n, rng=lambda: 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(3, rng=lambda: 0.0) == 0.0


def test_giving_up_is_a_clear_error_and_changes_nothing(status_repo: Path, writer_for: Writer) -> None:
    install_hook(status_repo, 'echo "status repository is read-only today" >&2; exit 1\n')
    before = snapshot(status_repo)
    writer = writer_for(status_repo, backoff=Backoff(attempts=3, base=0.001, cap=0.001))
    with pytest.raises(PushGaveUpError, match="after 3 attempts; last: push rejected"):
        writer.write([make_record()])
    assert snapshot(status_repo) == before


def test_a_missing_repository_or_branch_is_a_clear_error(tmp_path: Path, writer_for: Writer) -> None:
    with pytest.raises(StatusRepoError, match="cannot read the status repository"):
        writer_for(tmp_path / "nowhere.git").write([make_record()])
    subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path / "empty.git")], check=True)
    with pytest.raises(StatusRepoError, match="has no branch main: create it with 'crosscloud init'"):
        writer_for(tmp_path / "empty.git").write([make_record()])


def test_file_url_remotes_work(status_repo: Path, writer_for: Writer) -> None:
    record = make_record()
    writer_for(f"file://{status_repo}").write([record])
    assert stored(status_repo, record) == record.to_json()


def test_an_https_style_remote_gets_its_token_through_a_header_never_the_url(
    status_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A real smart-HTTP server on 127.0.0.1 (git http-backend) that demands the token, as GitHub does."""
    token = "ghs_TestToken0123456789abcdefghijklmnopq"
    with GitHTTPServer(status_repo.parent, token) as server:
        url = f"{server.url}/{status_repo.name}"
        record = make_record()
        result = StatusRepoWriter(Remote.parse(url, token)).write([record])
        assert result.commit and stored(status_repo, record) == record.to_json()
        assert all(token not in r["path"] for r in server.requests)
        with pytest.raises(StatusRepoError) as err:
            StatusRepoWriter(Remote.parse(url, "wrong-token")).write([make_record(status="failed")])
        assert "wrong-token" not in str(err.value)
    log = git(status_repo, "log", "--format=%B")
    out, errs = capfd.readouterr()
    assert token not in log + out + errs + str(err.value)


def test_credentials_inside_a_url_are_refused_before_they_can_be_logged() -> None:
    with pytest.raises(BadInputError, match="credentials in the status repository URL"):
        Remote.parse("https://x-access-token:secret@github.com/cncf/status.git")


def _write_one(args: tuple[str, str, str, str]) -> tuple[str, int]:
    repo, project, release, cloud = args
    record = Record.from_dict(
        record_data(project=project, release=release, cloud=cloud, stage="deploy", ref=None, sha=None,
                    kubernetes={"release": "stable"})
    )  # fmt: skip
    writer = StatusRepoWriter(Remote.parse(repo), backoff=Backoff(attempts=40, base=0.02, cap=1.0))
    result = writer.write([record])
    return record.to_json(), result.attempts


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(cncf_repo: Path) -> None:
    """24 processes, each its own cell, all at once into one bare repository: every record lands once."""
    cells = [(str(cncf_repo), p, r, c) for p in ("prometheus", "coredns", "envoy") for r in ("stable", "head")
             for c in ("aws", "azure", "gce", "packet")]  # fmt: skip
    with multiprocessing.get_context("fork").Pool(len(cells)) as pool:
        results = pool.map(_write_one, cells)
    assert 1 < commits(cncf_repo) <= 1 + len(cells)  # combining lands several writers per commit
    for (_, project, release, cloud), (text, _) in zip(cells, results, strict=True):
        path = f"results/{project}/{release}/amd64/{cloud}/k8s-stable/deploy.json"
        assert git(cncf_repo, "show", f"main:{path}") + "\n" == text
    assert max(attempts for _, attempts in results) > 1  # they really did contend
    subprocess.run(["git", "--git-dir", str(cncf_repo), "fsck", "--strict", "--no-progress"], check=True)
    assert git(cncf_repo, "rev-list", "--merges", "main") == ""  # linear history
    assert unsettled_refs(cncf_repo) == [] and unread_marks(cncf_repo) == []  # every proposal was landed


def test_a_proposal_left_by_a_dead_writer_is_landed_by_the_next_writer(status_repo: Path, writer_for: Writer) -> None:
    """A writer that proposed and then died (SIGKILL, a cancelled job) loses nothing: the next writer
    that has to combine lands its records too."""
    orphan = make_record(project="nats", status="failed", reason="killed after proposing")
    g = Git(status_repo)
    proposal = g.commit_files(
        "refs/crosscloud/pending/dead0001",
        {layout.cell_path(orphan.key): orphan.to_json().encode()},
        message="proposal\n",
        identity=("A", "a@b"),
        when=1_800_000_000,
    )
    assert proposal
    counter = status_repo / "refusals"
    counter.write_text("")
    install_hook(status_repo, f'n=$(wc -c < "{counter}"); if [ "$n" -lt 1 ]; then printf x >> "{counter}"; '
                              'exit 1; fi\n')  # fmt: skip
    writer_for(status_repo).write([make_record()])
    assert stored(status_repo, orphan) == orphan.to_json()
    assert stored(status_repo, make_record()) == make_record().to_json()
    assert git(status_repo, "for-each-ref", "refs/crosscloud/") == ""


def test_an_invalid_proposal_is_never_landed(status_repo: Path, writer_for: Writer) -> None:
    g = Git(status_repo)
    bad = make_record(project="nats").to_json().replace('"success"', '"green"')
    path = "results/nats/stable/amd64/local/host/deploy.json"
    g.commit_files("refs/crosscloud/pending/bad00001", {path: bad.encode()}, message="proposal\n",
                   identity=("A", "a@b"), when=1_800_000_000)  # fmt: skip
    counter = status_repo / "refusals"
    counter.write_text("")
    install_hook(status_repo, f'n=$(wc -c < "{counter}"); if [ "$n" -lt 1 ]; then printf x >> "{counter}"; '
                              'exit 1; fi\n')  # fmt: skip
    writer_for(status_repo).write([make_record()])
    assert stored(status_repo, make_record(project="nats")) is None
    assert git(status_repo, "for-each-ref", "refs/crosscloud/") == ""


def _write_tied(args: tuple[str, int]) -> tuple[str, list[str], list[str], str | None, str | None]:
    """One of several writers recording the same cell with the same run start, run id, attempt and finish
    time; only the reason differs. Returns its record, what it reports written and superseded, the commit
    and the error it raised, if any."""
    repo, n = args
    record = make_record(status="failed", reason=f"tied writer {n}")
    writer = StatusRepoWriter(Remote.parse(repo), backoff=Backoff(attempts=20, base=0.05, cap=1.0))
    try:
        result = writer.write([record])
    except Exception as exc:  # reported, so that the test names every writer that failed
        return record.to_json(), [], [], None, f"{type(exc).__name__}: {exc}"
    written, superseded = [r.to_json() for r in result.written], [r.to_json() for r in result.superseded]
    return record.to_json(), written, superseded, result.commit, None


@pytest.mark.slow
def test_tied_writers_settle_on_one_record_and_the_others_are_superseded(status_repo: Path) -> None:
    """8 writers, one cell, identical times (issue: several gave up after two minutes with "shallow update
    not allowed" because a re-proposal within the same second repeated the commit id of an earlier one).
    The tie is broken by the record's canonical text, so every writer and combiner picks the same one."""
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(_write_tied, [(str(status_repo), n) for n in range(8)])
    assert [error for *_, error in results if error] == []
    winner = max(text for text, *_ in results)  # the tie-break: the larger canonical text
    assert stored(status_repo, make_record()) == winner
    for text, written, superseded, commit, _ in results:
        if text == winner:
            assert written == [text] and superseded == []
        elif written:  # it landed first and was replaced by the winner afterwards: its commit holds it
            assert written == [text] and superseded == [] and commit
            assert git(status_repo, "show", f"{commit}:{layout.cell_path(make_record().key)}") + "\n" == text
        else:
            assert superseded == [text]
    subprocess.run(["git", "--git-dir", str(status_repo), "fsck", "--strict", "--no-progress"], check=True)
    assert unsettled_refs(status_repo) == [] and unread_marks(status_repo) == []


def coordination_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/crosscloud/")
    return dict(line.split(" ") for line in out.splitlines())


def propose_by_hand(repo: Path, proposal_id: str, *records: Record) -> str:
    """A proposal as a writer publishes it (records in the message), made straight in ``repo``: the
    writer that made it is gone (or waiting)."""
    payload = json.dumps({layout.cell_path(r.key): r.to_json() for r in records})
    message = f"{PROPOSAL_MARK} {proposal_id}\n\n{payload}\n"
    return Git(repo).commit_files(f"{PENDING}{proposal_id}", {}, message=message, identity=("A", "a@b"), when=1)


def test_uncontended_writes_cost_two_round_trips_and_clean_up_after_each_other(
    status_repo: Path, writer_for: Writer
) -> None:
    """Each write's proposal rides along on its push to the branch; accepted, it is redundant (the branch
    holds it as proposed) and so is the election it won (void: its value is the tip). The next write
    deletes both, so at most one write's leftovers exist, all of them settled."""
    first, second, third = (make_record(project=p) for p in ("etcd", "nats", "prometheus"))
    writer = writer_for(status_repo)
    for record in (first, second, third):
        result = writer.write([record])
        assert result.round_trips == 2 and result.written == [record] and result.attempts == 1
        refs = coordination_refs(status_repo)
        pending = [ref for ref in refs if ref.startswith(PENDING)]
        elections = [ref for ref in refs if ref.startswith(COMBINER)]
        assert len(pending) == 1 and len(elections) == 1, refs
        assert rode_on(pending[0].removeprefix(PENDING), git(status_repo, "rev-parse", "main"))
        assert refs[elections[0]] == git(status_repo, "rev-parse", "main")  # void: it won the branch
        assert unsettled_refs(status_repo) == []
    assert all(stored(status_repo, r) == r.to_json() for r in (first, second, third))
    assert commits(status_repo) == 4


def test_a_proposal_left_in_the_message_format_by_a_dead_writer_lands_with_the_next_write(
    status_repo: Path, writer_for: Writer
) -> None:
    """A proposal older than STALE_AFTER: its writer is gone. The next write folds it into its own
    commit, in one atomic push that also deletes it: still two round trips."""
    orphan = make_record(project="nats", status="failed", reason="its writer was cancelled")
    propose_by_hand(status_repo, "1700000000000-00000000deadbeef", orphan)
    result = writer_for(status_repo).write([make_record()])
    assert result.round_trips == 2 and result.commit
    assert stored(status_repo, orphan) == orphan.to_json()
    assert stored(status_repo, make_record()) == make_record().to_json()
    assert git(status_repo, "rev-list", "--count", "main") == "2"  # one commit holds both
    assert unsettled_refs(status_repo) == [] and f"{PENDING}1700000000000-00000000deadbeef" not in coordination_refs(
        status_repo
    )


def test_a_round_whose_elected_combiner_died_is_taken_over(status_repo: Path, writer_for: Writer) -> None:
    """Another writer proposed and won the election for the current tip, then died before combining.
    A writer arriving now sees a round on, so it only proposes (no race for the branch); when the round
    makes no progress, it takes the round over and lands both proposals."""
    tip = git(status_repo, "rev-parse", "main")
    waiting = make_record(project="nats", status="failed", reason="proposed, elected, then killed")
    now_ms = int(time.time() * 1000)
    dead = f"{now_ms - 2000:013d}-00000000000000aa"
    commit = propose_by_hand(status_repo, dead, waiting)
    git(status_repo, "update-ref", f"{COMBINER}{tip}/0", commit)
    began = time.monotonic()
    result = writer_for(status_repo).write([make_record()])
    assert result.attempts == 2 and result.written == [make_record()]  # proposed, then one round of its own
    assert time.monotonic() - began >= TAKEOVER_MIN  # it waited for the round first
    assert stored(status_repo, waiting) == waiting.to_json()
    assert stored(status_repo, make_record()) == make_record().to_json()
    assert coordination_refs(status_repo) == {} and commits(status_repo) == 2


def test_proposal_ids_sort_by_age_and_name_what_they_rode_on() -> None:
    older, newer = new_proposal_id(1_800_000_000.0), new_proposal_id(1_800_000_000.5)
    assert older < newer and proposed_at(older) == 1_800_000_000.0 and proposed_at("dead0001") is None
    assert new_proposal_id(1.0) != new_proposal_id(1.0)  # never the same, even within one millisecond
    tip = "ab" * 20
    riding = new_proposal_id(1_800_000_000.0, rides_on=tip)
    assert rode_on(riding, tip) and not rode_on(riding, "cd" * 20) and not rode_on(older, tip)
    assert {election_ref(tip, new_proposal_id(1.0)) for _ in range(64)} == {f"{COMBINER}{tip}/0", f"{COMBINER}{tip}/1"}


def test_remote_refs_tell_void_elections_and_waiting_proposals_apart() -> None:
    tip, now = "ab" * 20, 1_800_000_000.0
    rider, waiting, stale = (new_proposal_id(now - 1, rides_on=tip), new_proposal_id(now - 2),
                             "1700000000000-00000000000000ff")  # fmt: skip
    listing = "\n".join([
        f"{tip}\trefs/heads/main",
        f"{'11' * 20}\t{PENDING}{rider}",
        f"{'22' * 20}\t{PENDING}{waiting}",
        f"{'33' * 20}\t{PENDING}{stale}",
        f"{tip}\t{COMBINER}{'99' * 20}/0",  # won by the push that moved the branch: void
        f"{'22' * 20}\t{COMBINER}{'99' * 20}/1",  # won by the waiting proposal's writer
        f"{'44' * 20}\trefs/crosscloud/not-landed/{stale}",
    ])  # fmt: skip
    refs = RemoteRefs.parse(listing)
    assert refs.tip == tip and set(refs.pending) == {rider, waiting, stale}
    assert refs.elections() == {f"{'99' * 20}/1": "22" * 20}
    assert refs.elected_proposals(now) == [waiting]
    assert refs.waiting(now) == [waiting]  # not the one that rode on the tip, not the stale one
    assert combiner_rank(refs.waiting(now), new_proposal_id(now)) == 1
    assert expired_marks(refs.not_landed, now) == [stale]


def test_a_result_removed_by_hand_is_not_brought_back_by_the_next_write(
    status_repo: Path, writer_for: Writer, tmp_path: Path
) -> None:
    """The write's proposal rode along on its accepted push and is still there when someone removes the
    result by hand (a commit on top) or moves the branch back: the next write must not land it again."""
    writer = writer_for(status_repo)
    removed, kept = make_record(project="nats"), make_record(project="etcd")
    writer.write([removed])
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(status_repo), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "rm", "-q", layout.cell_path(removed.key)], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm",
                    "drop nats"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True)
    assert writer.write([kept]).round_trips == 2
    assert stored(status_repo, removed) is None and stored(status_repo, kept) == kept.to_json()

    base = git(status_repo, "rev-parse", "main")
    later = make_record(project="prometheus")
    writer.write([later])
    git(status_repo, "update-ref", "refs/heads/main", base)  # moved back by hand
    writer.write([make_record(project="etcd", status="failed")])
    assert stored(status_repo, later) is None
    assert unsettled_refs(status_repo) == []
