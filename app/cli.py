"""The app's commands, ``crosscloud serve`` and ``crosscloud trigger``, added to ``crosscloud`` through the
``crosscloud.commands`` entry point ``app`` (``pyproject.toml``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosscloud_app import serve, trigger

if TYPE_CHECKING:
    from crosscloud.cli.plugins import Commands


def register(commands: Commands) -> None:
    serve.register(commands)
    trigger.register(commands)
