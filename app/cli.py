"""The app's commands, ``crosscloud serve``, ``crosscloud publish`` and ``crosscloud trigger``, added to
``crosscloud`` through the ``crosscloud.commands`` entry point ``app`` (``pyproject.toml``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosscloud_app import serve_command
from crosscloud_app.github_app import trigger_command
from crosscloud_app.publish import publish_command

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands


def register(commands: Commands) -> None:
    serve_command.register(commands)
    publish_command.register(commands)
    trigger_command.register(commands)
