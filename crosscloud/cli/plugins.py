"""Commands from the sides: the ``crosscloud.commands`` entry-point group.

A distribution adds commands to ``crosscloud`` by declaring, in its ``pyproject.toml``::

    [project.entry-points."crosscloud.commands"]
    hello = "hello_plugin.cli:register"

where ``register(commands)`` adds its parsers to the subparsers of ``crosscloud`` (``commands.add_parser``)
and keeps its heavy imports inside the command's function (the action's ``run`` and the app's ``serve`` and
``trigger`` come this way). The core finds them with ``importlib.metadata.entry_points`` and never names a
side, so the arrows of the import graph point from the action and the app down to the core, never back.

A plugin that cannot be imported, is not callable, fails while registering or adds a command that already
exists does not stop the other commands: it is reported in one line that names it and the cause, and its
commands are missing (asking for one is then argparse's "invalid choice")."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Final, TypeAlias

GROUP: Final = "crosscloud.commands"

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """What ``register(commands)`` is given: the subparsers of ``crosscloud``."""


def discovered() -> list[EntryPoint]:
    """The installed plugins, by name (a stable order for ``--help``)."""
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def register_plugins(commands: Commands, plugins: list[EntryPoint] | None = None) -> list[str]:
    """Let every plugin add its commands; one problem line per plugin that could not."""
    problems = []
    for plugin in discovered() if plugins is None else plugins:
        where = f"plugin {plugin.name!r} ({plugin.value}) of the {GROUP} entry points"
        try:
            register = plugin.load()
        except Exception as exc:  # any failure to import a plugin's module is that plugin's
            problems.append(f"{where} cannot be loaded: {_cause(exc)}; its commands are unavailable")
            continue
        if not callable(register):
            problems.append(f"{where} is not a register(commands) function; its commands are unavailable")
            continue
        try:
            register(commands)
        except Exception as exc:  # a broken plugin must not take the other commands with it
            problems.append(f"{where} failed to add its commands: {_cause(exc)}")
    return problems


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
