"""Results where maintainers already look: a GitHub check run on the tested commit of the project's repository.

After each snapshot of a new status repository commit (``StatusState.add_listener``, as the alerts), every
result of an active project with a ``repository`` is also shown on that repository, when the GitHub App is
installed there with ``checks: write``:

- one check run per cell group and run: ``cross-cloud / stable / build`` for the build, and
  ``cross-cloud / stable / aws`` for a cloud (its provision, deploy and e2e together; `` / arm64`` when the
  project tests several arches, `` / kubernetes head`` on clusters of the head Kubernetes);
- on the commit the result names (``sha``: the tested commit of the project); a result without one (a reuse
  build pins binaries, not a commit), or with a commit GitHub does not know in that repository, has
  nowhere to go and is skipped;
- ``success``, ``failure`` (the project's or the infrastructure's), ``timed_out``, ``cancelled``, or
  ``neutral`` for ``n/a``; ``in_progress`` while a stage runs. The summary has each stage's status and
  reason and links to the cell's page on the dashboard (``PUBLIC_URL``) and to the job;
- **idempotent by cell and run**: the check run's ``external_id`` names the cell group and the workflow
  run, and before creating one the check runs of that name on that commit are searched for it, so a
  re-run (a new attempt of the same run) updates the check run in place and nothing is ever posted twice,
  even with a lost store. A new workflow run gets a check run of its own.
- skipped, with a log line, where the App is not installed (GitHub answers 404 for the repository's
  installation or the repository).

What was posted is kept in a small SQLite store beside the mirror (``check_runs.sqlite3``): a group whose
results did not change since is not sent again, so a refresh of the same commit, a restart or a
redelivered webhook costs no request. A GitHub error is logged and the group is tried again on the next
snapshot; it never breaks the refresh. Only results newer than ``settings.stale_after_hours`` are posted:
an app started on an old history does not decorate old commits. ``/check-runs.json``
(``crosscloud_app.api.check_runs``) shows what they did."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from flask import Flask

from crosscloud.config import Config, Project
from crosscloud.records import CellKey, Record
from crosscloud.status_repo.reader import Entry
from crosscloud.vocabulary import NO_KUBERNETES
from crosscloud_app.github_app import app_client
from crosscloud_app.github_app.failure_issues import code_span, dashboard_url, markdown_link
from crosscloud_app.web import metrics, settings
from crosscloud_app.web.sqlite_store import SqliteStore
from crosscloud_app.web.status_state import EXTENSION as STATE
from crosscloud_app.web.status_state import Snapshot, StatusState

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

log = logging.getLogger(__name__)

EXTENSION: Final = "crosscloud.check_runs"
FILENAME: Final = "check_runs.sqlite3"
PREFIX: Final = "cross-cloud"
CLOUD_STAGES: Final = ("provision", "deploy", "e2e")
CONCLUSIONS: Final[Mapping[str, str]] = {
    "success": "success",
    "failed": "failure",
    "infra_failed": "failure",
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "n/a": "neutral",
}
"""A record's status as a check run's conclusion (``running`` is a status, ``in_progress``, not a conclusion)."""
SUMMARY_LIMIT: Final = 60000
"""GitHub takes at most 65535 characters of output summary."""

metrics.describe("crosscloud_check_runs_total", "What the check runs did on GitHub, by action.")

GitHubFor = Callable[[str], "Github"]
RecordOf = Callable[[Entry], Record]


# -- the store -----------------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS check_runs (
    grp TEXT PRIMARY KEY,          -- the cell group: results/<project>/<release>/<arch>[/<cloud>/<env>]
    fingerprint TEXT NOT NULL,     -- the blobs of the group's results that were last handled
    outcome TEXT NOT NULL,         -- posted, skipped (not installed, no commit) or old
    repository TEXT,
    check_run INTEGER,
    external_id TEXT,
    at TEXT NOT NULL
);
"""


class CheckRunStore(SqliteStore):
    """Which results of which cell group were handled last, and how (created on first use)."""

    def __init__(self, path: Path):
        super().__init__(path, _SCHEMA)

    def fingerprint(self, group: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT fingerprint FROM check_runs WHERE grp = ?", (group,)).fetchone()
        return str(row[0]) if row else None

    def handled(self, group: str, fingerprint: str, outcome: str, *, repository: str | None = None,
                check_run: int | None = None, external_id: str | None = None) -> None:  # fmt: skip
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO check_runs (grp, fingerprint, outcome, repository, check_run, external_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group, fingerprint, outcome, repository, check_run, external_id, datetime.now(UTC).isoformat()),
            )

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT grp, outcome, repository, check_run, external_id FROM check_runs ORDER BY grp"
            ).fetchall()
        return [dict(zip(("group", "outcome", "repository", "check_run", "external_id"), r, strict=True)) for r in rows]


# -- what a group of results says ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """The results one check run shows: a build, or the stages of one cloud."""

    path: str
    project: str
    release: str
    arch: str
    cloud: str | None
    environment: str | None
    entries: tuple[Entry, ...]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(f"{e.path} {e.blob}" for e in self.entries).encode()).hexdigest()


def groups(snapshot: Snapshot) -> Iterator[Group]:
    """The cell groups of active projects with a ``repository``, on active clouds, in path order."""
    config = snapshot.config
    found: dict[tuple[str, str, str, str | None, str | None], list[Entry]] = {}
    for key, entry in snapshot.current.items():
        project = config.projects.get(key.project)
        if project is None or not project.active or not project.repository or entry.error is not None:
            continue
        if key.cloud is not None and (key.cloud not in config.clouds or not config.clouds[key.cloud].active):
            continue
        found.setdefault((key.project, key.release, key.arch, key.cloud, key.environment), []).append(entry)
    made = []
    for (name, release, arch, cloud, environment), entries in found.items():
        path = f"results/{name}/{release}/{arch}" + (f"/{cloud}/{environment}" if cloud else "")
        entries.sort(key=lambda e: e.path)
        made.append(Group(path, name, release, arch, cloud, environment, tuple(entries)))
    yield from sorted(made, key=lambda g: g.path)


def check_name(group: Group, project: Project) -> str:
    """``cross-cloud / stable / aws``: the release and the cloud (or ``build``), then the arch when the project
    has several, and the Kubernetes release of the clusters when it is not the stable one."""
    parts = [PREFIX, group.release, group.cloud or "build"]
    if len(project.arch) > 1:
        parts.append(group.arch)
    if group.environment not in (None, NO_KUBERNETES, "stable"):
        parts.append(f"kubernetes {group.environment}")
    return " / ".join(parts)


def run_id(record: Record) -> str:
    """The workflow run a record came from, without its attempt (a re-run updates the same check run)."""
    run = record.run
    if run.get("id") is not None:
        return f"{run.get('repository') or '-'}/{run['id']}"
    return f"started {record.started_text}"  # not from GitHub Actions (crosscloud run here)


@dataclass(frozen=True)
class Wanted:
    """One check run as it should be on GitHub."""

    repository: str
    head_sha: str
    name: str
    external_id: str
    status: str
    conclusion: str | None
    title: str
    summary: str
    details_url: str | None
    started_at: datetime
    completed_at: datetime | None

    def fields(self) -> dict[str, Any]:
        """The keyword arguments of PyGithub's ``create_check_run`` and ``CheckRun.edit`` (less name, sha)."""
        found: dict[str, Any] = {
            "external_id": self.external_id,
            "status": self.status,
            "started_at": self.started_at,
            "output": {"title": self.title, "summary": self.summary},
        }
        if self.details_url:
            found["details_url"] = self.details_url
        if self.conclusion is not None:
            found["conclusion"] = self.conclusion
            found["completed_at"] = self.completed_at or self.started_at
        return found


def wanted(group: Group, records: Sequence[Record], config: Config, public_url: str | None) -> Wanted | None:
    """The check run of ``group`` from its ``records`` (those of the newest run), or None without a commit."""
    project = config.projects[group.project]
    assert project.repository is not None
    newest = max(records, key=lambda r: r.recency())
    run = run_id(newest)
    ran = [r for r in records if run_id(r) == run]
    order = {stage: i for i, stage in enumerate(("build", *CLOUD_STAGES))}
    ran.sort(key=lambda r: order.get(r.stage, 99))
    sha = next((r.sha for r in ran if r.sha), None)
    if not sha:
        return None
    statuses = [r.status for r in ran]
    worst = next((r for r in ran if r.status != "success"), None)
    if "running" in statuses:
        status, conclusion = "in_progress", None
        title = f"{next(r for r in ran if r.status == 'running').stage} is running"
    else:
        status = "completed"
        conclusion = CONCLUSIONS.get(worst.status, "failure") if worst is not None else "success"
        if worst is None:
            title = f"success: {', '.join(r.stage for r in ran)}"
        else:
            reason = worst.reason
            title = f"{worst.stage}: {worst.status}" + (f": {reason}" if reason else "")
    page = dashboard_url(public_url, CellKey(group.project, group.release, group.arch,
                                             "deploy" if group.cloud else "build", group.cloud,
                                             group.environment))  # fmt: skip
    job = next((r.url for r in reversed(ran) if r.url), None)
    lines = [
        f"**{group.project} {group.release}"
        + (f" on {group.cloud}" if group.cloud else " build")
        + f"** at {code_span(str(newest.ref or group.release))} ({sha[:12]}), by Cross-Cloud CI.",
        "",
        "| stage | status | reason |",
        "| --- | --- | --- |",
    ]
    for record in ran:
        reason = record.reason
        lines.append(f"| {record.stage} | {record.status} | {code_span(reason) if reason else ''} |")
    links = [link for link in (markdown_link("deployment page", page) if page else None,
                               markdown_link("job", job) if job else None) if link]  # fmt: skip
    if links:
        lines += ["", " · ".join(links)]
    started = min(r.started_at for r in ran)
    finished = [at for r in ran if (at := r.finished_at) is not None]
    return Wanted(
        repository=project.repository,
        head_sha=sha,
        name=check_name(group, project),
        external_id=f"{group.path}@{run}",
        status=status,
        conclusion=conclusion,
        title=title[:1000],
        summary="\n".join(lines)[:SUMMARY_LIMIT],
        details_url=page or job,
        started_at=started,
        completed_at=max(finished) if finished else None,
    )


# -- posting ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """One thing a pass did for one cell group."""

    kind: str
    """``created``, ``updated``, ``not-installed``, ``no-commit`` (the results name none), ``unknown-commit``
    (not one of the repository's), ``failed`` (GitHub answered an error: tried again next time)."""
    group: str
    repository: str
    check_run: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.repository} check run {self.check_run}" if self.check_run else self.repository
        return f"{self.kind} {where} for {self.group}" + (f": {self.detail}" if self.detail else "")


class NotInstalledError(Exception):
    """The App has no installation that covers the repository (GitHub answered 404)."""


class CheckRunPoster:
    """Looks at snapshots and keeps one check run per cell group and run (see the module doc)."""

    def __init__(
        self,
        store: CheckRunStore,
        github: GitHubFor,
        records: RecordOf,
        *,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.store = store
        self.github = github
        self.records = records
        self.public_url = public_url
        self.clock = clock
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """The ``StatusState`` listener."""
        self.check(snapshot)

    def check(self, snapshot: Snapshot) -> list[Action]:
        """One pass over the groups of ``snapshot`` whose results changed; returns what it did."""
        with self._lock:
            repos: dict[str, Repository | NotInstalledError] = {}
            actions: list[Action] = []
            oldest = self.clock() - snapshot.config.stale_after
            for group in groups(snapshot):
                fingerprint = group.fingerprint
                if self.store.fingerprint(group.path) == fingerprint:
                    continue
                project = snapshot.config.projects[group.project]
                assert project.repository is not None
                records = [self.records(entry) for entry in group.entries]
                if all((r.finished_at or r.started_at) < oldest for r in records):
                    self.store.handled(group.path, fingerprint, "old")
                    continue
                want = wanted(group, records, snapshot.config, self.public_url)
                if want is None:
                    done = Action("no-commit", group.path, project.repository, detail="the results name no commit")
                    self.store.handled(group.path, fingerprint, done.kind, repository=project.repository)
                else:
                    done = self._post(group, fingerprint, want, repos)
                metrics.inc("crosscloud_check_runs_total", {"action": done.kind})
                (log.warning if done.kind == "failed" else log.info)("check runs: %s", done)
                actions.append(done)
            return actions

    def _repo(self, repos: dict[str, Repository | NotInstalledError], name: str) -> Repository:
        from github import GithubException

        if name not in repos:
            try:
                repos[name] = self.github(name).get_repo(name)
            except NotInstalledError as exc:
                repos[name] = exc
            except GithubException as exc:
                if exc.status != 404:
                    raise
                repos[name] = NotInstalledError(name)  # an installation that cannot see the repository
        found = repos[name]
        if isinstance(found, NotInstalledError):
            raise found
        return found

    def _post(
        self, group: Group, fingerprint: str, want: Wanted, repos: dict[str, Repository | NotInstalledError]
    ) -> Action:
        from github import GithubException

        try:
            repo = self._repo(repos, want.repository)
            try:
                commit = repo.get_commit(want.head_sha)  # GitHub's "get a commit": is it this repository's?
            except GithubException as exc:
                if exc.status not in (404, 422):
                    raise
                self.store.handled(group.path, fingerprint, "unknown-commit", repository=want.repository)
                return Action("unknown-commit", group.path, want.repository,
                              detail=f"{want.head_sha[:12]} is not a commit of {want.repository}: skipped")  # fmt: skip
            existing = next(
                (run for run in commit.get_check_runs(check_name=want.name) if run.external_id == want.external_id),
                None,
            )
            if existing is not None:
                existing.edit(**want.fields())
                kind, number = "updated", int(existing.id)
            else:
                created = repo.create_check_run(name=want.name, head_sha=want.head_sha, **want.fields())
                kind, number = "created", int(created.id)
        except NotInstalledError:
            self.store.handled(group.path, fingerprint, "not-installed", repository=want.repository)
            return Action("not-installed", group.path, want.repository,
                          detail="the GitHub App is not installed there: skipped")  # fmt: skip
        except app_client.github_errors() as exc:
            return Action("failed", group.path, want.repository, detail=str(exc)[:500])
        self.store.handled(group.path, fingerprint, "posted", repository=want.repository, check_run=number,
                           external_id=want.external_id)  # fmt: skip
        return Action(kind, group.path, want.repository, number, f"{want.name}: {want.conclusion or want.status}")

    # -- startup -------------------------------------------------------------------------------------------
    def check_soon(self, snapshot: Snapshot) -> None:
        """Check ``snapshot`` on a thread of its own (the app's first snapshot; starting must not wait on GitHub)."""

        def run() -> None:
            try:
                self.check(snapshot)
            except Exception:  # a thread of its own: nobody else would log it
                log.exception("check runs: the check of status commit %s failed", snapshot.commit)

        thread = threading.Thread(target=run, name="crosscloud-check-runs", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> bool:
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)


def poster(app: Flask) -> CheckRunPoster | None:
    """The app's ``CheckRunPoster``, or None when check runs are off."""
    found: CheckRunPoster | None = app.extensions.get(EXTENSION)
    return found


def register(app: Flask) -> None:
    """Post check runs from the app's ``StatusState`` snapshots when the GitHub App is configured (``APP_ID``
    and a private key); otherwise they are off, and the log says why. Each repository's installation is
    looked up (``GET /repos/{owner}/{repo}/installation``), so one App serves every project that installs it."""
    if not app_client.is_configured(app, "check runs"):
        return
    state: StatusState = app.extensions[STATE]

    def client(repository: str) -> Github:
        from github import GithubException

        gh = app_client.from_settings(app)
        try:
            installation = gh.installation_for(repository)
        except GithubException as exc:
            if exc.status == 404:
                raise NotInstalledError(repository) from None
            raise
        return gh.client(installation)

    def record(entry: Entry) -> Record:
        with state.query() as index:
            return index.record(entry)

    poster = CheckRunPoster(CheckRunStore(settings.mirror_dir(app) / FILENAME), client, record,
                            public_url=app.config.get("PUBLIC_URL") or None)  # fmt: skip
    app.extensions[EXTENSION] = poster
    state.add_listener(poster.on_snapshot)
    if state.ready:
        poster.check_soon(state.snapshot())
