"""Start the nightly matrix now: ``POST /api/v1/refresh`` and ``crosscloud trigger``.

Both dispatch the nightly workflow (``workflow_dispatch``: ``POST /repos/{owner}/{repo}/actions/workflows/
{file}/dispatches`` with ``{ref, inputs}``), one of the two events a workflow may start another
repository's runs with. The endpoint is for machines (a release pipeline, a maintainer's script): it
is authorised by ``Authorization: Bearer <REFRESH_TOKEN>`` and dispatches as the GitHub App. The command
is for people and workflows: it dispatches with a token from ``GITHUB_TOKEN`` or
``CROSSCLOUD_GITHUB_TOKEN``, and ``--api-url`` points it at GitHub Enterprise Server
(``https://HOST/api/v3``) or any other GitHub API."""

from __future__ import annotations

import argparse
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud_app.web import settings

if TYPE_CHECKING:
    from github import Github

DEFAULT_REF: Final = "main"
DEFAULT_API_URL: Final = "https://api.github.com"
TOKEN_VARIABLES: Final = ("GITHUB_TOKEN", "CROSSCLOUD_GITHUB_TOKEN")
MAX_INPUTS: Final = 10
"""GitHub accepts at most 10 inputs for a workflow_dispatch (25 since 2025; 10 works everywhere)."""

bp = Blueprint("trigger", __name__)


class DispatchError(CrossCloudError):
    """GitHub refused the dispatch (no such repository or workflow, no permission, ...)."""


@dataclass(frozen=True)
class Dispatch:
    repository: str
    workflow: str
    ref: str
    inputs: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = dict(self.inputs)
        return data


def check_dispatch(repository: str, workflow: str, ref: str, inputs: Mapping[str, Any]) -> Dispatch:
    """The dispatch, or a ``BadInputError`` naming the part at fault."""
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise BadInputError(f"repository {repository!r} must be owner/name")
    if not workflow or "/" in workflow:
        raise BadInputError(f"workflow {workflow!r} must be a file name such as nightly.yml (or a workflow id)")
    if not ref:
        raise BadInputError("ref must not be empty")
    if len(inputs) > MAX_INPUTS:
        raise BadInputError(f"at most {MAX_INPUTS} inputs, not {len(inputs)}")
    for key, value in inputs.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise BadInputError(f"input {key!r}: names and values must be non-empty strings")
    return Dispatch(repository, workflow, ref, dict(inputs))


def dispatch(gh: Github, wanted: Dispatch) -> Dispatch:
    """Ask GitHub to run ``wanted.workflow`` on ``wanted.ref``; ``DispatchError`` with GitHub's reason."""
    import requests
    from github import GithubException

    try:
        workflow = gh.get_repo(wanted.repository).get_workflow(wanted.workflow)
        workflow.create_dispatch(wanted.ref, dict(wanted.inputs), throw=True)
    except requests.RequestException as exc:
        raise DispatchError(f"{wanted.repository} {wanted.workflow}: cannot reach GitHub: {exc}") from None
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        raise DispatchError(
            f"{wanted.repository} {wanted.workflow} on {wanted.ref}: GitHub answered {exc.status}: "
            f"{message or exc.message or 'no reason given'}"
        ) from None
    return wanted


# -- POST /api/v1/refresh --------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": {"message": message}}), status


def _authorised(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8"))


@bp.post("/api/v1/refresh")
def refresh() -> ResponseReturnValue:
    """Dispatch the nightly workflow on ``NIGHTLY_REPOSITORY``; the body may set ``ref`` and ``inputs``."""
    from crosscloud_app.github_app import from_settings

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    expected = app.config.get("REFRESH_TOKEN")
    if not expected or not _authorised(str(expected)):
        response = jsonify({"error": {"message": "a valid 'Authorization: Bearer <token>' header is required"}})
        response.headers["WWW-Authenticate"] = 'Bearer realm="crosscloud"'
        return response, 401
    repository = app.config.get("NIGHTLY_REPOSITORY")
    if not repository:
        return _error(503, f"nothing to dispatch: set {settings.ENV_PREFIX}_NIGHTLY_REPOSITORY")
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object with optional 'ref' and 'inputs'")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        return _error(400, "inputs must be an object of strings")
    try:
        wanted = check_dispatch(
            str(repository), str(app.config.get("NIGHTLY_WORKFLOW") or "nightly.yml"),
            str(body.get("ref") or DEFAULT_REF), inputs,
        )  # fmt: skip
        done = dispatch(from_settings(app).for_repository(wanted.repository), wanted)
    except BadInputError as exc:
        return _error(400, str(exc))
    except DispatchError as exc:
        return _error(502, str(exc))
    return jsonify({"dispatched": done.as_dict()}), 202


# -- crosscloud trigger ----------------------------------------------------------------------------------


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
    p.add_argument("--workflow", default="nightly.yml", metavar="FILE", help="workflow file (default nightly.yml)")
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
