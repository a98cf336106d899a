"""``crosscloud trigger``: start the nightly matrix now, from a terminal or a workflow.

It dispatches the workflow (``workflow_dispatch``) with a token from ``GITHUB_TOKEN`` or
``CROSSCLOUD_GITHUB_TOKEN`` and prints what was dispatched as JSON; ``--api-url`` points it at GitHub
Enterprise Server (``https://HOST/api/v3``) or any other GitHub API. ``POST /api/v1/refresh`` does the same
for machines, as the GitHub App (``crosscloud_app.api.nightly_refresh``)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Final

from crosscloud.errors import BadInputError
from crosscloud_app.github_app.workflow_dispatch import DEFAULT_REF, DEFAULT_WORKFLOW, check_dispatch, dispatch

DEFAULT_API_URL: Final = "https://api.github.com"
TOKEN_VARIABLES: Final = ("GITHUB_TOKEN", "CROSSCLOUD_GITHUB_TOKEN")


def _input(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def register(commands: Any) -> None:
    """Add ``crosscloud trigger`` to the subparsers of ``crosscloud``."""
    p = commands.add_parser(
        "trigger",
        help="start the nightly workflow now",
        description="Dispatch a workflow (workflow_dispatch) with a token from "
        + " or ".join(TOKEN_VARIABLES)
        + "; prints what was dispatched as JSON.",
    )
    p.add_argument(
        "--repository",
        default=os.environ.get("GITHUB_REPOSITORY"),
        metavar="OWNER/NAME",
        help="the repository holding the workflow (default: $GITHUB_REPOSITORY)",
    )
    p.add_argument(
        "--workflow", default=DEFAULT_WORKFLOW, metavar="FILE", help=f"workflow file (default {DEFAULT_WORKFLOW})"
    )
    p.add_argument("--ref", default=DEFAULT_REF, help=f"branch or tag to run it on (default {DEFAULT_REF})")
    p.add_argument(
        "--input", action="append", type=_input, default=[], metavar="KEY=VALUE", help="a workflow input (repeatable)"
    )
    p.add_argument(
        "--api-url",
        default=os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
        metavar="URL",
        help="the GitHub API (default $GITHUB_API_URL or https://api.github.com; GitHub Enterprise: "
        "https://HOST/api/v3)",
    )
    p.set_defaults(func=cmd_trigger)


def cmd_trigger(args: argparse.Namespace) -> int:
    from github import Auth, Github

    token = next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)
    if not token:
        raise BadInputError(f"no GitHub token: set {' or '.join(TOKEN_VARIABLES)}")
    if not args.repository:
        raise BadInputError("no repository: give --repository OWNER/NAME")
    wanted = check_dispatch(args.repository, args.workflow, args.ref, dict(args.input))
    gh = Github(auth=Auth.Token(token), base_url=args.api_url.rstrip("/"))
    try:
        done = dispatch(gh, wanted)
    finally:
        gh.close()
    print(json.dumps({"dispatched": done.as_dict()}))
    return 0
