"""What the action's tests share: the embedded default configuration
(the one users get), a ``StageContext`` with a short deadline, a local-cloud target with its sandbox, and
ways to prove that no process was left behind."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

from crosscloud.config import Project, load_config
from crosscloud_action.model import Target
from crosscloud_action.runtimes.interface import StageContext

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "status-data" / "cross-cloud.yml")
SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin", "/sbin"])


RELEASES = [
    pytest.param(project, release, id=f"{project}-{release}")
    for project in ("prometheus", "etcd", "nats")
    for release in CONFIG.project(project).releases
]
"""Every (project, release) the default configuration tests (their binaries: ``tests/helpers/required_tools.py``)."""


def stage_context(project: Project | str, release: str, workdir: Path, timeout: float = 30.0) -> StageContext:
    """A stage of ``project`` at ``release`` on the local cloud, logging into a string, ``timeout`` s left."""
    if isinstance(project, str):
        project = CONFIG.project(project)
    workdir.mkdir(parents=True, exist_ok=True)
    return StageContext(
        project=project,
        release=release,
        arch="amd64",
        cloud=CONFIG.cloud("local"),
        workdir=workdir,
        log=io.StringIO(),
        deadline=time.monotonic() + timeout,
    )


def log_of(ctx: StageContext) -> str:
    assert isinstance(ctx.log, io.StringIO)
    return ctx.log.getvalue()


def local_target(tmp_path: Path) -> Target:
    """What ``terraform/local`` outputs: the endpoint and a sandbox directory that exists."""
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    return Target(cloud="local", endpoint="127.0.0.1", sandbox=sandbox)


def process_gone(pid: int) -> bool:
    """True when no process ``pid`` exists (it was stopped and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def processes_mentioning(text: str) -> list[int]:
    """Pids of the live processes whose command line contains ``text`` (e.g. a sandbox path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def started_pid(ctx: StageContext, project: str) -> int:
    """The pid the host runtime logged when it started ``project``."""
    match = re.search(rf"^{re.escape(project)}: pid (\d+),", log_of(ctx), re.MULTILINE)
    assert match, log_of(ctx)
    return int(match.group(1))
