"""The three layers: the core (``crosscloud/``) imports neither the action nor the app, by name or by string.

Each side depends on the core and adds its commands through the ``crosscloud.commands`` entry points, so
the arrows of the import graph point down only. The scan reads the source (its syntax tree for imports
and string constants, its text for anything else, such as a name in a comment that a later edit would
turn into an import) rather than importing it, so a lazy import inside a function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "crosscloud"
SIDES = ("crosscloud_action", "crosscloud_app")


def _names_a_side(name: str) -> bool:
    return any(name == side or name.startswith(side + ".") for side in SIDES)


def side_references(source: str, filename: str) -> list[str]:
    """Every place ``source`` names a side: imports, string constants (``importlib`` and entry points by
    string), and any other mention in its text. One line each, with the line number."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name}" for a in node.names if _names_a_side(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _names_a_side(node.module):
            found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(s in node.value for s in SIDES):
            found.append(f"{filename}:{node.lineno}: the string {node.value[:80]!r}")
    for number, line in enumerate(source.splitlines(), 1):
        if any(side in line for side in SIDES):
            found.append(f"{filename}:{number}: {line.strip()[:100]}")
    return found


def test_the_core_imports_neither_side() -> None:
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 20, f"the scan found only {len(modules)} modules under {CORE}"
    found = [ref for path in modules for ref in side_references(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, "the core names a side:\n" + "\n".join(found)


def test_the_scan_sees_every_way_of_naming_a_side() -> None:
    """The scan itself: each of these would make the test above fail."""
    for source in (
        "import crosscloud_app\n",
        "import crosscloud_action.matrix as m\n",
        "def f():\n    from crosscloud_action.pipeline import Pipeline\n",
        "MODULES = ('crosscloud.onboard', 'crosscloud_app.trigger')\n",
        "import importlib\nimportlib.import_module('crosscloud_' + 'action')  # crosscloud_action\n",
    ):
        assert side_references(source, "sample.py"), source
    assert side_references("import crosscloud.cli\nfrom crosscloud import layout\n", "sample.py") == []
