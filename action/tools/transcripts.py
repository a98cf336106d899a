"""Record mode of the Kubernetes runtime's tool calls. With ``CROSSCLOUD_RECORD_TRANSCRIPTS=DIR`` in the
environment, every helm and kubectl call that ran to its end is written to ``DIR/<tool>-<major.minor>.json``
as one rule of the transcript format that the tests' recorded-CLI stand-ins replay
(``tests/action/recorded_cli``): the arguments, the exit status, stdout and stderr. A cluster's real
answers, recorded where a cluster exists (the kind job of ``.github/workflows/kubernetes-self-test.yml``),
can so replace the transcripts written by hand on machines without one.

A transcript file is a JSON object: ``_about`` (what it holds), ``_provenance`` (``kind: recorded``, the
tool's version, when and where it was recorded) and one rule per call, named
``<tool>-<words of the call>-<ok|exitN>``::

    {"when": ["upgrade", "--install", "etcd-stable", ...], "argv": [...], "exit": 0, "stdout": "...", "stderr": ""}

``when`` is what a stand-in matches a call by (its tokens must occur in the call's arguments, in order):
the arguments less those that differ from run to run (the kubeconfig, values files, the chart's
directory, timeouts, labels, the pinned image values). ``argv`` is the whole call, for the reader.

Nothing secret is written: the credentials of the kubeconfig the call names (tokens, client keys and
certificates, passwords, exec and auth-provider settings), bearer tokens, JWTs, GitHub tokens, PEM
blocks and the values of secret-named environment variables are replaced by ``<redacted ...>``; the
kubeconfig's path, the cell's work directory and the charts directory by placeholders, so a recording
names no machine path.

A call that was killed (a timeout or a cancellation) has no exit status and is not recorded. Writing a
transcript never fails a stage: a problem is reported in the cell's log."""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import json
import os
import platform
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import process

ENV = "CROSSCLOUD_RECORD_TRANSCRIPTS"
VERSION_TIMEOUT = 20.0

VOLATILE_FLAGS = frozenset(
    {"--kubeconfig", "--values", "-f", "--labels", "--set", "--set-string", "--timeout", "--request-timeout"}
)
"""Flags whose values differ from one run to the next: left out of ``when`` with their values."""
VALUED_FLAGS = VOLATILE_FLAGS | {
    "--namespace",
    "-n",
    "-o",
    "--output",
    "--max",
    "--repo",
    "--version",
    "--tail",
    "--sort-by",
    "--context",
}
"""Flags followed by a value (when not written ``--flag=value``): that value is no word of the call."""

REDACTED = "<redacted>"
_SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY", re.IGNORECASE)
_CREDENTIAL_KEY = re.compile(r"token|password|secret|key|cert|data", re.IGNORECASE)
MIN_SECRET = 6
"""Shorter values are not searched for: replacing every "admin" or "true" would garble the output."""
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.DOTALL), "<redacted PEM block>"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "<redacted JWT>"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), "<redacted GitHub token>"),
    (
        re.compile(
            r"(?i)([\"']?\b(?:token|password|client-key-data|client-certificate-data|id-token|refresh-token|"
            r"access-token|client-secret)[\"']?\s*[:=]\s*[\"']?)(?!<redacted)([^\s\"',}]+)"
        ),
        r"\1" + REDACTED,
    ),
)
"""Secrets recognised by their shape, whatever printed them."""

_LOCK = threading.Lock()
"""Cells of one process (``crosscloud run --jobs N``) add to the same files: one writer at a time."""


def recording_dir(ctx: StageContext) -> Path | None:
    """Where this stage records its tool calls, or None when the record mode is off."""
    value = (ctx.env.get(ENV) or os.environ.get(ENV) or "").strip()
    return Path(value) if value else None


def run(ctx: StageContext, tool: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``process.run(ctx, argv, check=False, ...)`` of ``tool`` (helm or kubectl), recorded when the record
    mode is on. The caller decides what a non-zero exit means."""
    result = process.run(ctx, argv, check=False, **kwargs)
    directory = recording_dir(ctx)
    if directory is not None:
        env = {**os.environ, **ctx.env, **(kwargs.get("env") or {})}
        try:
            name = record(directory, tool, argv, result, redactor=Redactor.for_call(ctx, argv, env), env=env)
            print(f"(recorded as {name} in {directory})", file=ctx.log, flush=True)
        except (OSError, ValueError) as problem:
            print(f"record mode: the {tool} call was not recorded: {problem}", file=ctx.log, flush=True)
    return result


# -- redaction -------------------------------------------------------------------------------------


@dataclass
class Redactor:
    """Replaces known secret values, secrets recognised by their shape, and machine paths."""

    secrets: dict[str, str] = field(default_factory=dict)
    """Secret value -> what to write instead (``<redacted kubeconfig users[ci].token>``)."""
    paths: dict[str, str] = field(default_factory=dict)
    """Machine path -> placeholder (``<kubeconfig>``, ``<workdir>``)."""

    @classmethod
    def for_call(cls, ctx: StageContext | None, argv: Sequence[str], env: Mapping[str, str]) -> Redactor:
        """What a call of ``argv`` could reveal: the kubeconfig it names (``--kubeconfig`` or ``KUBECONFIG``),
        the secret-named variables of its environment, and the paths of this cell."""
        redactor = cls()
        kubeconfig = _flag_value(argv, "--kubeconfig") or env.get("KUBECONFIG")
        if kubeconfig:
            redactor.secrets.update(kubeconfig_secrets(Path(kubeconfig)))
            redactor.paths[kubeconfig] = "<kubeconfig>"
        for name, value in env.items():
            if _SECRET_ENV_NAME.search(name) and len(value) >= MIN_SECRET:
                redactor.secrets.setdefault(value, f"<redacted ${name}>")
        if ctx is not None:
            redactor.paths.setdefault(str(ctx.workdir), "<workdir>")
        from crosscloud_action.tools.helm import charts_root

        redactor.paths.setdefault(str(charts_root()), "<charts>")
        return redactor

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):  # a longer secret may contain a shorter one
            text = text.replace(secret, self.secrets[secret])
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        for path in sorted(self.paths, key=len, reverse=True):
            text = text.replace(path, self.paths[path])
        return text


def kubeconfig_secrets(path: Path) -> dict[str, str]:
    """Every credential in the kubeconfig at ``path`` (value -> its ``<redacted ...>`` label): under each
    user the token, password, client key and certificate (and their decoded PEM text), the exec plugin's
    environment values and the auth provider's settings; each cluster's CA data. Unreadable: nothing."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(data, Mapping):
        return {}
    found: dict[str, str] = {}
    for section, body in (("users", "user"), ("clusters", "cluster")):
        for index, entry in enumerate(data.get(section) or []):
            if not isinstance(entry, Mapping):
                continue
            where = f"{section}[{entry.get('name', index)}]"
            for key_path, value in _credentials(entry.get(body), where, everything=False):
                found.setdefault(value, f"<redacted kubeconfig {key_path}>")
                if key_path.endswith("-data"):
                    decoded = _decoded(value)
                    if decoded:
                        found.setdefault(decoded, f"<redacted kubeconfig {key_path}, decoded>")
    return {value: label for value, label in found.items() if len(value) >= MIN_SECRET}


def _credentials(node: Any, where: str, *, everything: bool) -> Iterator[tuple[str, str]]:
    """(path, value) of the credential strings under ``node``: the values of keys that name a credential,
    and everything under ``exec.env`` and ``auth-provider``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            inside = everything or key in ("auth-provider", "env")
            if isinstance(value, str) and (inside or _CREDENTIAL_KEY.search(str(key))):
                yield f"{where}.{key}", value
            else:
                yield from _credentials(value, f"{where}.{key}", everything=inside)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _credentials(item, f"{where}[{index}]", everything=everything)
    elif everything and isinstance(node, str):
        yield where, node


def _decoded(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").strip() or None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


# -- rules -----------------------------------------------------------------------------------------


def _flag_value(argv: Sequence[str], flag: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def when_tokens(args: Sequence[str]) -> list[str]:
    """The arguments a stand-in matches this call by: all but the volatile flags with their values and
    the paths (already placeholders: ``<...>``, or absolute)."""
    tokens: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in VOLATILE_FLAGS:
            skip = "=" not in arg
            continue
        if arg.startswith(("<", "/")):
            continue
        tokens.append(arg)
    return tokens


def words(args: Sequence[str]) -> list[str]:
    """The positional arguments of a call (``upgrade``, ``etcd-stable``; ``get``, ``pods``)."""
    found: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in VALUED_FLAGS
            continue
        if not arg.startswith(("<", "/")):
            found.append(arg)
    return found


def rule_name(tool: str, args: Sequence[str], exit_code: int) -> str:
    name = "-".join([tool, *words(args)[:3], "ok" if exit_code == 0 else f"exit{exit_code}"])
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def make_rule(argv: Sequence[str], result: subprocess.CompletedProcess[str], redactor: Redactor) -> dict[str, Any]:
    """The transcript rule of one finished call (redacted; without the binary's own path)."""
    args = [redactor(arg) for arg in argv[1:]]
    return {
        "when": when_tokens(args),
        "argv": args,
        "exit": result.returncode,
        "stdout": redactor(result.stdout or ""),
        "stderr": redactor(result.stderr or ""),
    }


# -- files -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def tool_version(binary: str, tool: str) -> str:
    """``v3.17.3+ge4da497`` (helm) or ``v1.31.9`` (kubectl, the client), else ``unknown``."""
    args = [binary, "version", "--short"] if tool == "helm" else [binary, "version", "--client", "-o", "json"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False).stdout
        if tool == "kubectl":
            return str(json.loads(out)["clientVersion"]["gitVersion"])
        return out.strip().splitlines()[0] if out.strip() else "unknown"
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return "unknown"


def file_name(tool: str, version: str) -> str:
    """``helm-3.17.json``: one file per tool and minor version, as the hand-written transcripts are named."""
    match = re.match(r"v?(\d+)\.(\d+)", version)
    return f"{tool}-{match.group(1)}.{match.group(2)}.json" if match else f"{tool}-unknown.json"


def where_recorded(env: Mapping[str, str]) -> str:
    """The GitHub Actions run (and runner) that recorded, or the operating system and CPU."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        job = env.get("GITHUB_JOB", "?")
        runner = f"{env.get('RUNNER_OS', '?')}/{env.get('RUNNER_ARCH', '?')}"
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']} (job {job}, {runner})"
    return f"{platform.system()} {platform.machine()}"


def record(
    directory: Path,
    tool: str,
    argv: Sequence[str],
    result: subprocess.CompletedProcess[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str],
) -> str:
    """Add the call to ``directory``'s transcript of ``tool`` and return the rule's name (made unique in
    the file with ``-2``, ``-3`` ...). The file is replaced atomically, under a lock."""
    version = tool_version(argv[0], tool)
    rule = make_rule(argv, result, redactor)
    base = rule_name(tool, rule["argv"], result.returncode)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(tool, version)
    with _LOCK, (directory / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("_provenance", {}).get("kind") != "recorded":
                raise ValueError(f"{path} is not a recorded transcript; record into an empty directory")
        else:
            data = {
                "_about": f"{tool} {version} answers, recorded by the Kubernetes runtime ({ENV}). "
                "Keys are rule names; 'when' tokens must occur in the arguments in order.",
                "_provenance": {
                    "kind": "recorded",
                    "tool": tool,
                    "version": version,
                    "recorded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "where": where_recorded(env),
                },
            }
        name, count = base, 1
        while name in data:
            count += 1
            name = f"{base}-{count}"
        data[name] = rule
        temporary = directory / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        temporary.replace(path)
    return name
