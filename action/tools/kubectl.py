"""kubectl for the Kubernetes runtime, and the one place where what helm and kubectl print on failure is
turned into a stage outcome.

Every call names the cluster with ``--kubeconfig <file>``: the kubeconfig the provision stage produced is
written into the cell's own directory with mode 0600 (``write_kubeconfig``), so its credentials are never
in an argument list, an environment variable another cell could see, or the cell's log.

Why one classifier for both tools: helm and kubectl share client-go, so an unreachable API server, a
rejected credential or an exhausted quota reads the same in both, and the difference between "the cloud
failed us" (``infra_failed``) and "the project's chart or release is broken" (``failed``) must be decided
the same way everywhere. ``classify`` is tested against texts the real binaries print."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosscloud_action.errors import InfraFailure, ProjectFailure, StageFailure, StageTimeout
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import transcripts

REQUEST_TIMEOUT = 20
"""Seconds one kubectl request may take (``--request-timeout``): diagnostics must never hang a cell."""
REASON_LIMIT = 300

# (pattern, what it means): the first that matches a tool's error output decides. Order matters: an
# unreachable server can also say "context deadline exceeded", a quota is also "forbidden", and helm
# reports refused credentials as "Kubernetes cluster unreachable: ... provide credentials".
_INFRA: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), meaning)
    for pattern, meaning in (
        (r"exceeded quota", "a resource quota of the cluster is exhausted"),
        (r"Unauthorized|provide credentials|You must be logged in", "the cluster refused the credentials"),
        (r"is forbidden: User \"[^\"]*\" cannot", "the cluster's RBAC forbids it"),
        # kubectl's reading calls (get, logs, delete) hit only RBAC; an admission refusal of the chart's
        # pods ("violates PodSecurity") is the project's.
        (r"Error from server \(Forbidden\)(?!.*violates PodSecurity)", "the cluster's RBAC forbids it"),
        (r"Kubernetes cluster unreachable", "the Kubernetes API server is unreachable"),
        (r"The connection to the server \S+ was refused", "the Kubernetes API server is unreachable"),
        (
            r"dial tcp [^\n]*(connection refused|i/o timeout|no route to host)",
            "the Kubernetes API server is unreachable",
        ),
        (r"no such host", "the Kubernetes API server's name does not resolve"),
        (r"TLS handshake timeout|x509: ", "the Kubernetes API server's TLS failed"),
        (r"the server is currently unable to handle the request|ServiceUnavailable", "the API server is unavailable"),
        (r"etcdserver: request timed out|Internal error occurred", "the API server failed internally"),
        (r"Client\.Timeout exceeded|net/http: request canceled", "the Kubernetes API server does not answer"),
    )
)
_TIMEOUT = re.compile(r"context deadline exceeded|timed out waiting for the condition", re.IGNORECASE)
_NOT_FOUND = re.compile(r"release: not found|Release not loaded|\(NotFound\)")
_ERROR_LINE = re.compile(r"^\s*(Error: |error: |Error from server)", re.MULTILINE)
_KLOG = re.compile(r"^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+\] ")
"""client-go's own log lines (``E1123 22:14:32.620903   31077 memcache.go:265] ...``): noise before the error."""


def error_text(stderr: str) -> str:
    """The line that says what went wrong: helm's ``Error: ...`` (with the ``* ...`` lines of a multi-error
    joined on), kubectl's ``error: ...`` / ``Error from server ...``, else the last line that is not
    client-go's logging."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if _ERROR_LINE.match(line):
            rest = [item.lstrip("* ").strip() for item in lines[index + 1 :] if item.startswith("*")]
            return " ".join([line, *rest])
    plain = [line for line in lines if not _KLOG.match(line)]
    return (plain or lines or ["no error output"])[-1]


def is_not_found(stderr: str) -> bool:
    """True when the failure only says the thing is already gone (teardown tolerates that)."""
    return bool(_NOT_FOUND.search(error_text(stderr)))


def classify(what: str, stderr: str, *, waited: str | None = None) -> StageFailure:
    """The stage outcome for ``what`` (e.g. ``helm upgrade``) having failed with ``stderr``.

    - the environment (unreachable API server, credentials, RBAC, quota): ``InfraFailure``;
    - a wait that used up its time (helm's ``--wait``/``--timeout``, which is the stage's remaining
      time): ``StageTimeout``, saying what was ``waited`` for;
    - anything else (a render error, a failed hook or test pod, an invalid manifest, a release in a
      bad state): ``ProjectFailure``.
    """
    text = error_text(stderr)
    shown = text[:REASON_LIMIT]
    for pattern, meaning in _INFRA:
        if pattern.search(stderr):
            return InfraFailure(f"{what}: {meaning}: {shown}")
    if _TIMEOUT.search(text):
        return StageTimeout(f"{what}: {waited or 'its wait'} did not finish in time: {shown}")
    return ProjectFailure(f"{what}: {shown}")


def find_binary(name: str, ctx: StageContext) -> str:
    """``name`` on the PATH the stage runs with, else beside this Python (the virtual environment that
    ``scripts/install-helm.py`` installs into), else the bare name: running it then reports
    ``InfraFailure`` (not installed)."""
    path = ctx.env.get("PATH", os.environ.get("PATH", os.defpath))
    found = shutil.which(name, path=path)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if os.access(beside, os.X_OK) else name


def write_kubeconfig(directory: Path, kubeconfig: Any) -> Path:
    """Write the cluster's kubeconfig (text, or a mapping from a terraform output) to ``directory`` with
    mode 0600 and return its path; it never goes anywhere else."""
    if not kubeconfig:
        raise InfraFailure("the environment has no kubeconfig (terraform output 'kubeconfig' is empty)")
    if not isinstance(kubeconfig, str):
        import json

        kubeconfig = json.dumps(kubeconfig)  # JSON is YAML: kubectl and helm read it as it is
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kubeconfig"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(kubeconfig)
    path.chmod(0o600)  # also when the file was there before with a wider mode
    return path


@dataclass(frozen=True)
class PodState:
    """One row of ``kubectl get pods -o wide``."""

    name: str
    ready: str
    status: str

    @property
    def healthy(self) -> bool:
        if self.status in ("Completed", "Succeeded"):
            return True
        have, _, want = self.ready.partition("/")
        return self.status == "Running" and have == want


CRASHED = frozenset(
    {
        "CrashLoopBackOff",
        "Error",
        "OOMKilled",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "Init:CrashLoopBackOff",
        "Init:Error",
        "Init:ImagePullBackOff",
        "Init:ErrImagePull",
    }
)
"""Pod statuses that no amount of waiting fixes: the project's image or configuration is at fault."""


def parse_pods(text: str) -> list[PodState]:
    """The pods of ``kubectl get pods -o wide`` output (the first three columns; RESTARTS may hold spaces)."""
    pods = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            pods.append(PodState(fields[0], fields[1], fields[2]))
    return pods


class Kubectl:
    """kubectl against one cluster. Every call carries ``--kubeconfig`` and ``--request-timeout``."""

    def __init__(self, ctx: StageContext, kubeconfig: Path, binary: str | None = None):
        self.ctx = ctx
        self.kubeconfig = kubeconfig
        self.binary = binary or find_binary("kubectl", ctx)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", str(self.kubeconfig), f"--request-timeout={REQUEST_TIMEOUT}s", *args]

    def run(
        self, what: str, args: Sequence[str], *, ctx: StageContext | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one kubectl command; a non-zero exit raises what ``classify`` says."""
        result = transcripts.run(ctx or self.ctx, "kubectl", self.argv(*args), timeout=timeout)
        if result.returncode != 0:
            raise classify(f"kubectl {what}", result.stderr)
        return result

    def get_pods(self, namespace: str, *, ctx: StageContext | None = None) -> list[PodState]:
        result = self.run("get pods", ["get", "pods", "--namespace", namespace, "-o", "wide"], ctx=ctx)
        return parse_pods(result.stdout)

    def get_events(self, namespace: str, *, ctx: StageContext | None = None) -> str:
        args = ["get", "events", "--namespace", namespace, "--sort-by=.lastTimestamp"]
        return self.run("get events", args, ctx=ctx).stdout

    def logs(self, namespace: str, pod: str, *, tail: int = 200, ctx: StageContext | None = None) -> str:
        args = ["logs", "--namespace", namespace, f"pod/{pod}", "--all-containers", f"--tail={tail}", "--prefix"]
        return self.run("logs", args, ctx=ctx).stdout

    def delete_namespace(self, namespace: str, *, timeout: int, ctx: StageContext | None = None) -> None:
        """Delete ``namespace`` and wait until it is gone; one that is not there is fine."""
        args = ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true", f"--timeout={timeout}s"]
        self.run("delete namespace", args, ctx=ctx)
