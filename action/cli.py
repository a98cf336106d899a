"""The action's commands: ``crosscloud run`` runs the matrix (or one shard of it) on this machine,
``crosscloud plan`` prints the night's plan as a GitHub Actions matrix of shards.

Added to ``crosscloud`` through the ``crosscloud.commands`` entry point ``run`` (which registers both,
``pyproject.toml``); the core never imports this package. Both choose cells through
``crosscloud_action.planning``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crosscloud.cli.repo_options import add_repo_options, remote_from_args
from crosscloud.errors import BadInputError
from crosscloud.provenance import run_provenance
from crosscloud.vocabulary import ARCHES, RELEASES

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands
    from crosscloud.config import Config
    from crosscloud_action.planning import Plan, Sharding

DEFAULT_REPO = "var/status.git"
PLAN_FILE = "plan.json"
PLAN_CONFIG = "cross-cloud.yml"
"""``crosscloud plan --out DIR`` writes these two files: what every shard job plans from."""
_FILTERS = ("project", "cloud", "release", "arch", "kubernetes")


def _add_filters(p: argparse.ArgumentParser, arch_default: str) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="plan from this file (default: the repository's)")
    p.add_argument("--project", action="append", metavar="P", help="only these projects (repeatable)")
    p.add_argument("--cloud", action="append", metavar="C", help="only these clouds (repeatable)")
    p.add_argument("--release", action="append", choices=RELEASES, help="only these releases (repeatable)")
    p.add_argument(
        "--arch",
        action="append",
        choices=ARCHES,
        help=f"only these architectures (repeatable; default: {arch_default})",
    )
    p.add_argument(
        "--kubernetes",
        action="append",
        choices=RELEASES,
        help="only these Kubernetes releases of the test clusters (repeatable; default both)",
    )
    p.add_argument(
        "--max-jobs", type=int, default=256, metavar="N", help="at most N shards (default 256, GitHub's matrix limit)"
    )


def register(commands: Commands) -> None:
    """Add ``run`` to the subcommands of ``crosscloud``."""
    p = commands.add_parser(
        "run",
        help="run the matrix here",
        description="Run the build, provision, deploy and e2e stages of the matrix on this machine, in "
        "parallel, recording every cell through the same code path as the GitHub Action.",
    )
    add_repo_options(p, default=DEFAULT_REPO)
    _add_filters(p, "this machine's; with --shard, every one")
    p.add_argument("--shard", metavar="I/N", help="run only shard I of the N of the plan (see crosscloud plan)")
    p.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="with --shard: the plan.json of 'crosscloud plan --out' (its "
        "configuration and filters; none may be given here)",
    )
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="jobs at once (default 2)")
    p.add_argument("--work-dir", type=Path, default=Path("var/work"), help="scratch space (default var/work)")
    p.add_argument("--log-dir", type=Path, default=Path("var/logs"), help="job logs (default var/logs)")
    p.add_argument("--fan-in", type=Path, metavar="DIR", help="write record files into DIR instead of committing")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser(
        "plan",
        help="print the night's plan as a GitHub Actions matrix",
        description="Choose the cells of a night (as 'crosscloud run' does, for every architecture) and cut "
        "them into at most --max-jobs shards balanced by the projects' timeout, one architecture each. "
        "Prints a table, or with --json the matrix for strategy.matrix: ${{ fromJSON(...) }}; each job then "
        "runs 'crosscloud run --plan DIR/plan.json --shard I/N'.",
    )
    add_repo_options(p, default=DEFAULT_REPO)
    _add_filters(p, "every one")
    p.add_argument("--json", action="store_true", help="print the matrix as one line of JSON (the table on stderr)")
    p.add_argument("--out", type=Path, metavar="DIR", help=f"write {PLAN_FILE} and {PLAN_CONFIG} into DIR")
    p.set_defaults(func=cmd_plan)


def _filters(args: argparse.Namespace) -> dict[str, list[str] | None]:
    return {name: getattr(args, name) for name in _FILTERS}


def _sharding(config: Config, filters: dict[str, list[str] | None], max_jobs: int) -> Sharding:
    from crosscloud_action import planning

    the_plan = planning.plan(
        config, projects=filters["project"], clouds=filters["cloud"], releases=filters["release"],
        arches=filters["arch"], kubernetes=filters["kubernetes"], every_arch=True,
    )  # fmt: skip
    if not the_plan.builds:
        raise BadInputError("nothing to run: no active project has a release that matches")
    return planning.shard(the_plan, max_jobs, filters)


def cmd_plan(args: argparse.Namespace) -> int:
    from crosscloud.config import load_config, parse_config
    from crosscloud.status_repo.writer import StatusRepoWriter

    if args.config:
        text, config = args.config.read_bytes(), load_config(args.config)
    else:
        text, _ = StatusRepoWriter(remote_from_args(args)).config_file()
        config = parse_config(text, f"{PLAN_CONFIG} of {args.repo}")
    sharding = _sharding(config, _filters(args), args.max_jobs)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / PLAN_CONFIG).write_bytes(text)
        (args.out / PLAN_FILE).write_text(sharding.to_json() + "\n", encoding="utf-8")
    if args.json:  # the matrix for a job output on stdout; the table for the log on stderr
        print(_plan_table(sharding), file=sys.stderr)
        print(json.dumps(sharding.matrix(), separators=(",", ":")))
        return 0
    print(_plan_table(sharding))
    return 0


def _plan_table(sharding: Sharding) -> str:
    rows = [["SHARD", "ARCH", "ROWS", "JOBS", "CELLS", "WORST CASE"]]
    for s in sharding.shards:
        part = sharding.plan.only(s.builds)
        rows.append([f"{s.number}/{s.of}", s.arch, str(len(s.builds)), str(part.size), str(len(part.cells())),
                     f"{s.seconds / 3600:.1f} h"])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    total = sharding.plan
    lines.append(f"{len(total.cells())} cells in {total.size} jobs ({len(total.builds)} builds), "
                 f"{sharding.count} shard(s); plan {sharding.digest()}")  # fmt: skip
    return "\n".join(lines)


def _shard_plan(args: argparse.Namespace, config: Config | None) -> tuple[Config, Plan, str]:
    """(configuration, the jobs of shard ``--shard``, what to call it) from ``--plan`` or the filters."""
    from crosscloud.config import load_config
    from crosscloud_action import planning

    number, count = planning.parse_shard(args.shard)
    if args.plan:
        given = [f"--{name}" for name in (*_FILTERS, "config") if getattr(args, name)]
        if given:
            raise BadInputError(f"--plan {args.plan} holds the filters and configuration: drop {', '.join(given)}")
        try:
            text = args.plan.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"--plan {args.plan}: {exc.strerror or exc}") from None
        stored = planning.read_plan_file(text, str(args.plan))
        config = load_config(args.plan.parent / PLAN_CONFIG)
        sharding = _sharding(config, stored["filters"], stored["max_jobs"])
        if sharding.digest() != stored["digest"]:
            raise BadInputError(f"--plan {args.plan}: the plan made again here ({sharding.digest()}) is not the "
                                f"one planned ({stored['digest']}): another crosscloud version?")  # fmt: skip
    else:
        assert config is not None
        sharding = _sharding(config, _filters(args), args.max_jobs)
    if count != sharding.count:
        raise BadInputError(f"--shard {args.shard}: the plan has {sharding.count} shard(s), not {count}")
    chosen = sharding.shard(number)
    return (
        config,
        sharding.plan.only(chosen.builds),
        f"shard {number}/{count} ({chosen.arch}, plan {sharding.digest()})",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from crosscloud.config import load_config
    from crosscloud.status_repo.writer import StatusRepoWriter
    from crosscloud_action import matrix, planning
    from crosscloud_action.pipeline import Pipeline
    from crosscloud_action.recording import DirectRecorder, FanInRecorder, Recorder

    if args.jobs < 1:
        raise BadInputError("--jobs must be at least 1")
    remote = remote_from_args(args)
    if remote.url.startswith(("https://", "http://")) and not remote.token:
        raise BadInputError(f"{remote} needs a token to push results: set {args.token_env}")
    writer = StatusRepoWriter(remote)
    if args.plan and not args.shard:
        raise BadInputError("--plan needs --shard I/N: which of its shards to run")
    from_repo = not (args.config or (args.shard and args.plan))
    config = load_config(args.config) if args.config else (writer.config() if from_repo else None)
    if args.shard:
        config, the_plan, what = _shard_plan(args, config)
        print(f"{what}: {len(the_plan.builds)} row(s)")
    else:
        assert config is not None
        the_plan = planning.plan(config, projects=args.project, clouds=args.cloud, releases=args.release,
                                 arches=args.arch, kubernetes=args.kubernetes)  # fmt: skip
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
