"""GitHub issues for cells that keep failing: opened after N failures in a row, closed when green again.

After each snapshot of a new status repository commit (``StatusState.add_listener``), every cell of an
active project with a ``repository``, on an active cloud, is looked at through its insight
(``crosscloud.insight``):

- ``alert_after_failures`` consecutive failures (default 3, TestGrid's ``num_failures_to_alert``) and no
  issue for this streak yet: one issue on the project's repository, as the GitHub App installation, with
  the cell, since when it fails, the last green release to roll back to and links to the dashboard and the
  failing job. Its body starts with a hidden marker naming the cell's file, and it carries the label
  ``cross-cloud-ci``: before opening, the open issues with that label are searched for the marker, so a
  lost or fresh store adopts the issue it finds instead of opening a second one.
- further failures: a comment, at most one per ``COMMENT_INTERVAL`` per issue (people read issues, they
  do not need every night repeated);
- green again (or a new streak began, so it was green in between): a closing comment, and the issue is
  closed. An issue somebody closed by hand while the cell still failed is left closed for that streak.
- the cell is no longer followed (its project or cloud was removed or deactivated, or lost its
  repository; its results were deleted): a comment saying why, and the issue is closed.

What was done is kept in ``failure_issue_store`` (beside the mirror), so a restart, the same commit seen
twice or a redelivered webhook does nothing new. A GitHub error is logged and the cell is left as it was in
the store, so the next snapshot tries again; it never breaks the refresh."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlencode

from flask import Flask

from crosscloud import layout
from crosscloud.config import Config, Project
from crosscloud.insight import CellInsight, RunRef
from crosscloud.presentation import ERROR, word
from crosscloud.records import CellKey
from crosscloud.status_repo.reader import Entry
from crosscloud.vocabulary import NO_KUBERNETES
from crosscloud_app.github_app import app_client
from crosscloud_app.github_app.failure_issue_store import FILENAME, Alert, AlertStore
from crosscloud_app.web import metrics, settings
from crosscloud_app.web.status_state import EXTENSION as STATE
from crosscloud_app.web.status_state import Snapshot, StatusState

if TYPE_CHECKING:
    from github import Github
    from github.Issue import Issue
    from github.Repository import Repository

log = logging.getLogger(__name__)

EXTENSION: Final = "crosscloud.alerts"
LABEL: Final = "cross-cloud-ci"
COMMENT_INTERVAL: Final = timedelta(days=1)
TITLE_PREFIX: Final = "Cross-Cloud CI:"

metrics.describe("crosscloud_alerts_total", "What the failure alerts did on GitHub, by action.")

GitHubFor = Callable[[str], "Github"]
"""A client authenticated for a repository (owner/name): the App installation that covers it."""


def marker(cell_path: str) -> str:
    """The hidden line that names an issue's cell, so the issue can be found again without the store."""
    return f"<!-- cross-cloud-ci cell: {cell_path} -->"


@dataclass(frozen=True)
class Action:
    """One thing an alert pass did (or failed to do) for one cell."""

    kind: str
    """``opened``, ``found`` (an open issue with the cell's marker), ``commented``, ``closed``, ``dismissed``
    (closed on GitHub by somebody else) or ``failed`` (GitHub answered an error; tried again next time)."""
    cell: str
    repository: str
    issue: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.repository}#{self.issue}" if self.issue else self.repository
        return f"{self.kind} {where} for {self.cell}" + (f": {self.detail}" if self.detail else "")


# -- words ---------------------------------------------------------------------------------------------------
def cell_label(key: CellKey, config: Config) -> str:
    """``etcd stable deploy on aws``: the cell as people say it (the arch when the project has several, the
    Kubernetes release when it is not the stable one)."""
    words = f"{key.project} {key.release} {key.stage}"
    if key.cloud:
        words += f" on {key.cloud}"
    project = config.projects.get(key.project)
    if project is not None and len(project.arch) > 1:
        words += f" ({key.arch})"
    if key.environment not in (None, NO_KUBERNETES, "stable"):
        words += f" with Kubernetes {key.environment}"
    return words


def dashboard_url(public_url: str | None, key: CellKey) -> str | None:
    """The dashboard page of the cell (its project page for a build), under ``PUBLIC_URL``."""
    if not public_url:
        return None
    base = public_url.rstrip("/") + "/projects/" + quote(key.project, safe="")
    if key.cloud is None:
        return base
    query = {}
    if key.environment not in (None, NO_KUBERNETES):
        query["kubernetes"] = str(key.environment)
    query["arch"] = key.arch
    return f"{base}/{quote(key.release, safe='')}/{quote(key.cloud, safe='')}?{urlencode(query)}"


def code_span(text: str) -> str:
    """``text`` as a Markdown code span: nothing in it renders (no links, no mentions, no HTML)."""
    flat = " ".join(text.split())
    fence = "`"
    while fence in flat:
        fence += "`"
    return f"{fence} {flat} {fence}"


def markdown_link(label: str, url: str | None) -> str:
    if url and url.startswith(("https://", "http://")) and not any(c in url for c in " <>()[]"):
        return f"[{label}]({url})"
    return label


def _day(time: str) -> str:
    return time[:10] if len(time) >= 10 else time


def _run(run: RunRef) -> str:
    return f"{run.time} ({markdown_link('job', run.url)})" if run.url else run.time


def _release(run: RunRef, project: Project | None) -> str:
    words = code_span(run.label())
    commit = project.commit_url(run.sha) if project is not None and run.sha else None
    links = [link for link in (markdown_link("commit", commit) if commit else None,
                               markdown_link("job", run.url) if run.url else None) if link]  # fmt: skip
    return f"{words} at {run.time}" + (f" ({', '.join(links)})" if links else "")


def issue_title(key: CellKey, config: Config, found: CellInsight) -> str:
    since = _day(found.failing_since.time) if found.failing_since else "now"
    return f"{TITLE_PREFIX} {cell_label(key, config)} failing since {since}"


def issue_body(key: CellKey, config: Config, found: CellInsight, latest: Entry | None, public_url: str | None) -> str:
    project = config.projects.get(key.project)
    path = layout.cell_path(key)
    lines = [
        marker(path),
        f"**{cell_label(key, config)}** has failed {found.consecutive_failures} times in a row"
        + (f" (failure kind: {found.failure_kind})." if found.failure_kind else "."),
        "",
        f"- Cell: `{path}`",
    ]
    if found.failing_since is not None:
        lines.append(f"- Failing since: {_run(found.failing_since)}")
    if latest is not None and latest.status:
        lines.append(
            f"- Latest result: {word(latest.status)} at {latest.finished_at or latest.started_at}"
            + (f", {markdown_link('failing job', latest.url)}" if latest.url else "")
            + (f": {code_span(latest.reason)}" if latest.reason else "")
        )
    if found.last_success is not None:
        lines.append(f"- Last green release (rollback target): {_release(found.last_success, project)}")
    else:
        lines.append("- Last green release: none, this cell has never passed")
    page = dashboard_url(public_url, key)
    if page:
        lines.append(f"- Dashboard: {markdown_link('the cell', page)}")
    lines += [
        "",
        f"Opened by Cross-Cloud CI after {config.alert_after_failures} consecutive failures. It comments at most "
        "once a day while the cell keeps failing, and closes this issue when the cell is green again.",
    ]
    return "\n".join(lines)


def still_failing_comment(key: CellKey, config: Config, found: CellInsight, latest: Entry | None, new: int) -> str:
    when = (latest.finished_at or latest.started_at) if latest is not None else None
    words = (
        f"Still failing: {new} more failure{'s' if new != 1 else ''}, {found.consecutive_failures} in a row"
        + (f" since {found.failing_since.time}" if found.failing_since else "")
        + "."
    )
    if latest is not None and when:
        words += f" Latest: {word(latest.status or ERROR)} at {when}"
        words += f" ({markdown_link('job', latest.url)})" if latest.url else ""
        words += f": {code_span(latest.reason)}" if latest.reason else "."
    return words


def green_comment(key: CellKey, config: Config, found: CellInsight) -> str:
    project = config.projects.get(key.project)
    words = f"**{cell_label(key, config)}** is green again"
    if found.last_success is not None:
        words += f": {_release(found.last_success, project)}"
    words += "."
    if found.consecutive_failures and found.failing_since is not None:
        words += f" It has failed again since {found.failing_since.time}; a new streak gets its own issue."
    return words + " Closing."


def untracked_reason(snapshot: Snapshot, cell_path: str) -> str:
    """Why the alerts no longer follow the cell of ``cell_path``, in words for a closing comment."""
    key = layout.parse_cell_path(cell_path)
    if key is None:
        return f"`{cell_path}` is not a cell's file any more"
    project = snapshot.config.projects.get(key.project)
    if project is None:
        return f"project {key.project} was removed from cross-cloud.yml"
    if not project.active:
        return f"project {key.project} was deactivated in cross-cloud.yml"
    if not project.repository:
        return f"project {key.project} names no repository in cross-cloud.yml any more"
    if key.cloud is not None:
        cloud = snapshot.config.clouds.get(key.cloud)
        if cloud is None:
            return f"cloud {key.cloud} was removed from cross-cloud.yml"
        if not cloud.active:
            return f"cloud {key.cloud} was deactivated in cross-cloud.yml"
    return f"the results of `{cell_path}` were deleted from the status repository"


# -- one pass ------------------------------------------------------------------------------------------------
class _Repo:
    """One repository during one pass: its PyGithub object and its open alert issues by marker (listed once)."""

    def __init__(self, gh: Github, name: str):
        self.repo: Repository = gh.get_repo(name)
        self._open: dict[str, Issue] | None = None

    def open_issues(self) -> dict[str, Issue]:
        if self._open is None:
            self._open = {}
            for issue in self.repo.get_issues(state="open", labels=[LABEL]):
                # pull requests are listed too; their page is /pull/ (``pull_request`` is only in their
                # listing, and asking an issue for it would fetch the issue again)
                if "/pull/" in (issue.html_url or ""):
                    continue
                first = (issue.body or "").lstrip().split("\n", 1)[0].strip()
                if first.startswith("<!-- cross-cloud-ci cell: ") and first not in self._open:
                    self._open[first] = issue
        return self._open


class Alerter:
    """Looks at snapshots and keeps one GitHub issue per failing streak (see the module doc)."""

    def __init__(
        self,
        store: AlertStore,
        github: GitHubFor,
        *,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.store = store
        self.github = github
        self.public_url = public_url
        self.clock = clock
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """The ``StatusState`` listener."""
        self.check(snapshot)

    def check(self, snapshot: Snapshot) -> list[Action]:
        """One pass over every cell of ``snapshot``; returns what it did. GitHub errors are caught per cell."""
        with self._lock:
            now = self.clock()
            repos: dict[str, _Repo] = {}
            actions: list[Action] = []
            tracked: set[str] = set()
            for key, found in self._cells(snapshot):
                tracked.add(layout.cell_path(key))
                project = snapshot.config.projects[key.project]
                assert project.repository is not None
                path = layout.cell_path(key)
                try:
                    done = self._check_cell(snapshot, key, found, project.repository, repos, now)
                except app_client.github_errors() as exc:
                    done = [Action("failed", path, project.repository, detail=str(exc)[:500])]
                for action in done:
                    metrics.inc("crosscloud_alerts_total", {"action": action.kind})
                    (log.warning if action.kind == "failed" else log.info)("alerts: %s", action)
                actions += done
            for alert in self.store.all():
                if alert.state != "open" or alert.cell in tracked:
                    continue
                try:
                    gone = self._close_untracked(snapshot, alert, repos, now)
                except app_client.github_errors() as exc:
                    gone = Action("failed", alert.cell, alert.repository, alert.issue, detail=str(exc)[:500])
                metrics.inc("crosscloud_alerts_total", {"action": gone.kind})
                (log.warning if gone.kind == "failed" else log.info)("alerts: %s", gone)
                actions.append(gone)
            return actions

    def _close_untracked(self, snapshot: Snapshot, alert: Alert, repos: dict[str, _Repo], now: datetime) -> Action:
        """Close the open issue of a cell the alerts no longer look at (its project or cloud was removed or
        deactivated, its results deleted), with a comment saying why: otherwise it stays open for ever."""
        why = untracked_reason(snapshot, alert.cell)
        issue = self._repo(repos, alert.repository).repo.get_issue(alert.issue)
        if issue.state == "closed":
            self.store.closed(alert, now)
            return Action("closed", alert.cell, alert.repository, alert.issue, "already closed on GitHub")
        issue.create_comment(f"Closing: {why}, so Cross-Cloud CI no longer follows this cell.")
        issue.edit(state="closed", state_reason="not_planned")
        self.store.closed(alert, now)
        return Action("closed", alert.cell, alert.repository, alert.issue, why)

    def _cells(self, snapshot: Snapshot) -> Iterator[tuple[CellKey, CellInsight]]:
        config = snapshot.config
        for key in sorted(snapshot.insight, key=layout.cell_path):
            project = config.projects.get(key.project)
            if project is None or not project.active or not project.repository:
                continue
            if key.cloud is not None:
                cloud = config.clouds.get(key.cloud)
                if cloud is None or not cloud.active:
                    continue
            yield key, snapshot.insight[key]

    def _repo(self, repos: dict[str, _Repo], name: str) -> _Repo:
        if name not in repos:
            repos[name] = _Repo(self.github(name), name)
        return repos[name]

    def _check_cell(
        self,
        snapshot: Snapshot,
        key: CellKey,
        found: CellInsight,
        repository: str,
        repos: dict[str, _Repo],
        now: datetime,
    ) -> list[Action]:
        config = snapshot.config
        path = layout.cell_path(key)
        alert = self.store.open_alert(path)
        streak = found.failing_since.commit if found.failing_since is not None else None
        done: list[Action] = []
        if alert is not None and (found.green or (streak is not None and streak != alert.streak)):
            done.append(self._close(snapshot, key, found, alert, repos, now))
            alert = None
        if not found.alerting(config.alert_after_failures) or streak is None:
            return done
        if alert is None:
            if self.store.get(path, streak) is not None:
                return done  # this streak's issue was closed already (by hand): not again
            done.append(self._open(snapshot, key, found, streak, repository, repos, now))
            return done
        new = found.consecutive_failures - alert.reported_failures
        if new <= 0 or now - alert.told_at < COMMENT_INTERVAL:
            return done
        issue = self._repo(repos, alert.repository).repo.get_issue(alert.issue)
        if issue.state == "closed":
            self.store.closed(alert, now, dismissed=True)
            return [*done, Action("dismissed", path, alert.repository, alert.issue)]
        latest = snapshot.current.get(key)
        issue.create_comment(still_failing_comment(key, config, found, latest, new))
        self.store.told(alert, found.consecutive_failures, now)
        return [*done, Action("commented", path, alert.repository, alert.issue, f"{new} new failures")]

    def _open(
        self,
        snapshot: Snapshot,
        key: CellKey,
        found: CellInsight,
        streak: str,
        repository: str,
        repos: dict[str, _Repo],
        now: datetime,
    ) -> Action:
        path = layout.cell_path(key)
        repo = self._repo(repos, repository)
        existing = repo.open_issues().get(marker(path))
        if existing is not None:
            self.store.opened(path, streak, repository, existing.number, existing.html_url,
                              found.consecutive_failures, now)  # fmt: skip
            return Action("found", path, repository, existing.number, "open issue with the cell's marker")
        config = snapshot.config
        issue = repo.repo.create_issue(
            title=issue_title(key, config, found),
            body=issue_body(key, config, found, snapshot.current.get(key), self.public_url),
            labels=[LABEL],
        )
        repo.open_issues()[marker(path)] = issue
        self.store.opened(path, streak, repository, issue.number, issue.html_url, found.consecutive_failures, now)
        return Action("opened", path, repository, issue.number, issue.html_url)

    def _close(
        self,
        snapshot: Snapshot,
        key: CellKey,
        found: CellInsight,
        alert: Alert,
        repos: dict[str, _Repo],
        now: datetime,
    ) -> Action:
        issue = self._repo(repos, alert.repository).repo.get_issue(alert.issue)
        if issue.state == "closed":
            self.store.closed(alert, now)
            return Action("closed", alert.cell, alert.repository, alert.issue, "already closed on GitHub")
        issue.create_comment(green_comment(key, snapshot.config, found))
        issue.edit(state="closed", state_reason="completed")
        self.store.closed(alert, now)
        return Action("closed", alert.cell, alert.repository, alert.issue, "green again")

    # -- startup -------------------------------------------------------------------------------------------
    def check_soon(self, snapshot: Snapshot) -> None:
        """Check ``snapshot`` on a thread of its own (the snapshot the app started with: its first refresh
        ran before the listener was added, and starting must not wait on GitHub)."""

        def run() -> None:
            try:
                self.check(snapshot)
            except Exception:  # a thread of its own: nobody else would log it
                log.exception("alerts: the check of status commit %s failed", snapshot.commit)

        thread = threading.Thread(target=run, name="crosscloud-alerts", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for the checks ``check_soon`` started; True when none is left running."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)


def alerter(app: Flask) -> Alerter | None:
    """The app's ``Alerter``, or None when alerts are off."""
    found: Alerter | None = app.extensions.get(EXTENSION)
    return found


def register(app: Flask) -> None:
    """The alerts as a listener of the app's ``StatusState`` when the GitHub App is configured (``APP_ID`` and
    a private key); otherwise alerts are off, and the log says why. ``/alerts.json`` (``crosscloud_app.api``)
    shows what they keep."""
    if not app_client.is_configured(app, "alerts"):
        return

    def client(repository: str) -> Github:
        return app_client.from_settings(app).for_repository(repository)

    public_url = app.config.get("PUBLIC_URL")
    if not public_url:
        log.info("alerts: no %s_PUBLIC_URL, so issues link no dashboard page", settings.ENV_PREFIX)
    alerter = Alerter(AlertStore(settings.mirror_dir(app) / FILENAME), client, public_url=public_url or None)
    app.extensions[EXTENSION] = alerter
    state: StatusState = app.extensions[STATE]
    state.add_listener(alerter.on_snapshot)
    if state.ready:
        alerter.check_soon(state.snapshot())
