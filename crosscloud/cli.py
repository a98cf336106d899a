"""The ``crosscloud`` command: create, check, record into and read a status repository.

Every command has ``--help``; bad input gets one clear line on stderr and exit status 2, an operational
failure (git, the network) exit status 1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crosscloud import __version__, layout
from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud.provenance import run_provenance
from crosscloud.vocabulary import ARCHES, RELEASES, STAGES, STATUSES, check_name

TOKEN_ENV = "CROSSCLOUD_TOKEN"  # noqa: S105 - the name of a variable, not a secret

COMMAND_MODULES: tuple[str, ...] = (
    "crosscloud.onboard",
    "crosscloud_app.trigger",
    "crosscloud_app.serve",
    "crosscloud.insight_cli",
)
"""Modules that add commands of their own: each has ``register(commands)``, which adds its parsers to the
subparsers of ``crosscloud`` and keeps its heavy imports inside the command's function."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosscloud",
        description="Cross-Cloud CI: record and read the results of CNCF projects on every cloud.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done (retries, timings)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def repo_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the status repository")
        p.add_argument(
            "--token-env",
            default=TOKEN_ENV,
            metavar="NAME",
            help=f"environment variable holding the token for an https remote (default {TOKEN_ENV})",
        )

    p = commands.add_parser(
        "init",
        help="create a status repository",
        description="Create a status repository seeded with status-data/ (README, LAYOUT.md, the nightly "
        "workflow) and a configuration: a new bare repository at a local PATH, or the first push to an "
        "existing, empty repository at a URL (https://github.com/ORG/NAME.git; token from --token-env).",
    )
    p.add_argument("--repo", required=True, metavar="PATH_OR_URL", help="where to create it")
    p.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the token for an https URL (default {TOKEN_ENV})",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="cross-cloud.yml to use (default: the embedded one)")
    p.add_argument("--exist-ok", action="store_true", help="succeed when it already is a status repository")
    p.add_argument(
        "--update-config",
        action="store_true",
        help="with --exist-ok: commit the configuration into the existing repository when it differs",
    )
    p.set_defaults(func=cmd_init)

    p = commands.add_parser("validate", help="check a configuration file", description="Check a cross-cloud.yml "
                            "against schema/config.schema.json.")  # fmt: skip
    p.add_argument("file", nargs="?", type=Path, default=Path(layout.CONFIG_PATH), help="default: ./cross-cloud.yml")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser(
        "record",
        help="record results",
        description="Record one cell from options, or record JSON record FILEs in one commit.",
    )
    repo_option(p)
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="result record files (JSON)")
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
        "run",
        help="run the matrix here",
        description="Run the build, provision, deploy and e2e stages of the matrix on this machine, in "
        "parallel, recording every cell through the same code path as the GitHub Action.",
    )
    p.add_argument("--repo", default="var/status.git", metavar="URL_OR_PATH", help="default: var/status.git")
    p.add_argument("--token-env", default=TOKEN_ENV, metavar="NAME", help=f"token variable (default {TOKEN_ENV})")
    p.add_argument("--config", type=Path, metavar="FILE", help="plan from this file (default: the repository's)")
    p.add_argument("--project", action="append", metavar="P", help="only these projects (repeatable)")
    p.add_argument("--cloud", action="append", metavar="C", help="only these clouds (repeatable)")
    p.add_argument("--release", action="append", choices=RELEASES, help="only these releases (repeatable)")
    p.add_argument(
        "--arch", action="append", choices=ARCHES, help="only these architectures (repeatable; default: this machine's)"
    )
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="jobs at once (default 2)")
    p.add_argument("--work-dir", type=Path, default=Path("var/work"), help="scratch space (default var/work)")
    p.add_argument("--log-dir", type=Path, default=Path("var/logs"), help="job logs (default var/logs)")
    p.add_argument("--fan-in", type=Path, metavar="DIR", help="write record files into DIR instead of committing")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("status", help="print the grid", description="Print every cell of the dashboard.")
    repo_option(p)
    p.add_argument("--kubernetes", choices=RELEASES, default="stable", help="test environment (default stable)")
    p.add_argument("--arch", choices=ARCHES, help="default: each project's first arch")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("history", help="print a cell's history", description="Print the results of the "
                            "matching cells, newest first.")  # fmt: skip
    repo_option(p)
    p.add_argument("--project", required=True)
    p.add_argument("--release", choices=RELEASES)
    p.add_argument("--cloud")
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--arch", choices=ARCHES)
    p.add_argument("--kubernetes", choices=(*RELEASES, "host"), help="test environment")
    p.add_argument("--limit", type=int, default=50, help="at most this many results (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)

    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="crosscloud: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except CrossCloudError as exc:
        for line in str(exc).splitlines() or ["failed"]:
            print(f"crosscloud: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("crosscloud: interrupted", file=sys.stderr)
        return 130


# -- commands -------------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from crosscloud.status_repo.seed import default_config_text, init_status_repo, seed_remote
    from crosscloud.status_repo.writer import StatusRepoWriter

    if args.update_config and not args.exist_ok:
        raise BadInputError("--update-config goes with --exist-ok")
    remote = remote_from_args(args)
    if remote.url.startswith(("https://", "http://")) and not remote.token:
        raise BadInputError(f"{remote} needs a token that may push to it: set {args.token_env}")
    if remote.local_path is not None and not remote.url.startswith("file://"):
        path = Path(args.repo)
        existed = path.exists()
        commit = init_status_repo(path, args.config, exist_ok=args.exist_ok)
    else:
        seeded = seed_remote(remote, args.config, exist_ok=args.exist_ok)
        existed, commit = not seeded.created, seeded.commit
        if seeded.created:
            print(f"seeded {remote} with {', '.join(seeded.files)}")
    if existed and args.update_config:
        text = args.config.read_bytes() if args.config else default_config_text()
        source = str(args.config or f"status-data/{layout.CONFIG_PATH}")
        result = StatusRepoWriter(remote).update_config(text, source)
        if result.commit:
            commit = result.commit
            print(f"updated {layout.CONFIG_PATH} of {args.repo}")
    print(f"status repository at {args.repo} (main at {commit[:12]})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from crosscloud.config import load_config

    config = load_config(args.file)
    projects, clouds = config.projects.values(), config.clouds.values()
    print(
        f"{args.file}: valid: {len(projects)} projects ({sum(p.active for p in projects)} active), "
        f"{len(clouds)} clouds ({sum(c.active for c in clouds)} active)"
    )
    return 0


def remote_from_args(args: argparse.Namespace) -> Any:
    from crosscloud.status_repo.git import Remote

    return Remote.parse(args.repo, os.environ.get(args.token_env) or None)


def cmd_record(args: argparse.Namespace) -> int:
    from crosscloud.records import Record
    from crosscloud.status_repo.writer import StatusRepoWriter

    cell_options = ("project", "release", "stage", "cloud", "status", "ref", "sha", "url", "reason", "arch",
                    "kubernetes", "kubernetes_version", "started_at", "finished_at")  # fmt: skip
    given = [name for name in cell_options if getattr(args, name) is not None]
    writer = StatusRepoWriter(remote_from_args(args))
    if args.files:
        if given:
            raise BadInputError(f"give record FILEs or --{given[0].replace('_', '-')} and friends, not both")
        records = [Record.from_json(_read_record_file(path), source=str(path)) for path in args.files]
    else:
        missing = [f"--{n}" for n in ("project", "release", "stage", "status") if getattr(args, n) is None]
        if missing:
            raise BadInputError(f"record needs {', '.join(missing)} (or record FILEs)")
        records = [Record.from_dict(_record_from_options(args, writer), source="command line")]
    result = writer.write(records)
    for record in result.written:
        print(f"recorded: {record.summary()}")
    for record in result.unchanged:
        print(f"unchanged (already stored): {record.summary()}")
    for record in result.superseded:
        print(f"skipped, a newer result is stored: {record.summary()}")
    if result.commit:
        print(f"commit {result.commit[:12]} on {layout.BRANCH} of {writer.remote} ({result.attempts} attempt(s))")
    return 0


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


def _record_from_options(args: argparse.Namespace, writer: Any) -> dict[str, Any]:
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


def cmd_run(args: argparse.Namespace) -> int:
    from crosscloud.config import load_config
    from crosscloud.status_repo.writer import StatusRepoWriter
    from crosscloud_action import matrix
    from crosscloud_action.pipeline import Pipeline
    from crosscloud_action.recording import DirectRecorder, FanInRecorder, Recorder

    if args.jobs < 1:
        raise BadInputError("--jobs must be at least 1")
    remote = remote_from_args(args)
    if remote.url.startswith(("https://", "http://")) and not remote.token:
        raise BadInputError(f"{remote} needs a token to push results: set {args.token_env}")
    writer = StatusRepoWriter(remote)
    config = load_config(args.config) if args.config else writer.config()
    the_plan = matrix.plan(config, projects=args.project, clouds=args.cloud, releases=args.release, arches=args.arch)
    if not the_plan.builds:
        raise BadInputError("nothing to run: no active project has a release that matches")
    recorder: Recorder = FanInRecorder(args.fan_in) if args.fan_in else DirectRecorder(writer)
    pipeline = Pipeline(config, recorder, workroot=args.work_dir.resolve(), log_dir=args.log_dir, run=run_provenance())
    print(
        f"running {the_plan.size} jobs ({len(the_plan.builds)} builds), {args.jobs} at a time; logs in {args.log_dir}"
    )
    outcomes = matrix.run(pipeline, the_plan, jobs=args.jobs)
    print()
    print(matrix.summary_table(outcomes))
    where = args.fan_in or remote
    print(f"\nresults recorded in {where}" + ("" if args.fan_in else f"; see: crosscloud status --repo {args.repo}"))
    if pipeline.cancel.is_set():
        return 130
    teardown = [e for o in outcomes for e in o.result.teardown_errors]
    for error in teardown:
        print(f"crosscloud: error: teardown: {error}", file=sys.stderr)
    return 0 if not teardown and all(o.result.status == "success" for o in outcomes) else 1


def index_from_args(args: argparse.Namespace) -> Any:
    """A ``StatusIndex`` of ``--repo``, fetched and refreshed (for the commands that read)."""
    from crosscloud.status_repo.mirror import Mirror
    from crosscloud.status_repo.reader import StatusIndex

    mirror = Mirror(remote_from_args(args))
    mirror.fetch()
    index = StatusIndex(mirror.git_dir)
    index.refresh()
    return index


def cmd_status(args: argparse.Namespace) -> int:
    from crosscloud import grid_text
    from crosscloud.cell_rules import build_grid

    index = index_from_args(args)
    config = index.config()
    grid = build_grid(config, index.current(), now=datetime.now(UTC), kubernetes=args.kubernetes, arch=args.arch)
    if args.json:
        print(json.dumps(grid_text.grid_json(grid, index.commit), indent=2))
    else:
        print(grid_text.grid_table(grid, repo=args.repo, commit=index.commit or ""))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from crosscloud import grid_text

    if args.limit < 1:
        raise BadInputError("--limit must be at least 1")
    index = index_from_args(args)
    config = index.config()
    config.project(check_name("project", args.project))
    if args.cloud is not None:
        config.cloud(check_name("cloud", args.cloud))
    entries = index.history(
        project=args.project,
        release=args.release,
        cloud=args.cloud,
        stage=args.stage,
        arch=args.arch,
        environment=args.kubernetes,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    from crosscloud.insight import insight_lines

    print(grid_text.history_table(entries))
    lines = insight_lines(index, [e.key for e in entries], config.flakiness_window)
    if lines:  # per cell: since when it fails, the last green release, flakiness
        print("\n" + "\n".join(lines))
    return 0
