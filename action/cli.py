"""The action's command: ``crosscloud run`` runs the matrix on this machine.

Added to ``crosscloud`` through the ``crosscloud.commands`` entry point ``run`` (``pyproject.toml``); the
core never imports this package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crosscloud.cli.repo_options import add_repo_options, remote_from_args
from crosscloud.errors import BadInputError
from crosscloud.provenance import run_provenance
from crosscloud.vocabulary import ARCHES, RELEASES

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands

DEFAULT_REPO = "var/status.git"


def register(commands: Commands) -> None:
    """Add ``run`` to the subcommands of ``crosscloud``."""
    p = commands.add_parser(
        "run",
        help="run the matrix here",
        description="Run the build, provision, deploy and e2e stages of the matrix on this machine, in "
        "parallel, recording every cell through the same code path as the GitHub Action.",
    )
    add_repo_options(p, default=DEFAULT_REPO)
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
