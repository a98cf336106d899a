"""``crosscloud record`` and ``crosscloud import junit``: results into the status repository.

``record`` writes one cell from options, or record FILEs in one commit. ``import junit`` turns the JUnit
XML FILEs of one test run into one e2e record of one cell and writes it in one commit (see
``crosscloud.junit``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosscloud.cli.cell_options import add_cell_options
from crosscloud.cli.repo_options import add_repo_options, print_write_result, remote_from_args
from crosscloud.errors import BadInputError, RecordError, UnknownNameError
from crosscloud.provenance import run_provenance
from crosscloud.vocabulary import ARCHES, RELEASES, STAGES, STATUSES, check_name

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands
    from crosscloud.status_repo.writer import StatusRepoWriter

CELL_OPTIONS: tuple[str, ...] = ("project", "release", "stage", "cloud", "status", "ref", "sha", "url", "reason",
                                 "arch", "kubernetes", "kubernetes_version", "started_at", "finished_at")  # fmt: skip
"""The options of ``record`` that describe one result (given instead of record FILEs)."""


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "record",
        help="record results",
        description="Record one cell from options, or record JSON record FILEs in one commit.",
    )
    add_repo_options(p)
    p.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="result record files (JSON); a directory stands for its *.json files (a night of a "
        "fan-in recorder is more files than a command line holds)",
    )
    p.add_argument("--project")
    p.add_argument("--release", choices=RELEASES)
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--cloud", help="the cloud (not for a build)")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--arch", choices=ARCHES, help="default: the project's first arch")
    p.add_argument("--kubernetes", choices=RELEASES, help="Kubernetes release of the test cluster (default stable)")
    p.add_argument("--kubernetes-version", metavar="VERSION", help="e.g. v1.31.2")
    p.add_argument("--ref")
    p.add_argument("--sha")
    p.add_argument("--url", help="the job that produced the result")
    p.add_argument("--reason", help="a short reason (for anything but success)")
    p.add_argument("--started-at", metavar="TIME", help="RFC 3339 (default: now)")
    p.add_argument("--finished-at", metavar="TIME", help="RFC 3339 (default: now, none while running)")
    p.set_defaults(func=cmd_record)

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
    add_repo_options(j)
    add_cell_options(j)
    j.add_argument("--url", help="the job that ran the tests")
    j.add_argument("--ref", help="default: the release's ref in cross-cloud.yml")
    j.add_argument("--sha")
    j.set_defaults(func=cmd_import_junit)


def cmd_record(args: argparse.Namespace) -> int:
    from crosscloud.records import Record, check_not_ahead
    from crosscloud.status_repo.writer import StatusRepoWriter, check_names

    given = [name for name in CELL_OPTIONS if getattr(args, name) is not None]
    writer = StatusRepoWriter(remote_from_args(args))
    if args.files:
        if given:
            raise BadInputError(f"give record FILEs or --{given[0].replace('_', '-')} and friends, not both")
        files = [f for path in args.files for f in (_record_files_in(path) if path.is_dir() else [path])]
        records = [Record.from_json(_read_record_file(path), source=str(path)) for path in files]
        now = datetime.now(UTC)
        config = writer.config()
        for path, record in zip(files, records, strict=True):
            check_not_ahead(record, now, source=str(path))
            try:
                check_names([record], config)
            except UnknownNameError as exc:  # the file is at fault, judged against the repository's configuration
                raise RecordError(str(exc), source=str(path), field=exc.kind) from None
            except BadInputError as exc:
                raise RecordError(str(exc), source=str(path)) from None
    else:
        missing = [f"--{n}" for n in ("project", "release", "stage", "status") if getattr(args, n) is None]
        if missing:
            raise BadInputError(f"record needs {', '.join(missing)} (or record FILEs)")
        records = [Record.from_dict(_record_from_options(args, writer), source="command line")]
        check_not_ahead(records[0], datetime.now(UTC), source="command line")
    print_write_result(writer.write(records), writer.remote)
    return 0


def _record_files_in(directory: Path) -> list[Path]:
    """The record files (``*.json``) of a directory given as FILE, in name order; none is an error."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise BadInputError(f"{directory}: cannot read: a directory with no record files (*.json)")
    return files


def _read_record_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror}") from None


def _now() -> str:
    from crosscloud.records import format_time

    return format_time(datetime.now(UTC))


def _default_finish(started: str) -> str:
    """Now, or the start when it lies in the future (a clock skew must not make the record invalid).
    An unparsable start is left for the record's validation to report."""
    from crosscloud.records import format_time, parse_time

    now = datetime.now(UTC)
    try:
        return format_time(max(now, parse_time(started)))
    except ValueError:
        return format_time(now)


def _record_from_options(args: argparse.Namespace, writer: StatusRepoWriter) -> dict[str, Any]:
    """A record from ``crosscloud record --project ...``; defaults come from the repository's config."""
    check_name("project", args.project)
    config = writer.config()
    project = config.project(args.project)
    kubernetes = None
    if args.stage == "build":
        if args.cloud is not None:
            raise BadInputError("a build runs on no cloud: drop --cloud")
    else:
        if args.cloud is None:
            raise BadInputError(f"a {args.stage} result needs --cloud (one of {', '.join(config.clouds)})")
        check_name("cloud", args.cloud)
        if config.cloud(args.cloud).kubernetes:
            kubernetes = {"release": args.kubernetes or "stable", "version": args.kubernetes_version}
        elif args.kubernetes or args.kubernetes_version:
            raise BadInputError(f"cloud {args.cloud} runs projects on the host: drop --kubernetes")
    started = args.started_at or _now()
    finished = None if args.status == "running" else (args.finished_at or _default_finish(started))
    data: dict[str, Any] = {
        "schema_version": 1,
        "project": args.project,
        "release": args.release,
        "ref": args.ref or project.ref(args.release),
        "sha": args.sha,
        "stage": args.stage,
        "cloud": args.cloud,
        "arch": args.arch or project.arch[0],
        "kubernetes": kubernetes,
        "status": args.status,
        "reason": args.reason,
        "started_at": started,
        "finished_at": finished,
        "url": args.url,
        "run": run_provenance(),
    }
    return data


def cmd_import_junit(args: argparse.Namespace) -> int:
    from crosscloud.junit import junit_record, read_junit
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
    print_write_result(writer.write([record]), writer.remote)
    return 0
