"""``crosscloud status``, ``history`` and ``rollback-target``: what the status repository says.

``rollback-target`` prints the last success of one cell (the release to roll back to) and since when the
cell is red. It exits 0 when there is a success to roll back to, and ``NO_SUCCESS_EXIT`` (3) with one line
on stderr when the cell never succeeded (or has no result): a script can tell "nothing to roll back to"
from bad input (2) and from an operational failure (1)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from crosscloud.cell_rules import VIEW_STAGES
from crosscloud.cli.cell_options import add_cell_options, cell_from_args
from crosscloud.cli.repo_options import add_repo_options, index_from_args
from crosscloud.errors import BadInputError
from crosscloud.vocabulary import ARCHES, RELEASES, STAGES, check_name

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands

NO_SUCCESS_EXIT: Final = 3
DEFAULT_STAGE: Final = "e2e"
"""What ``rollback-target`` asks by default: the last release that passed its end-to-end tests."""


def register(commands: Commands) -> None:
    p = commands.add_parser("status", help="print the grid", description="Print every cell of the dashboard.")
    add_repo_options(p)
    p.add_argument("--kubernetes", choices=RELEASES, default="stable", help="test environment (default stable)")
    p.add_argument("--arch", choices=ARCHES, help="default: each project's first arch")
    p.add_argument(
        "--stage", choices=VIEW_STAGES, default="deploy",
        help="what the cloud columns show, as the dashboard's views (default deploy; build has no cloud columns)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("history", help="print a cell's history", description="Print the results of the "
                            "matching cells, newest first: finished results, and a run in progress while it "
                            "runs.")  # fmt: skip
    add_repo_options(p)
    p.add_argument("--project", required=True)
    p.add_argument("--release", choices=RELEASES)
    p.add_argument("--cloud")
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--arch", choices=ARCHES)
    p.add_argument("--kubernetes", choices=(*RELEASES, "host"), help="test environment")
    p.add_argument("--limit", type=int, default=50, help="at most this many results (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)

    p = commands.add_parser(
        "rollback-target",
        help="print the last green release of a cell",
        description="Print the last success of a cell (ref, sha, time, job link): the release to roll back "
        f"to, and since when the cell fails. Exits {NO_SUCCESS_EXIT} when the cell never succeeded.",
    )
    add_repo_options(p)
    add_cell_options(p)
    p.add_argument(
        "--stage",
        choices=[s for s in STAGES if s != "build"],
        default=DEFAULT_STAGE,
        help=f"which stage must have passed (default {DEFAULT_STAGE})",
    )
    p.add_argument("--window", type=int, default=None, metavar="RUNS", help="flakiness window (default 30 runs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_rollback_target)


def cmd_status(args: argparse.Namespace) -> int:
    from crosscloud import grid_text
    from crosscloud.cell_rules import build_grid

    index = index_from_args(args)
    config = index.config()
    now = datetime.now(UTC)
    grid = build_grid(config, index.current(), now=now, kubernetes=args.kubernetes, arch=args.arch, stage=args.stage)
    if args.json:
        print(json.dumps(grid_text.grid_json(grid, index.commit), indent=2))
    else:
        print(grid_text.grid_table(grid, repo=args.repo, commit=index.commit or ""))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from crosscloud import grid_text
    from crosscloud.insight import self_provisioning
    from crosscloud.insight_text import insight_lines
    from crosscloud.result_history import results

    if args.limit < 1:
        raise BadInputError("--limit must be at least 1")
    index = index_from_args(args)
    config = index.config()
    config.project(check_name("project", args.project))
    if args.cloud is not None:
        config.cloud(check_name("cloud", args.cloud))
    entries = results(
        index,
        index.current(),
        args.limit,
        project=args.project,
        release=args.release,
        cloud=args.cloud,
        stage=args.stage,
        arch=args.arch,
        environment=args.kubernetes,
    )
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    print(grid_text.history_table(entries))
    lines = insight_lines(index, [e.key for e in entries], config.flakiness_window, self_provisioning(config))
    if lines:  # per cell: since when it fails, the last green release, flakiness
        print("\n" + "\n".join(lines))
    return 0


def cmd_rollback_target(args: argparse.Namespace) -> int:
    from crosscloud.insight import DEFAULT_WINDOW, insight_of, self_provisioning
    from crosscloud.insight_text import nothing_to_roll_back_to, rollback_lines

    window = DEFAULT_WINDOW if args.window is None else args.window
    if window < 1:
        raise BadInputError("--window must be at least 1")
    index = index_from_args(args)
    config = index.config()
    _, key, _ = cell_from_args(config, args, args.stage)
    found = insight_of(index, key, window, self_provisioning(config))
    if args.json:
        print(json.dumps(found.as_dict() if found else {**key.as_dict(), "last_success": None}, indent=2))
    elif found and found.last_success:
        print("\n".join(rollback_lines(found)))
    if found is None or found.last_success is None:
        print(f"crosscloud: {nothing_to_roll_back_to(key, found)}", file=sys.stderr)
        return NO_SUCCESS_EXIT
    return 0
