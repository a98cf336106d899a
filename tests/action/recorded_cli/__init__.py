"""The recorded-CLI boundary of the Kubernetes runtime's tests. A Kubernetes API server cannot run here, so
``helm`` and ``kubectl`` are replaced, first on PATH, by stand-ins (``stand_in.py``) that answer the calls
needing a cluster from recorded transcripts of helm 3.17 and kubectl 1.31 (``transcripts/``), run the real
binaries for what needs no cluster (``helm template``, ``helm lint``, ``version``), and record every
invocation for the test to assert on."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRANSCRIPTS = HERE / "transcripts"
FILES = {"helm": "helm-3.17.json", "kubectl": "kubectl-1.31.json"}


def real_binary(name: str) -> str | None:
    """The real helm or kubectl: on PATH, else beside this Python (the virtual environment)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if os.access(beside, os.X_OK) else None


def transcripts() -> dict[str, dict[str, Any]]:
    """Every recorded answer by rule name, with the tool it belongs to."""
    rules: dict[str, dict[str, Any]] = {}
    for tool, file in FILES.items():
        for name, rule in json.loads((TRANSCRIPTS / file).read_text()).items():
            if not name.startswith("_"):
                assert name not in rules, f"rule {name} is in two transcripts"
                rules[name] = {"name": name, "tool": tool, **rule}
    return rules


@dataclass
class RecordedCli:
    directory: Path
    bin: Path

    def use(self, *names: str, **overrides: dict[str, Any]) -> None:
        """Answer with the named rules, in this order; ``overrides`` change fields of one rule by name
        (e.g. a shorter ``sleep``)."""
        known = transcripts()
        rules = []
        for name in names:
            rule = dict(known[name])
            rule.update(overrides.get(name.replace("-", "_"), {}))
            rules.append(rule)
        real = {tool: real_binary(tool) for tool in FILES}
        (self.directory / "scenario.json").write_text(json.dumps({"rules": rules, "real": real}, indent=1))

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        path = self.directory / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines()]
        return [c for c in calls if tool is None or c["tool"] == tool]

    def verbs(self) -> list[str]:
        """``tool verb`` of every call in order, e.g. ``helm upgrade``, ``kubectl get``."""
        from tests.action.recorded_cli.stand_in import verb

        return [f"{c['tool']} {verb(c['argv'])}" for c in self.calls()]


def install(root: Path) -> RecordedCli:
    """Write the stand-in executables into ``root/bin`` (put it first on PATH) and return the recorder.
    Set ``RECORDED_CLI_DIR`` to ``root`` for the stand-ins to find their scenario."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for tool in FILES:
        script = bin_dir / tool
        script.write_text(
            f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(HERE)!r})\nimport stand_in\n"
            f"sys.exit(stand_in.main({tool!r}, sys.argv[1:]))\n"
        )
        script.chmod(0o755)
    cli = RecordedCli(root, bin_dir)
    cli.use()
    return cli
