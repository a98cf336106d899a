"""The host runtime of the ``local`` cloud: the project's pinned binaries run as plain processes on
127.0.0.1, and its end-to-end checks talk to them there.

The local cloud exists so that the whole pipeline runs on any machine without a cloud account or a
container daemon. To keep parallel cells from colliding, each deployment gets a directory of its own
inside the sandbox the provision stage made (terraform removes the sandbox on destroy), ports the kernel
reports free, and its own process group, which teardown kills as a whole.

What to start comes from the project's ``run`` configuration (``schema/config.schema.json``,
``$defs/run``): ``command``, ``files`` written into the directory first, ``env``, named ``ports`` and a
``ready`` probe. Placeholders in all of these, and in the ``e2e`` arguments, are filled in per
deployment:

- ``{port}`` (always allocated) and ``{port.NAME}`` for each name in ``run.ports``;
- ``{dir}``: the deployment's directory;
- ``{binary.NAME}``: the path of the pinned binary NAME, so what runs is exactly what the build pinned.

Placeholders are written as ``runtimes.placeholders`` says; an unknown one is a mistake in the configuration
and fails the stage before anything starts."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from crosscloud.stage_specs import E2ESpec, ReadySpec
from crosscloud_action.checks import CHECKS, describe, http_request, module_of
from crosscloud_action.errors import InfraFailure, ProjectFailure, StageCancelled, StageTimeout
from crosscloud_action.model import Pinned, Target
from crosscloud_action.runtimes.interface import REASON_LIMIT, Deployment, Runtime, StageContext
from crosscloud_action.runtimes.placeholders import Placeholders
from crosscloud_action.tools import process

HOST = "127.0.0.1"
POLL = 0.2
"""Seconds between readiness probes."""
PROBE_TIMEOUT = 1.0
TAIL_IN_REASON = 3
TAIL_AT_TEARDOWN = 200

_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x09\x0b-\x1f\x7f]")


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports the kernel reports free on ``host``. All are held until every one is
    chosen, so none repeats; another program can still take one before the project binds it, which
    then shows as the project failing to start, with the bind error in its log."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def log_tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` non-empty lines of a log file; none when it is gone (teardown never fails)."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    # Control characters (colour codes of a server that thinks it has a terminal) cannot go into a record.
    text = _CONTROL.sub("", data.decode(errors="replace").replace("\t", " "))
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


def with_tail(message: str, log_file: Path) -> str:
    """``message`` and the end of the process's log, within a record's reason: the message is kept
    whole and the log cut from its start, since its last lines say most."""
    tail = " | ".join(log_tail(log_file, TAIL_IN_REASON))
    if not tail:
        return message[:REASON_LIMIT]
    head = f"{message}; its log ends: "
    room = REASON_LIMIT - len(head)
    if room < 40:
        return message[:REASON_LIMIT]
    return head + (tail if len(tail) <= room else "…" + tail[-(room - 1) :])


@dataclass(frozen=True)
class Probe:
    """One readiness condition: an HTTP URL that answers 2xx, or a TCP port that accepts."""

    kind: Literal["http", "tcp"]
    url: str = ""
    address: tuple[str, int] = ("", 0)

    @classmethod
    def http(cls, url: str) -> Probe:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise ProjectFailure(f"run.ready.http: {url!r} is not an http(s) URL")
        return cls("http", url=url)

    @classmethod
    def tcp(cls, text: str, host: str = HOST) -> Probe:
        address, _, port = text.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ProjectFailure(f"run.ready.tcp: {text!r} is not PORT or HOST:PORT")
        return cls("tcp", address=(address.strip("[]") or host, int(port)))

    def __str__(self) -> str:
        return self.url if self.kind == "http" else f"tcp {self.address[0]}:{self.address[1]}"

    def failure(self, timeout: float) -> str | None:
        """None when ready, else what was seen instead."""
        try:
            if self.kind == "tcp":
                with socket.create_connection(self.address, timeout=timeout):
                    return None
            status, _ = http_request(self.url, timeout=timeout)
        except OSError as exc:
            return f"{self}: {describe(exc)}"
        return None if 200 <= status < 300 else f"{self}: HTTP {status}"


@dataclass
class Running:
    """The host runtime's handle in ``Deployment.handles["host"]``."""

    name: str
    process: subprocess.Popen[bytes]
    directory: Path
    log_file: Path
    placeholders: Placeholders
    stopped: bool = False


class HostRuntime:
    """``interface.Runtime`` for clouds with ``kubernetes: false``."""

    def __init__(self, host: str = HOST, poll: float = POLL):
        self.host = host
        self.poll = poll

    def deploy(self, ctx: StageContext, target: Target, pinned: Pinned) -> Deployment:
        """Start the project and wait until it is ready. On any failure, including a timeout or a
        cancellation, what was started is stopped before the error is raised: the caller has no
        ``Deployment`` to tear down then."""
        name, spec = ctx.project.name, ctx.project.run
        if spec is None or not spec.command:
            raise ProjectFailure(f"{name} has no 'run' configuration, so it cannot run on the {target.cloud} cloud")
        directory = self._directory(ctx, target)
        try:
            port_names = ["port", *(f"port.{p}" for p in dict.fromkeys(spec.ports))]
            ports = dict(zip(port_names, free_ports(len(port_names), self.host), strict=True))
            binaries = {f"binary.{b.name}": b.path for b in pinned.binaries if b.path}
            fill = Placeholders({**{k: str(v) for k, v in ports.items()}, "dir": str(directory), **binaries})
            command = [fill(arg, f"run.command[{i}]") for i, arg in enumerate(spec.command)]
            env = {key: fill(value, f"run.env.{key}") for key, value in spec.env.items()}
            files = {file: fill(text, f"run.files.{file}") for file, text in spec.files.items()}
            probes = self._probes(spec.ready, fill, ports["port"])
            self._write_files(directory, files)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        log_file = directory / f"{name}.log"
        started = process.start(ctx, command, log_file=log_file, cwd=directory, env=env)
        running = Running(name, started, directory, log_file, fill)
        endpoints = {key: f"{self.host}:{port}" for key, port in ports.items()}
        http = next((p.url for p in probes if p.kind == "http"), None)
        if http:
            endpoints["ready"] = http
        deployment = Deployment(target=target, pinned=pinned, endpoints=endpoints, handles={"host": running})
        shown = ", ".join(f"{{{key}}}={port}" for key, port in ports.items())
        print(f"{name}: pid {started.pid}, {shown}, directory {directory}", file=ctx.log, flush=True)
        try:
            self._wait_ready(ctx, running, probes)
        except BaseException:
            self.teardown(ctx, deployment)
            raise
        return deployment

    def e2e(self, ctx: StageContext, deployment: Deployment) -> None:
        """Run ``e2e.check`` (a built-in check, in its own process) and/or ``e2e.command``; a non-zero
        exit fails the stage with the last line the check printed."""
        running = _running(deployment)
        code = running.process.poll()
        if code is not None:
            raise ProjectFailure(with_tail(f"{running.name} is no longer running (exit {code})", running.log_file))
        spec = ctx.project.e2e
        commands = self._e2e_commands(spec, running.placeholders)
        if not commands:
            raise ProjectFailure(f"{running.name} has no e2e check or command")
        for what, args in commands:
            result = process.run(ctx, args, cwd=running.directory, timeout=spec.timeout, check=False)
            if result.returncode != 0:
                output = (result.stderr or "").splitlines() or (result.stdout or "").splitlines()
                last = next((line.strip() for line in reversed(output) if line.strip()), "no output")
                raise ProjectFailure(f"{what} failed (exit {result.returncode}): {last}"[:REASON_LIMIT])
            print(f"{what} passed", file=ctx.log, flush=True)

    def teardown(self, ctx: StageContext, deployment: Deployment) -> None:
        """Kill the process group and copy the end of its log into the cell's log (the sandbox with the
        log file goes when the environment is destroyed). A second call does nothing."""
        running = deployment.handles.get("host")
        if not isinstance(running, Running) or running.stopped:
            return
        process.kill_group(running.process)
        running.stopped = True
        print(f"{running.name} stopped (exit {running.process.returncode}); the end of its log:", file=ctx.log)
        for line in log_tail(running.log_file, TAIL_AT_TEARDOWN):
            print(f"  | {line}", file=ctx.log)
        ctx.log.flush()

    def _directory(self, ctx: StageContext, target: Target) -> Path:
        sandbox = target.sandbox
        if sandbox is None:
            raise InfraFailure(f"the {target.cloud} environment has no sandbox directory (terraform output 'sandbox')")
        if not sandbox.is_dir():
            raise InfraFailure(f"the sandbox {sandbox} is not there: was the {target.cloud} environment provisioned?")
        prefix = f"{ctx.project.name}-{ctx.release}-{ctx.arch}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=sandbox))

    @staticmethod
    def _write_files(directory: Path, files: Mapping[str, str]) -> None:
        for file, text in files.items():
            if file in (".", ".."):
                raise ProjectFailure(f"run.files: {file!r} is not a file name")
            (directory / file).write_text(text, encoding="utf-8")

    def _probes(self, ready: ReadySpec, fill: Placeholders, port: int) -> list[Probe]:
        """The ``ready`` conditions (all must hold); without any, ``{port}`` accepting connections."""
        probes = []
        if ready.http is not None:
            probes.append(Probe.http(fill(ready.http, "run.ready.http")))
        if ready.tcp is not None:
            probes.append(Probe.tcp(fill(ready.tcp, "run.ready.tcp"), self.host))
        return probes or [Probe.tcp(str(port), self.host)]

    def _wait_ready(self, ctx: StageContext, running: Running, probes: Sequence[Probe]) -> None:
        """Probe until every condition holds, noticing a process that died, the deadline and a cancellation
        within ``poll`` seconds."""
        started = time.monotonic()
        last = "not probed yet"
        while True:
            if ctx.cancel.is_set():
                raise StageCancelled(f"{running.name}: cancelled while waiting for it to be ready")
            code = running.process.poll()
            if code is not None:
                raise ProjectFailure(
                    with_tail(f"{running.name} exited with {code} before it was ready", running.log_file)
                )
            left = ctx.deadline - time.monotonic()
            if left <= 0:
                waited = time.monotonic() - started
                message = f"{running.name} was not ready after {waited:.0f} s ({last})"
                raise StageTimeout(with_tail(message, running.log_file))
            failure = next((f for p in probes if (f := p.failure(min(PROBE_TIMEOUT, left))) is not None), None)
            if failure is None and running.process.poll() is None:
                shown = ", ".join(str(p) for p in probes)
                print(f"{running.name} is ready after {time.monotonic() - started:.1f} s ({shown})", file=ctx.log)
                return
            last = failure or last
            ctx.cancel.wait(max(0.0, min(self.poll, ctx.deadline - time.monotonic())))

    @staticmethod
    def _e2e_commands(spec: E2ESpec, fill: Placeholders) -> list[tuple[str, list[str]]]:
        """``(what, argv)`` for the built-in check and the command, in that order."""
        commands: list[tuple[str, list[str]]] = []
        check = spec.check
        if check:
            try:
                module = module_of(check)
            except KeyError:
                known = ", ".join(sorted(CHECKS))
                raise ProjectFailure(f"e2e.check {check!r} is not a built-in check (there are: {known})") from None
            args = [sys.executable, "-m", module]
            for key, value in spec.args.items():
                args += [f"--{key}", fill(value, f"e2e.args.{key}")]
            commands.append((f"e2e check {check}", args))
        if spec.command:
            argv = [fill(arg, f"e2e.command[{i}]") for i, arg in enumerate(spec.command)]
            commands.append((f"e2e command {Path(argv[0]).name}", argv))
        return commands


def _running(deployment: Deployment) -> Running:
    running = deployment.handles.get("host")
    if not isinstance(running, Running):
        raise InfraFailure("this deployment was not made by the host runtime")
    return running


if TYPE_CHECKING:
    _conforms: Runtime = HostRuntime()  # mypy proves that the host runtime keeps the Runtime contract
