"""``crosscloud rollback-target`` and ``crosscloud import junit``: the insight and JUnit commands.

``rollback-target`` prints the last success of one cell (the release to roll back to) and since when the
cell is red. It exits 0 when there is a success to roll back to, and ``NO_SUCCESS_EXIT`` (3) with one line
on stderr when the cell never succeeded (or has no result): a script can tell "nothing to roll back to"
from bad input (2) and from an operational failure (1).

``import junit`` turns the JUnit XML FILEs of one test run into one e2e record of one cell and writes it
in one commit (see ``crosscloud.junit``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crosscloud.vocabulary import ARCHES, RELEASES, STAGES

TOKEN_ENV = "CROSSCLOUD_TOKEN"  # noqa: S105 - the name of a variable, not a secret
NO_SUCCESS_EXIT = 3
DEFAULT_STAGE = "e2e"
"""What ``rollback-target`` asks by default: the last release that passed its end-to-end tests."""


def _repo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the status repository")
    p.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the token for an https remote (default {TOKEN_ENV})",
    )


def _cell_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", required=True)
    p.add_argument("--release", required=True, choices=RELEASES)
    p.add_argument("--cloud", required=True)
    p.add_argument("--arch", choices=ARCHES, help="default: the project's first arch")
    p.add_argument(
        "--kubernetes",
        choices=RELEASES,
        help="Kubernetes release of the test cluster (default stable; none on a cloud without Kubernetes)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "rollback-target",
        help="print the last green release of a cell",
        description="Print the last success of a cell (ref, sha, time, job link): the release to roll back "
        f"to, and since when the cell fails. Exits {NO_SUCCESS_EXIT} when the cell never succeeded.",
    )
    _repo_options(p)
    _cell_options(p)
    p.add_argument(
        "--stage",
        choices=[s for s in STAGES if s != "build"],
        default=DEFAULT_STAGE,
        help=f"which stage must have passed (default {DEFAULT_STAGE})",
    )
    p.add_argument("--window", type=int, default=None, metavar="RUNS", help="flakiness window (default 30 runs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_rollback_target)

    p = commands.add_parser(
        "import", help="record results from other CI systems", description="Turn other CI systems' results "
        "into records."
    )  # fmt: skip
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    j = formats.add_parser(
        "junit",
        help="JUnit XML files of one test run, as one e2e record",
        description="Read JUnit XML FILEs (Jenkins, pytest, go-junit-report, Kubernetes e2e ginkgo) of one "
        "test run and record them as the e2e result of one cell, in one commit: failed when a test case "
        "failed or errored (or none ran), the counts and the first failing cases in the reason.",
    )
    j.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _repo_options(j)
    _cell_options(j)
    j.add_argument("--url", help="the job that ran the tests")
    j.add_argument("--ref", help="default: the release's ref in cross-cloud.yml")
    j.add_argument("--sha")
    j.set_defaults(func=cmd_import_junit)


def _cell(config: Any, args: argparse.Namespace, stage: str) -> tuple[Any, Any, dict[str, Any] | None]:
    """(project, CellKey, kubernetes field of a record) of the cell the options name, checked against the
    configuration (``crosscloud.junit.resolve_cell``, which the app's JUnit endpoint uses too)."""
    from crosscloud.junit import resolve_cell

    return resolve_cell(
        config, project=args.project, release=args.release, cloud=args.cloud, stage=stage, arch=args.arch,
        kubernetes=args.kubernetes,
    )  # fmt: skip


def cmd_rollback_target(args: argparse.Namespace) -> int:
    from crosscloud.errors import BadInputError
    from crosscloud.insight import DEFAULT_WINDOW, insight_of

    window = DEFAULT_WINDOW if args.window is None else args.window
    if window < 1:
        raise BadInputError("--window must be at least 1")
    from crosscloud.cli import index_from_args

    index = index_from_args(args)
    _, key, _ = _cell(index.config(), args, args.stage)
    found = insight_of(index, key, window)
    if args.json:
        print(json.dumps(found.as_dict() if found else {**key.as_dict(), "last_success": None}, indent=2))
    elif found and found.last_success:
        success = found.last_success
        print(f"{key}: roll back to {success.label()}")
        print(f"  last success  {success.time}")
        if success.url:
            print(f"  job           {success.url}")
        print(f"  recorded in   {success.commit[:12]}")
        if found.failing_since:
            since = found.failing_since
            print(f"  failing since {since.time} ({found.consecutive_failures} in a row, {found.failure_kind})")
        else:
            print("  the newest result is green")
    if found is None or found.last_success is None:
        what = "no result" if found is None else f"no success in its history (latest: {found.latest_status})"
        print(f"crosscloud: {key} has {what}: nothing to roll back to", file=sys.stderr)
        return NO_SUCCESS_EXIT
    return 0


def cmd_import_junit(args: argparse.Namespace) -> int:
    from crosscloud import layout
    from crosscloud.cli import remote_from_args
    from crosscloud.junit import junit_record, read_junit
    from crosscloud.provenance import run_provenance
    from crosscloud.status_repo.writer import StatusRepoWriter

    reports = [read_junit(path) for path in args.files]  # every file is checked before anything is written
    writer = StatusRepoWriter(remote_from_args(args))
    record = junit_record(
        reports,
        writer.config(),
        project=args.project,
        release=args.release,
        cloud=args.cloud,
        arch=args.arch,
        kubernetes=args.kubernetes,
        ref=args.ref,
        sha=args.sha,
        url=args.url,
        run=run_provenance(),
        now=datetime.now(UTC),
    )
    result = writer.write([record])
    for written in result.written:
        print(f"recorded: {written.summary()} ({written.data['reason']})")
    for same in result.unchanged:
        print(f"unchanged (already stored): {same.summary()}")
    for older in result.superseded:
        print(f"skipped, a newer result is stored: {older.summary()}")
    if result.commit:
        print(f"commit {result.commit[:12]} on {layout.BRANCH} of {writer.remote}")
    return 0
