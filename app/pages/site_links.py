"""The footer every page carries, so a reader finds their way: the feed, the API's index, the list of projects,
the status repository (with the ``git log`` command that shows its history) and Cross-Cloud CI's own
repository. Built from the app's settings alone (no state), so error pages have it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from flask import current_app

SOURCE_URL: Final = "https://github.com/crosscloudci/cross-cloud-ci"
"""Cross-Cloud CI's own repository (the action is ``crosscloudci/cross-cloud-ci@v1``)."""


@dataclass(frozen=True)
class StatusRepository:
    """Where the results are, as a reader can get them: a link (for a repository on the web) and the commands
    that show every result as a commit."""

    url: str | None
    """The repository's web page (GitHub), when it is on the web."""
    clone: str | None
    """What ``git clone`` takes, when it is on the web (a local path is not shown: it means nothing to a reader)."""

    @property
    def log_command(self) -> str:
        target = "status" if self.clone else "<status repository>"
        clone = f"git clone {self.clone} status && " if self.clone else ""
        return f"{clone}git -C {target} log --stat -- results/"


def status_repository() -> StatusRepository:
    explicit = current_app.config.get("STATUS_REPOSITORY")
    location = str(current_app.config.get("STATUS_REPO") or "")
    parts = urlsplit(location)
    on_web = parts.scheme in ("http", "https") and parts.netloc != ""
    clone = location if on_web and not parts.username and not parts.password else None
    if explicit:
        return StatusRepository(f"https://github.com/{explicit}", clone or f"https://github.com/{explicit}.git")
    if clone is not None:
        return StatusRepository(clone.removesuffix(".git"), clone)
    return StatusRepository(None, None)


def footer_context() -> dict[str, Any]:
    """The template context of the footer (``base.html``)."""
    return {"status_repository": status_repository(), "source_url": SOURCE_URL}
