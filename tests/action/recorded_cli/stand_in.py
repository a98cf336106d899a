"""A stand-in ``helm`` or ``kubectl`` for tests: it stands in for a Kubernetes API server, which cannot
run here (no cluster, no container runtime). Calls that need a cluster are answered from recorded
transcripts; calls that do not (``helm template``, ``helm lint``, ``version``) run the real binary unless
the scenario has a rule for them (a recorded ``helm template`` or ``helm version``, replayed).

Every invocation is appended to ``calls.jsonl`` in ``$RECORDED_CLI_DIR`` with its argument list, the mode
of the ``--kubeconfig`` file it was given and whether ``KUBECONFIG`` was set, so tests can assert on
exactly what the runtime asked for. The answers are the rules of ``scenario.json`` in that directory, in
order: the first rule of this tool whose ``when`` tokens all occur in the arguments, in that order,
answers with its ``stdout``, ``stderr`` and ``exit`` (after ``sleep`` seconds, to play a hanging
command). A call no rule answers exits with 97 and says so, so a missing transcript fails the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DELEGATED = {"helm": ("template", "lint", "version"), "kubectl": ("version",)}
NO_ANSWER = 97


VALUED_FLAGS = ("--kubeconfig", "--namespace", "-n")


def verb(argv: list[str]) -> str:
    """The subcommand: the first argument that is neither a flag nor a flag's value."""
    skip = False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = arg in VALUED_FLAGS
            continue
        return arg
    return ""


def _subsequence(tokens: list[str], argv: list[str]) -> bool:
    rest = iter(argv)
    return all(any(token == arg for arg in rest) for token in tokens)


def _kubeconfig_mode(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv[:-1]):
        if arg == "--kubeconfig":
            try:
                return oct(Path(argv[index + 1]).stat().st_mode & 0o777)
            except OSError:
                return "missing"
    return None


def main(tool: str, argv: list[str]) -> int:
    directory = Path(os.environ["RECORDED_CLI_DIR"])
    scenario: dict[str, Any] = json.loads((directory / "scenario.json").read_text())
    call: dict[str, Any] = {
        "tool": tool,
        "argv": argv,
        "kubeconfig_mode": _kubeconfig_mode(argv),
        "env_kubeconfig": os.environ.get("KUBECONFIG"),
    }
    rule = next((r for r in scenario["rules"] if r["tool"] == tool and _subsequence(r["when"], argv)), None)
    if rule is not None:
        call["answer"] = rule["name"]
    elif verb(argv) in DELEGATED.get(tool, ()):
        call["answer"] = "real binary"
    else:
        call["answer"] = None
    with (directory / "calls.jsonl").open("a", encoding="utf-8") as calls:
        calls.write(json.dumps(call) + "\n")
    if call["answer"] == "real binary":
        real = scenario["real"][tool]
        return subprocess.call([real, *argv])
    if rule is None:
        print(f"recorded-cli: no transcript answers {tool} {' '.join(argv)}", file=sys.stderr)
        return NO_ANSWER
    time.sleep(rule.get("sleep", 0))
    sys.stdout.write(rule.get("stdout", ""))
    sys.stderr.write(rule.get("stderr", ""))
    return int(rule.get("exit", 0))
