"""``crosscloud init`` and ``crosscloud validate``: create a status repository, check a configuration."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crosscloud import layout
from crosscloud.cli.repo_options import add_repo_options, remote_from_args
from crosscloud.errors import BadInputError

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "init",
        help="create a status repository",
        description="Create a status repository seeded with status-data/ (README, LAYOUT.md, the nightly "
        "workflow) and a configuration: a new bare repository at a local PATH, or the first push to an "
        "existing, empty repository at a URL (https://github.com/ORG/NAME.git; token from --token-env).",
    )
    add_repo_options(p, metavar="PATH_OR_URL", help="where to create it")
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
    from crosscloud.config import load_config, relation_warnings

    config = load_config(args.file)
    for warning in relation_warnings(config):
        print(f"crosscloud: warning: {warning}", file=sys.stderr)
    projects, clouds = config.projects.values(), config.clouds.values()
    print(
        f"{args.file}: valid: {len(projects)} projects ({sum(p.active for p in projects)} active), "
        f"{len(clouds)} clouds ({sum(c.active for c in clouds)} active)"
    )
    return 0
