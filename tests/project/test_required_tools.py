"""The suite refuses to run without the tools it needs, and allows only two kinds of skip.

Each test runs pytest (or the checker) in a child process, as a user would, with a ``PATH`` that lacks
terraform: the real tools are linked into a directory of the test's own, terraform left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import ROOT
from tests.helpers.required_tools import SBIN, TOOLS, find


def path_without(tmp_path: Path, *absent: str) -> str:
    """A PATH holding every required command (as links) except ``absent``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = find(tool.name)
        if not tool.distribution and tool.name not in absent and found is not None:
            (bin_dir / tool.name).symlink_to(found)
    return str(bin_dir)


def run(*args: str, path: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"} | {"PATH": path}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_all_are_found_here() -> None:
    result = run("-m", "tests.helpers.required_tools", path=os.environ["PATH"])
    assert result.returncode == 0, result.stderr
    assert f"all {len(TOOLS)} present" in result.stdout


def test_the_checker_names_a_missing_tool_and_how_it_is_installed(tmp_path: Path) -> None:
    result = run("-m", "tests.helpers.required_tools", path=path_without(tmp_path, "terraform"))
    assert result.returncode == 1
    assert "1 tool(s) the tests need are missing" in result.stderr
    assert "terraform: for the provision stage" in result.stderr
    assert "installed by scripts/install-terraform.py" in result.stderr


def test_pytest_stops_before_collecting_when_a_tool_is_missing(tmp_path: Path) -> None:
    """Not one test runs: the session ends at once with exit 4 (usage error), naming the tool."""
    assert not any(Path(d, "terraform").exists() for d in SBIN)  # else the fake PATH would not hide it
    path = path_without(tmp_path, "terraform")
    result = run("-m", "pytest", "-p", "no:cacheprovider", "tests/core/test_config.py", path=path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "terraform: for the provision stage" in result.stderr
    assert "passed" not in result.stdout and "collected" not in result.stdout


SKIPS = """
import pytest

from tests.helpers.required_tools import NO_API_SERVER


def test_runs() -> None:
    pass


def test_skips_for_a_missing_tool() -> None:
    pytest.skip("helm is not installed")


def test_skips_for_want_of_an_api_server() -> None:
    pytest.skip(f"kubectl apply: {NO_API_SERVER}")


@pytest.mark.xfail(reason="an expected failure is no skip", strict=True)
def test_fails_as_expected() -> None:
    raise AssertionError


@pytest.mark.parametrize("chart", [])
def test_of_nothing(chart: str) -> None:
    pass
"""


def test_only_the_two_impossibilities_may_skip(tmp_path: Path) -> None:
    """The suite's hooks (``tests/conftest.py``, loaded as a plugin) turn any other skip into a failure,
    the empty parameter set included."""
    (tmp_path / "test_skips.py").write_text(SKIPS)
    result = run(
        "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", "-rs", str(tmp_path / "test_skips.py"),
        path=os.environ["PATH"],
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("1 failed, 1 passed, 1 skipped, 1 xfailed, 1 error"), result.stdout
    assert "skipped (helm is not installed), but only these may skip" in result.stdout
    assert "skipped (got empty parameter set" in result.stdout
