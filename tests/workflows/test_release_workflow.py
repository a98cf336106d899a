""".github/workflows/release.yml, the release (RELEASING.md): its shape, read from the file. actionlint runs
on it with every other workflow (tests/workflows/test_workflows.py); a real run needs GitHub and PyPI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.paths import ROOT

RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps_using(job: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(prefix)]


def test_only_a_version_tag_releases() -> None:
    on = load(RELEASE)[True]
    assert on == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    pattern = on["push"]["tags"][0].replace(".", r"\.").replace("[0-9]+", "[0-9]+")
    for tag, releases in (("v1.2.3", True), ("v10.0.12", True), ("v1", False), ("1.2.3", False), ("v1.2", False)):
        assert bool(re.fullmatch(pattern, tag)) is releases, tag


def test_tests_then_build_then_pypi_then_the_github_release() -> None:
    data = load(RELEASE)
    jobs = data["jobs"]
    assert data["permissions"] == {"contents": "read"}
    assert [jobs[name].get("needs") for name in ("test", "build", "pypi", "github-release")] == [
        None,
        "test",
        "build",
        "pypi",
    ]
    test_runs = " ".join(s.get("run", "") for s in jobs["test"]["steps"])
    assert "make test" in test_runs and "pyproject.toml" in test_runs
    assert "python -m build --outdir dist/" in " ".join(s.get("run", "") for s in jobs["build"]["steps"])


def test_pypi_by_trusted_publishing_with_the_only_id_token() -> None:
    jobs = load(RELEASE)["jobs"]
    pypi = jobs["pypi"]
    assert pypi["permissions"] == {"id-token": "write"}
    assert pypi["environment"]["name"] == "pypi"
    (publish,) = steps_using(pypi, "pypa/gh-action-pypi-publish@")
    assert "with" not in publish or not {"password", "user"} & set(publish["with"])  # no token: trusted publishing
    for name, job in jobs.items():
        if name != "pypi":
            assert "id-token" not in job.get("permissions", {}), name
    text = RELEASE.read_text(encoding="utf-8")
    assert "secrets." not in text


def test_the_github_release_then_the_major_tag_moves() -> None:
    job = load(RELEASE)["jobs"]["github-release"]
    assert job["permissions"] == {"contents": "write"}
    runs = [s.get("run", "") for s in job["steps"]]
    release = next(i for i, r in enumerate(runs) if r.startswith("gh release create"))
    move = next(i for i, r in enumerate(runs) if "git push --force origin" in r)
    assert release < move
    assert 'major="${TAG%%.*}"' in runs[move]


def test_the_action_installs_itself_from_its_own_checkout() -> None:
    """Never an unpublished (or any) package name: the install step works in the action's own path."""
    action = load(ROOT / "action.yml")
    install = next(s for s in action["runs"]["steps"] if s.get("id") == "install")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'cd "$ACTION_PATH"' in install["run"]
    pip_lines = [line for line in install["run"].splitlines() if "pip install" in line]
    assert pip_lines and all('"$dir/src[local]"' in line for line in pip_lines), pip_lines
