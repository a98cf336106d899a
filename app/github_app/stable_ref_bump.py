"""When a project publishes a release, propose moving its ``stable_ref`` to the new tag.

The proposal is a pull request on the repository that holds ``cross-cloud.yml`` (``CONFIG_REPOSITORY``),
so a person still decides. The edit is textual: only the value of ``projects.<project>.stable_ref``
changes, in the quoting style it had, and every comment and blank line stays where it was. It is opened
once: the branch ``crosscloud/bump-<project>-<tag>`` names the proposal, and when a pull request from it
exists (open, merged or closed) or the branch exists, nothing is done, so redeliveries and repeated
releases are harmless."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import yaml

from crosscloud import layout
from crosscloud.config import parse_config
from crosscloud.errors import BadInputError, ConfigError

if TYPE_CHECKING:
    from github import Github

log = logging.getLogger(__name__)

BRANCH_PREFIX: Final = "crosscloud/bump-"
_REF_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BumpResult:
    action: str
    """``opened``, ``exists`` (branch or pull request already there) or ``unchanged`` (already at the tag)."""
    branch: str
    pull_request: str | None = None
    """The pull request's URL when one was opened or found."""

    def __str__(self) -> str:
        return f"{self.action} {self.pull_request or self.branch}"


def branch_name(project: str, tag: str) -> str:
    """``crosscloud/bump-<project>-<tag>``, with anything a ref name cannot hold in ``tag`` made ``-``."""
    safe = _REF_UNSAFE.sub("-", tag).strip(".-") or "release"
    return f"{BRANCH_PREFIX}{project}-{safe}"


def _quote(value: str, style: str | None) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or style is None:
        # A plain scalar could change type (``1.10`` is a number): quote unless it was plain and stays a string.
        if style is None and yaml.safe_load(value) == value and ": " not in value and " #" not in value:
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise BadInputError(f"stable_ref is a block scalar ({style}); edit it by hand")


def bump_stable_ref(text: str, project: str, tag: str, source: str = layout.CONFIG_PATH) -> str:
    """``text`` (a ``cross-cloud.yml``) with ``projects.<project>.stable_ref`` set to ``tag``; only that value's
    characters change (a missing key is added as the project's first key). Raises ``ConfigError`` naming the
    file when the project is not there or the result would not be a valid configuration."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    projects = _child(root, "projects")
    node = _child(projects, project)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"no project {project!r}", source=source, field=f"projects.{project}")
    value = _child(node, "stable_ref")
    if isinstance(value, yaml.ScalarNode):
        if value.value == tag:
            return text
        start, end = value.start_mark.index, value.end_mark.index
        new = text[:start] + _quote(tag, value.style) + text[end:]
    elif value is None and node.value:
        first_key = node.value[0][0]
        line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
        indent = " " * first_key.start_mark.column
        quoted = _quote(tag, '"')
        new = text[:line_start] + f"{indent}stable_ref: {quoted}\n" + text[line_start:]
    else:
        raise ConfigError("cannot edit stable_ref here", source=source, field=f"projects.{project}.stable_ref")
    if parse_config(new, source).project(project).ref("stable") != tag:
        raise ConfigError(f"the edit did not set stable_ref to {tag!r}", source=source, field=f"projects.{project}")
    return new


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def open_bump(gh: Github, repository: str, project: str, tag: str, *, release_url: str | None = None) -> BumpResult:
    """Open the pull request on ``repository`` that moves ``project``'s stable_ref to ``tag``, once."""
    from github import GithubException

    repo = gh.get_repo(repository)
    branch = branch_name(project, tag)
    existing = list(repo.get_pulls(state="all", head=f"{repo.owner.login}:{branch}"))
    if existing:
        return BumpResult("exists", branch, existing[0].html_url)
    try:
        repo.get_git_ref(f"heads/{branch}")
        return BumpResult("exists", branch)
    except GithubException as exc:
        if exc.status != 404:
            raise
    base = repo.default_branch
    current = repo.get_contents(layout.CONFIG_PATH, ref=base)
    if isinstance(current, list):
        raise BadInputError(f"{repository}: {layout.CONFIG_PATH} is a directory")
    text = current.decoded_content.decode("utf-8")
    updated = bump_stable_ref(text, project, tag, source=f"{repository}:{layout.CONFIG_PATH}")
    if updated == text:
        return BumpResult("unchanged", branch)
    head = repo.get_branch(base).commit.sha
    repo.create_git_ref(f"refs/heads/{branch}", head)
    title = f"{project}: stable_ref {tag}"
    repo.update_file(layout.CONFIG_PATH, f"{title}\n\nProposed by Cross-Cloud CI", updated, current.sha, branch=branch)
    body = (
        f"{project} published {tag}"
        + (f" ({release_url})" if release_url else "")
        + (
            f". This moves `projects.{project}.stable_ref` in `{layout.CONFIG_PATH}` to `{tag}`, so the stable line"
            " of the matrix tests the new release. Opened by Cross-Cloud CI; close it to keep the current release."
        )
    )
    pull = repo.create_pull(base=base, head=branch, title=title, body=body)
    log.info("opened %s for %s %s", pull.html_url, project, tag)
    return BumpResult("opened", branch, pull.html_url)
