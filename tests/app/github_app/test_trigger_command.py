"""``crosscloud trigger``: the nightly workflow dispatched with a token. GitHub's answers come from betamax
cassettes standing in for github.com, through a real HTTP server on 127.0.0.1 that the command reaches with
``--api-url``, the option that also serves GitHub Enterprise Server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crosscloud import cli
from tests.helpers.github_replay import ReplayServer

NIGHTLY = "octo-org/nightly"


@pytest.fixture
def trigger_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """``crosscloud``, whose ``trigger`` command the app adds through its ``crosscloud.commands`` entry point."""
    for name in ("GITHUB_TOKEN", "CROSSCLOUD_GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> int:
        return cli.main(list(argv))

    return run


def test_trigger_command_dispatches(
    trigger_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CROSSCLOUD_GITHUB_TOKEN", "ghp_" + "t" * 36)
    with ReplayServer("trigger_cli") as github:
        status = trigger_cli(
            "trigger", "--repository", NIGHTLY, "--ref", "v1", "--input", "project=etcd", "--input",
            "release=stable", "--api-url", github.url,
        )  # fmt: skip
    out = capsys.readouterr()
    assert status == 0, out.err
    assert '"inputs": {"project": "etcd", "release": "stable"}' in out.out
    assert github.unmatched == [] and github.unused() == []
    assert {headers["Authorization"] for _, _, headers in github.seen} == {"token ghp_" + "t" * 36}


def test_trigger_command_reports_githubs_refusal(
    trigger_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "t" * 36)
    monkeypatch.setenv("GITHUB_REPOSITORY", NIGHTLY)
    with ReplayServer("trigger_cli_missing_workflow") as github:
        status = trigger_cli("trigger", "--api-url", github.url)
    assert status == 1
    assert "octo-org/nightly nightly.yml on main: GitHub answered 404: Not Found" in capsys.readouterr().err
    assert github.unused() == []


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--repository", NIGHTLY], {}, "no GitHub token"),
        ([], {"GITHUB_TOKEN": "x"}, "no repository"),
        (["--repository", "nightly"], {"GITHUB_TOKEN": "x"}, "must be owner/name"),
        (["--repository", NIGHTLY, "--workflow", "a/b.yml"], {"GITHUB_TOKEN": "x"}, "must be a file name"),
    ],
)
def test_trigger_command_bad_input(
    trigger_cli: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, Any],
    message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert trigger_cli("trigger", *argv, "--api-url", "http://127.0.0.1:9") == 2
    assert message in capsys.readouterr().err


def test_trigger_input_must_be_key_value(trigger_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        trigger_cli("trigger", "--input", "novalue")
    assert exit_.value.code == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
