"""Every third-party module the project imports comes from a distribution ``pyproject.toml`` declares.

A module that only arrives as somebody else's dependency (PyJWT and requests under PyGithub) works until
that dependency changes its own. Each module's imports are read with ``ast`` (nothing is imported), each
top-level name is mapped to the installed distributions that provide it
(``importlib.metadata.packages_distributions()``), and one of them must be declared for that part:

- the packages (``crosscloud``, ``crosscloud_action``, ``crosscloud_app``): ``dependencies``;
- ``tests/``: those and the ``test`` extra;
- ``bench/``: those and the ``dev`` extra (with the extras it names);
- ``scripts/``: none, the standard library only (they run before anything is installed)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
FIRST_PARTY = {"crosscloud", "crosscloud_action", "crosscloud_app", "tests"}
TYPE_CHECKER_ONLY = {"_typeshed"}
"""Modules that exist for type checkers only (typeshed's), imported under ``TYPE_CHECKING``."""


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> tuple[str, list[str]]:
    """The distribution a requirement names and the extras it asks for."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"pyproject.toml: cannot read the requirement {requirement!r}"
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return normalized(match.group(1)), extras


def declared(*extras: str) -> set[str]:
    """The distributions declared by ``dependencies`` and ``extras`` (and the extras those name of this
    project itself, as ``dev`` names ``cross-cloud-ci[test,local,server]``)."""
    names: set[str] = set()
    pending, seen = list(extras), set()
    for requirement in PROJECT["dependencies"]:
        names.add(requirement_name(requirement)[0])
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in PROJECT["optional-dependencies"][extra]:
            name, more = requirement_name(requirement)
            if name == normalized(PROJECT["name"]):
                pending.extend(more)
            else:
                names.add(name)
    return names


def package_directories() -> list[Path]:
    """The directory of every package ``pyproject.toml`` ships (``[tool.setuptools]``)."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools.get("package-dir", {})
    directories = []
    for package in setuptools["packages"]:
        prefix = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len, default=None)
        if prefix is None:
            directories.append(ROOT / package.replace(".", "/"))
        else:
            directories.append(ROOT / mapping[prefix] / package[len(prefix) :].lstrip(".").replace(".", "/"))
    return directories


PARTS = {
    "packages": ([p for d in package_directories() for p in sorted(d.glob("*.py"))], declared()),
    "tests": (sorted((ROOT / "tests").rglob("*.py")), declared("test")),
    "bench": (sorted((ROOT / "bench").rglob("*.py")), declared("dev")),
    "scripts": (sorted((ROOT / "scripts").rglob("*.py")), set()),
}


def third_party_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level module) of each absolute import that is neither the standard library, nor this
    project, nor a module beside ``path`` (the benchmarks import their siblings)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.partition(".")[0]
            if top in sys.stdlib_module_names or top in FIRST_PARTY or top in TYPE_CHECKER_ONLY or top == "__future__":
                continue
            if (path.parent / f"{top}.py").is_file() or (path.parent / top / "__init__.py").is_file():
                continue
            yield node.lineno, top


def test_the_parts_have_modules() -> None:
    assert all(files for files, _ in PARTS.values()), {part: len(files) for part, (files, _) in PARTS.items()}
    assert ROOT / "app" / "api" / "oidc_tokens.py" in PARTS["packages"][0]


def undeclared_imports(files: list[Path], allowed: set[str]) -> list[str]:
    """``file:line: module (from distributions)`` for each import whose distributions are not ``allowed``."""
    providers = importlib.metadata.packages_distributions()
    found = []
    for path in files:
        for line, module in third_party_imports(path):
            distributions = {normalized(d) for d in providers.get(module, [])}
            if not distributions & allowed:
                source = ", ".join(sorted(distributions)) or "no installed distribution provides it"
                found.append(f"{path.relative_to(ROOT)}:{line}: {module} ({source})")
    return found


@pytest.mark.parametrize("part", PARTS)
def test_every_third_party_import_is_declared(part: str) -> None:
    files, allowed = PARTS[part]
    undeclared = undeclared_imports(files, allowed)
    where = {"packages": "dependencies", "tests": "the test extra", "bench": "the dev extra", "scripts": "nothing"}
    assert not undeclared, f"imported but not declared in {where[part]} of pyproject.toml:\n" + "\n".join(undeclared)


def test_the_check_finds_what_the_issue_found(tmp_path: Path) -> None:
    """``jwt`` and ``requests`` imported by the app and declared only by PyGithub: without their own lines
    in ``dependencies`` the check names them."""
    module = tmp_path / "m.py"
    module.write_text("import jwt\nfrom requests.adapters import HTTPAdapter\nimport os.path\nfrom . import sibling\n")
    assert list(third_party_imports(module)) == [(1, "jwt"), (2, "requests")]
    files, allowed = PARTS["packages"]
    missing = undeclared_imports(files, allowed - {"pyjwt", "requests"})
    assert any(m.startswith("app/api/oidc_tokens.py:") and m.endswith(": jwt (pyjwt)") for m in missing), missing
    assert any(m.endswith(": requests (requests)") for m in missing), missing
    assert {m.rsplit(": ", 1)[1] for m in missing} == {"jwt (pyjwt)", "requests (requests)"}
