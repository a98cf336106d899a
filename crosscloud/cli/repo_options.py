"""What every command that reads or writes a status repository shares: the ``--repo`` and ``--token-env``
options, the remote and the index they name, and the lines that say what a write did.

The sides' commands (the action's ``run``, the app's ``serve``) use these too, so a token variable or the
report of a write reads the same whichever command a person ran."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from crosscloud import layout
from crosscloud.status_repo.git import TOKEN_ENV as TOKEN_ENV  # the one definition; commands read it from here

if TYPE_CHECKING:
    from crosscloud.status_repo.git import Remote
    from crosscloud.status_repo.reader import StatusIndex
    from crosscloud.status_repo.writer import WriteResult


def add_repo_options(
    parser: argparse.ArgumentParser,
    *,
    default: str | None = None,
    metavar: str = "URL_OR_PATH",
    help: str = "the status repository",
) -> None:
    """``--repo`` (required unless ``default`` is given) and ``--token-env``."""
    if default is None:
        parser.add_argument("--repo", required=True, metavar=metavar, help=help)
    else:
        parser.add_argument("--repo", default=default, metavar=metavar, help=f"{help} (default {default})")
    parser.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="NAME",
        help=f"environment variable holding the token for an https remote (default {TOKEN_ENV})",
    )


def token_from_args(args: argparse.Namespace) -> str | None:
    """The token in the variable ``--token-env`` names; None when it is unset or empty."""
    return os.environ.get(args.token_env) or None


def remote_from_args(args: argparse.Namespace) -> Remote:
    """The status repository ``--repo`` names, with the token of ``--token-env``."""
    from crosscloud.status_repo.git import Remote

    return Remote.parse(args.repo, token_from_args(args))


def index_from_args(args: argparse.Namespace) -> StatusIndex:
    """A ``StatusIndex`` of ``--repo``, fetched and refreshed (for the commands that read)."""
    from crosscloud.status_repo.mirror import Mirror
    from crosscloud.status_repo.reader import StatusIndex

    mirror = Mirror(remote_from_args(args))
    mirror.fetch()
    index = StatusIndex(mirror.git_dir)
    index.refresh()
    return index


def print_write_result(result: WriteResult, where: Remote) -> None:
    """One line per record (recorded with its reason, unchanged, or skipped for a newer one) and the commit."""
    for record in result.written:
        print(f"recorded: {record.summary()}" + (f" ({record.reason})" if record.reason else ""))
    for record in result.unchanged:
        print(f"unchanged (already stored): {record.summary()}")
    for record in result.superseded:
        print(f"skipped, a newer result is stored: {record.summary()}")
    if result.commit:
        print(f"commit {result.commit[:12]} on {layout.BRANCH} of {where} ({result.attempts} attempt(s))")
