"""Bad input of every kind: a clear one-line error naming what is at fault, a non-zero exit, and the
status repository exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crosscloud.cli import main
from tests.helpers.status_repos import record_data, snapshot

GOOD = [
    "--project",
    "etcd",
    "--release",
    "stable",
    "--stage",
    "deploy",
    "--cloud",
    "local",
    "--status",
    "success",
]


def with_option(name: str, value: str) -> list[str]:
    args = list(GOOD)
    if f"--{name}" in args:
        args[args.index(f"--{name}") + 1] = value
    else:
        args += [f"--{name}", value]
    return args


OPTION_CASES: dict[str, tuple[list[str], str]] = {
    "project ..": (with_option("project", ".."), "invalid project name '..'"),
    "project with slash": (with_option("project", "etcd/../../x"), "invalid project name"),
    "project with NUL": (with_option("project", "et\x00cd"), "invalid project name"),
    "project with escape": (with_option("project", "etcd\x1b[31m"), "invalid project name"),
    "project absurdly long": (with_option("project", "e" * 5000), "invalid project name"),
    "project upper case": (with_option("project", "ETCD"), "invalid project name"),
    "unknown project": (with_option("project", "coredns"), "unknown project 'coredns'"),
    "cloud traversal": (with_option("cloud", "../../etc"), "invalid cloud name"),
    "unknown cloud": (with_option("cloud", "aws"), "unknown cloud 'aws'"),
    "build on a cloud": (with_option("stage", "build"), "a build runs on no cloud"),
    "deploy without cloud": (GOOD[:6] + GOOD[8:], "needs --cloud"),
    "kubernetes on host cloud": (with_option("kubernetes", "head"), "drop --kubernetes"),
    "bad sha": (with_option("sha", "not-a-sha"), "sha"),
    "bad time": (with_option("started-at", "yesterday"), "started_at"),
    "finish before start": (
        [*with_option("started-at", "2026-11-02T00:00:00Z"), "--finished-at", "2026-11-01T00:00:00Z"],
        "finished before it started",
    ),
    "javascript url": (with_option("url", "javascript:alert(1)"), "url"),
    "reason with control character": (with_option("reason", "bad\x07bell"), "reason"),
    "reason too long": (with_option("reason", "x" * 600), "reason"),
    "arch of another project": (with_option("arch", "arm64"), "unknown arch 'arm64'"),
    "missing status": (GOOD[:-2], "record needs --status"),
}

ARGPARSE_CASES: dict[str, list[str]] = {
    "unknown stage": with_option("stage", "lint"),
    "unknown release": with_option("release", "beta"),
    "unknown status": with_option("status", "green"),
    "unknown arch": with_option("arch", "sparc"),
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args,message", OPTION_CASES.values(), ids=OPTION_CASES.keys())
def test_bad_record_options(
    status_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(status_repo)
    code, err = run(capsys, "record", "--repo", str(status_repo), *args)
    assert code == 2
    assert err.startswith("crosscloud: error: ") and message in err
    assert len(err) < 2000
    assert snapshot(status_repo) == before


@pytest.mark.parametrize("args", ARGPARSE_CASES.values(), ids=ARGPARSE_CASES.keys())
def test_bad_choices_list_the_allowed_values(
    status_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = snapshot(status_repo)
    code, err = run(capsys, "record", "--repo", str(status_repo), *args)
    assert code == 2 and "invalid choice" in err and "choose from" in err
    assert snapshot(status_repo) == before


def _file(content: bytes | str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "record.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return make


def _json(**overrides: object) -> Callable[[Path], Path]:
    return _file(json.dumps(record_data(**overrides)))


FILE_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "invalid JSON": (_file('{"project": '), "invalid JSON"),
    "not UTF-8": (_file(b'{"project": "\xff\xfe"}'), "not UTF-8"),
    "a JSON array": (_file("[1, 2]"), "must be a JSON object"),
    "empty file": (_file(""), "invalid JSON"),
    "schema violation": (_json(status="green"), "status"),
    "missing field": (_file(json.dumps({k: v for k, v in record_data().items() if k != "stage"})), "'stage'"),
    "traversal in project": (_json(project="../../../etc"), "project"),
    "NUL in cloud": (_json(cloud="lo\u0000cal"), "cloud"),
    "unknown project": (_json(project="coredns"), "unknown project 'coredns'"),
    "unknown cloud": (_json(cloud="gke"), "unknown cloud 'gke'"),
    "huge file": (_file("{" + " " * 70_000 + "}"), "too large"),
    "a directory": (lambda tmp: tmp, "cannot read"),
    "missing file": (lambda tmp: tmp / "nope.json", "cannot read"),
}


@pytest.mark.parametrize("make,message", FILE_CASES.values(), ids=FILE_CASES.keys())
def test_bad_record_files(
    status_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    message: str,
) -> None:
    before = snapshot(status_repo)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record_data(project="nats")))
    bad = make(_mkdir(tmp_path / "in"))
    code, err = run(capsys, "record", "--repo", str(status_repo), str(good), str(bad))
    assert code == 2, err
    assert err.startswith("crosscloud: error: ") and message in err
    assert snapshot(status_repo) == before  # the good file in the same call did not land either


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


CONFIG_CASES: dict[str, tuple[bytes, str]] = {
    "invalid YAML": (b"clouds: [\n", "invalid YAML"),
    "not UTF-8": (b"clouds:\n  aws: {display_name: \xff}\n", "not UTF-8"),
    "schema violation": (b"clouds:\n  aws: {active: maybe}\nprojects: {k: {}}\n", "clouds.aws.active"),
    "a list": (b"- clouds\n", "expected a mapping"),
    "empty": (b"", "expected a mapping"),
}


@pytest.mark.parametrize("content,message", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_configurations_are_refused_by_validate_and_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    config = tmp_path / "cross-cloud.yml"
    config.write_bytes(content)
    code, err = run(capsys, "validate", str(config))
    assert code == 2 and str(config) in err and message in err
    target = tmp_path / "new.git"
    code, err = run(capsys, "init", "--repo", str(target), "--config", str(config))
    assert code == 2 and message in err
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == ["cross-cloud.yml"]


def test_init_never_touches_an_existing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    code, err = run(capsys, "init", "--repo", str(target))
    assert code == 2 and "already exists" in err
    assert (target / "precious.txt").read_text() == "keep me"


READ_CASES: dict[str, tuple[list[str], int, str]] = {
    "history unknown project": (["history", "--project", "coredns"], 2, "unknown project 'coredns'"),
    "history traversal": (["history", "--project", "../x"], 2, "invalid project name"),
    "history unknown cloud": (["history", "--project", "etcd", "--cloud", "aws"], 2, "unknown cloud 'aws'"),
    "history zero limit": (["history", "--project", "etcd", "--limit", "0"], 2, "--limit must be at least 1"),
}


@pytest.mark.parametrize("args,code,message", READ_CASES.values(), ids=READ_CASES.keys())
def test_bad_read_arguments(
    status_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    before = snapshot(status_repo)
    got, err = run(capsys, *args, "--repo", str(status_repo))
    assert got == code and message in err
    assert snapshot(status_repo) == before


def test_a_missing_repository_is_an_operational_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "status", "--repo", str(tmp_path / "nowhere.git"))
    assert code == 1 and "no status repository at" in err
    code, err = run(capsys, "status", "--repo", str(tmp_path))
    assert code == 1 and "is not a git repository" in err
