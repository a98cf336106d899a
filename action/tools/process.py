"""The one way stages run programs: an argument list (never a shell), output into the cell's log, the
stage's deadline and cancellation honoured, the whole process group killed on the way out, and a
missing program reported as an infrastructure failure rather than a crash."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from crosscloud_action.errors import InfraFailure, ProjectFailure, StageCancelled, StageFailure, StageTimeout
from crosscloud_action.runtimes.interface import StageContext

POLL = 0.1
KILL_GRACE = 5.0


def _remaining(ctx: StageContext, timeout: float | None) -> float:
    left = ctx.deadline - time.monotonic()
    return left if timeout is None else min(left, timeout)


def kill_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = KILL_GRACE) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run(
    ctx: StageContext,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    failure: type[StageFailure] = ProjectFailure,
    capture: bool = True,
    log_stdout: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` to completion. Its stderr goes to the cell's log; stdout is returned (and logged, unless
    ``log_stdout`` is False: output that carries secrets, such as terraform's sensitive outputs).

    Raises ``StageTimeout`` past the deadline (or ``timeout``), ``StageCancelled`` when the cell is
    cancelled, ``InfraFailure`` when the program is not installed, and ``failure`` (``ProjectFailure``
    by default) on a non-zero exit when ``check``."""
    name = Path(args[0]).name
    print(f"$ {shlex.join(args)}", file=ctx.log, flush=True)
    full_env = {**os.environ, **ctx.env, **(env or {})}
    proc: subprocess.Popen[str] = _spawn(
        args,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else ctx.log,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = _communicate(ctx, proc, input, timeout, name, log_stdout)
    finally:
        kill_group(proc)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if stdout and log_stdout:
        ctx.log.write(stdout if stdout.endswith("\n") else stdout + "\n")
    elif stdout:
        print(f"({len(stdout)} characters of output kept out of the log)", file=ctx.log)
    if stderr:
        ctx.log.write(stderr if stderr.endswith("\n") else stderr + "\n")
    ctx.log.flush()
    if check and proc.returncode != 0:
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "no error output")
        raise failure(f"{name} exited with {proc.returncode}: {last.strip()[:300]}")
    return subprocess.CompletedProcess(list(args), proc.returncode, stdout or "", stderr or "")


def _communicate(
    ctx: StageContext,
    proc: subprocess.Popen[str],
    input: str | None,
    timeout: float | None,
    name: str,
    log_stdout: bool = True,
) -> tuple[str, str]:
    """``communicate`` in short slices, so a cancellation is noticed within ``POLL`` seconds."""
    pending_input = input
    started = time.monotonic()
    while True:
        if ctx.cancel.is_set():
            _drain_into_log(ctx, proc, log_stdout)
            raise StageCancelled(f"{name} was cancelled")
        left = _remaining(ctx, None if timeout is None else timeout - (time.monotonic() - started))
        if left <= 0:
            _drain_into_log(ctx, proc, log_stdout)
            raise StageTimeout(f"{name} timed out after {time.monotonic() - started:.0f} s")
        try:
            stdout, stderr = proc.communicate(input=pending_input, timeout=min(POLL, left))
            return stdout or "", stderr or ""
        except subprocess.TimeoutExpired:
            pending_input = None  # already sent on the first call


def _drain_into_log(ctx: StageContext, proc: subprocess.Popen[str], log_stdout: bool = True) -> None:
    """Stop ``proc`` and keep what it had written so far: the log of a timeout must show where it hung."""
    kill_group(proc)
    try:
        stdout, stderr = proc.communicate(timeout=KILL_GRACE)
    except (subprocess.TimeoutExpired, ValueError):
        return
    for text in (stdout if log_stdout else None, stderr):
        if text:
            ctx.log.write(text if text.endswith("\n") else text + "\n")
    ctx.log.flush()


def start(
    ctx: StageContext,
    args: Sequence[str],
    *,
    log_file: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process (a server) in its own process group, its output in ``log_file``.
    Stop it with ``kill_group``."""
    print(f"$ {shlex.join(args)} &  # output in {log_file}", file=ctx.log, flush=True)
    out: IO[bytes] = log_file.open("ab")
    try:
        proc: subprocess.Popen[bytes] = _spawn(
            args,
            cwd=cwd,
            env={**os.environ, **ctx.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        return proc
    finally:
        out.close()


def _spawn(args: Sequence[str], **kwargs: Any) -> Any:
    """``Popen`` in a new process group; a program that is missing or not executable is the
    environment's failure (``InfraFailure``), not a crash."""
    name = Path(args[0]).name
    try:
        return subprocess.Popen(list(args), start_new_session=True, **kwargs)
    except FileNotFoundError:
        raise InfraFailure(f"{name} is not installed (not found on PATH)") from None
    except PermissionError:
        raise InfraFailure(f"{name} is not executable") from None
