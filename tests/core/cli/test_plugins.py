"""Commands from outside the core: the ``crosscloud.commands`` entry points.

The action's ``run`` and the app's ``serve`` and ``trigger`` come through the entry points this project
declares; other distributions can add theirs the same way. The broken ones are real installed
distributions too: a ``.dist-info`` directory on ``PYTHONPATH`` whose entry point names a module that does
not exist, a register function that raises, one that is no function, one that takes an existing name."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from crosscloud.cli.plugins import GROUP
from tests.helpers.paths import CNCF_2018


def crosscloud(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "crosscloud", *args], capture_output=True, text=True, env=env,
                          check=False, timeout=120)  # fmt: skip


def install_plugin(site: Path, distribution: str, entry: str) -> None:
    """A distribution ``distribution`` whose ``crosscloud.commands`` entry point is ``entry`` (``name = value``)."""
    info = site / f"{distribution}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entry}\n")


def test_the_sides_add_their_commands_through_the_entry_points() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert declared == {"run": "crosscloud_action.cli:register", "app": "crosscloud_app.cli:register"}
    listing = crosscloud("--help")
    assert listing.returncode == 0 and listing.stderr == ""
    for command in ("run", "serve", "trigger"):
        assert command in listing.stdout
        out = crosscloud(command, "--help")
        assert out.returncode == 0 and f"usage: crosscloud {command}" in out.stdout, out.stderr


def test_a_plugin_of_another_distribution_adds_a_command(tmp_path: Path) -> None:
    (tmp_path / "hello_plugin.py").write_text(
        "def register(commands):\n"
        "    p = commands.add_parser('hello', help='say hello')\n"
        "    p.add_argument('name')\n"
        "    p.set_defaults(func=lambda args: print(f'hello {args.name}') or 0)\n"
    )
    install_plugin(tmp_path, "hello_plugin", "hello = hello_plugin:register")
    out = crosscloud("hello", "world", pythonpath=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (0, "hello world\n", "")


def test_broken_plugins_are_named_and_the_other_commands_still_work(tmp_path: Path) -> None:
    (tmp_path / "broken_plugins.py").write_text(
        "NOT_A_FUNCTION = 42\n"
        "def raising(commands):\n"
        "    raise RuntimeError('the plugin is broken')\n"
        "def clashing(commands):\n"
        "    commands.add_parser('status')\n"
    )
    install_plugin(tmp_path, "missing_plugin", "missing = no_such_module_for_crosscloud:register")
    install_plugin(tmp_path, "raising_plugin", "raising = broken_plugins:raising")
    install_plugin(tmp_path, "constant_plugin", "constant = broken_plugins:NOT_A_FUNCTION")
    install_plugin(tmp_path, "clashing_plugin", "clashing = broken_plugins:clashing")

    out = crosscloud("validate", str(CNCF_2018), pythonpath=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "valid: 7 projects" in out.stdout
    assert "Traceback" not in out.stderr
    warnings = out.stderr.splitlines()
    assert len(warnings) == 4, out.stderr
    assert all(line.startswith("crosscloud: warning: plugin ") for line in warnings), out.stderr
    by_name = {line.split("'")[1]: line for line in warnings}
    assert "ModuleNotFoundError: No module named 'no_such_module_for_crosscloud'" in by_name["missing"]
    assert "cannot be loaded" in by_name["missing"] and "(no_such_module_for_crosscloud:register)" in by_name["missing"]
    assert "RuntimeError: the plugin is broken" in by_name["raising"]
    assert "is not a register(commands) function" in by_name["constant"]
    assert "conflicting subparser: status" in by_name["clashing"]

    # The core's own ``status`` is still the one that runs, and the sides' commands are still there.
    assert crosscloud("status", "--help", pythonpath=tmp_path).stdout.startswith("usage: crosscloud status")
    assert crosscloud("run", "--help", pythonpath=tmp_path).returncode == 0

    # Asking for a missing plugin's command: argparse's usage error, after the line that says why.
    missing = crosscloud("missing", pythonpath=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "invalid choice: 'missing'" in missing.stderr
    assert "plugin 'missing'" in missing.stderr
