"""Starting a workflow run on GitHub: ``workflow_dispatch``, shared by ``POST /api/v1/refresh`` (as the App)
and ``crosscloud trigger`` (with a person's or a workflow's token).

A dispatch is ``POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`` with ``{ref, inputs}``, one
of the two events a workflow may start another repository's runs with. ``check_dispatch`` judges what is
asked before anything is sent; ``dispatch`` sends it through PyGithub and says why GitHub refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from crosscloud.errors import BadInputError, CrossCloudError

if TYPE_CHECKING:
    from github import Github

DEFAULT_REF: Final = "main"
DEFAULT_WORKFLOW: Final = "nightly.yml"
MAX_INPUTS: Final = 10
"""GitHub accepts at most 10 inputs for a workflow_dispatch (25 since 2025; 10 works everywhere)."""


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
