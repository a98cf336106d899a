"""GitHub Actions I/O: step outputs, the job summary, annotations and masking, through the files and
workflow commands the runner reads. Outside a runner (no ``GITHUB_OUTPUT``) outputs are simply not
written, and annotations go to stderr as plain lines."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from crosscloud.presentation import look
from crosscloud.records import Record

HINTS = {
    "failed": "the project failed this stage: read the job log above",
    "infra_failed": "the environment failed, not the project (a tool, the cloud, a registry): re-run the job",
    "timed_out": "the stage ran past the project's timeout: raise `timeout` in cross-cloud.yml or speed it up",
    "cancelled": "the job was cancelled",
}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def mask(value: str, out: IO[str] = sys.stdout) -> None:
    """Ask the runner to hide ``value`` in every later log line."""
    if value:
        print(f"::add-mask::{_escape_data(value)}", file=out, flush=True)


def annotate(level: str, message: str, *, title: str | None = None, out: IO[str] = sys.stdout) -> None:
    """An ``::error``/``::warning``/``::notice`` annotation (shown on the run's summary page)."""
    properties = f" title={_escape_property(title)}" if title else ""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::{level}{properties}::{_escape_data(message)}", file=out, flush=True)
    else:
        print(f"{level}: {title + ': ' if title else ''}{message}", file=sys.stderr, flush=True)


def set_outputs(values: Mapping[str, str], path: str | None = None) -> None:
    """Write step outputs, each with a random heredoc delimiter so no value can end it early."""
    target = path or os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as out:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def summary_markdown(records: Sequence[Record], *, title: str, log_hint: str | None = None) -> str:
    """The job summary: one row per stage with its status (icon and word of ``crosscloud.presentation``),
    reason and ref."""
    lines = [f"### {title}", "", "| stage | cloud | status | reason | ref |", "| --- | --- | --- | --- | --- |"]
    for record in records:
        shown = look(record.status)
        reason = (record.reason or "").replace("|", "\\|").replace("\n", " ")
        ref = record.ref or ""
        if record.sha:
            ref = f"{ref} ({record.sha[:7]})" if ref else record.sha[:7]
        lines.append(f"| {record.stage} | {record.cloud or '-'} | {shown.icon} {shown.word} | {reason} | {ref} |")
    failures = [r for r in records if r.status in HINTS]
    if failures:
        lines += ["", "**What to do:** " + HINTS[failures[0].status] + "."]
    if log_hint:
        lines += ["", log_hint]
    return "\n".join(lines) + "\n"


def write_summary(markdown: str, path: str | None = None) -> None:
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(markdown)
