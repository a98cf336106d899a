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


# -- the arrows inside and between the sides ---------------------------------------------------------------------
APP = ROOT / "app"
ACTION = ROOT / "action"

MAY_IMPORT: dict[str, frozenset[str]] = {
    "crosscloud_action": frozenset({"crosscloud", "crosscloud_action"}),
    "crosscloud_app.web": frozenset({"crosscloud", "crosscloud_app.web"}),
    "crosscloud_app.pages": frozenset({"crosscloud", "crosscloud_app.web", "crosscloud_app.pages"}),
    "crosscloud_app.badges": frozenset({"crosscloud", "crosscloud_app.web", "crosscloud_app.badges"}),
    "crosscloud_app.github_app": frozenset({"crosscloud", "crosscloud_app.web", "crosscloud_app.github_app"}),
    "crosscloud_app.api": frozenset(
        {"crosscloud", "crosscloud_app.web", "crosscloud_app.github_app", "crosscloud_app.api"}
    ),
    "crosscloud_app.publish": frozenset(
        {"crosscloud", "crosscloud_app.web", "crosscloud_app.pages", "crosscloud_app.api", "crosscloud_app.publish"}
    ),
}
"""What each part may import of this project (third-party packages are free). ``crosscloud_app`` itself
(``create_app``, ``cli``) wires the packages together and may import them all."""

DRIVES_THE_APP: frozenset[str] = frozenset({"crosscloud_app.publish"})
"""Parts that drive the whole app from outside (``crosscloud publish`` asks it for every path of the site):
they may also import ``crosscloud_app`` itself, for ``create_app``, but none of its modules beyond their
entry in ``MAY_IMPORT``."""


def _module_name(path: Path) -> str:
    if path.is_relative_to(APP):
        parts = ("crosscloud_app", *path.relative_to(APP).with_suffix("").parts)
    else:
        parts = ("crosscloud_action", *path.relative_to(ACTION).with_suffix("").parts)
    return ".".join(part for part in parts if part != "__init__")


def _part(module: str) -> str | None:
    """The entry of ``MAY_IMPORT`` a module belongs to (the longest prefix), or None for ``crosscloud_app``'s
    own top-level modules."""
    found = [part for part in MAY_IMPORT if module == part or module.startswith(part + ".")]
    return max(found, key=len) if found else None


def _project_imports(source: str, filename: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(n, m) for n, m in found if m.split(".")[0] in ("crosscloud", *SIDES)]


def _allowed(imported: str, allowed: frozenset[str]) -> bool:
    return any(imported == a or imported.startswith(a + ".") for a in allowed)


def test_the_sides_import_only_what_their_layer_may() -> None:
    """The action never imports the app nor the app the action; inside the app, ``web`` imports no other
    package, ``pages``, ``badges`` and ``github_app`` build on ``web`` alone, ``api`` on ``web`` and
    ``github_app`` (whose stores its operator routes show), and ``publish`` drives ``create_app`` and reads
    the names of ``pages`` and ``api``; no package imports ``publish``."""
    modules = sorted(APP.rglob("*.py")) + sorted(ACTION.rglob("*.py"))
    assert len(modules) > 60, f"the scan found only {len(modules)} modules"
    wrong = []
    for path in modules:
        name = _module_name(path)
        part = _part(name)
        if part is None:
            continue
        for line, imported in _project_imports(path.read_text(), str(path)):
            drives = imported == "crosscloud_app" and part in DRIVES_THE_APP
            if not drives and not _allowed(imported, MAY_IMPORT[part]):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {imported}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_check_sees_a_wrong_arrow() -> None:
    assert _project_imports("from crosscloud_app.pages import dashboard\n", "x.py") == [(1, "crosscloud_app.pages")]
    assert not _allowed("crosscloud_app.pages", MAY_IMPORT["crosscloud_app.web"])
    assert not _allowed("crosscloud_app", MAY_IMPORT["crosscloud_action"])
    assert _part("crosscloud_app.api.openapi") == "crosscloud_app.api"
    assert _part("crosscloud_app.cli") is None
