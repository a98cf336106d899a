"""The ``crosscloud`` command: create, check, record into and read a status repository.

Every command has ``--help``; bad input gets one clear line on stderr and exit status 2, an operational
failure (git, the network) exit status 1.

The core's commands are registered here by name, one module per group (``setup_commands``,
``record_commands``, ``read_commands`` and ``crosscloud.onboard``). The action and the app add theirs
(``run``, ``serve``, ``trigger``) through the ``crosscloud.commands`` entry-point group (see ``plugins``),
so this package never imports either side."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Final

from crosscloud import __version__, onboard
from crosscloud.cli import plugins, read_commands, record_commands, setup_commands
from crosscloud.errors import CrossCloudError

CORE_COMMANDS: Final = (setup_commands.register, record_commands.register, read_commands.register, onboard.register)
"""Who adds the core's commands, in the order ``--help`` lists them."""


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser with every command, and one line per plugin whose commands could not be added."""
    parser = argparse.ArgumentParser(
        prog="crosscloud",
        description="Cross-Cloud CI: record and read the results of CNCF projects on every cloud.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done (retries, timings)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in CORE_COMMANDS:
        register(commands)
    problems = plugins.register_plugins(commands)
    return parser, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser, problems = build_parser()
    for problem in problems:
        print(f"crosscloud: warning: {problem}", file=sys.stderr)
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
