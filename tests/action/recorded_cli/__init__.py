"""The recorded-CLI boundary of the Kubernetes runtime's tests. A Kubernetes API server cannot run here, so
``helm`` and ``kubectl`` are replaced, first on PATH, by stand-ins (``stand_in.py``) that answer the calls
needing a cluster from transcripts of helm 3.17 and kubectl 1.31 (``transcripts/``), run the real
binaries for what needs no cluster (``helm template``, ``helm lint``, ``version``), and record every
invocation for the test to assert on.

A transcript directory holds one ``<tool>-<major.minor>.json`` per tool, in the format the runtime's
record mode writes (``crosscloud_action.tools.transcripts``); a directory it recorded into can be
replayed as it is (``install(root, source=directory)``). Every file says where it comes from in its
``_provenance`` header, checked on loading: ``kind: recorded`` (the tool's version, when and where) or
``kind: hand-written`` (which version it imitates, when it was written)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRANSCRIPTS = HERE / "transcripts"
TOOLS = ("helm", "kubectl")
PROVENANCE_FIELDS = {
    "recorded": ("tool", "version", "recorded", "where"),
    "hand-written": ("tool", "modelled_on", "written", "note"),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def real_binary(name: str) -> str | None:
    """The real helm or kubectl: on PATH, else beside this Python (the virtual environment)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if os.access(beside, os.X_OK) else None


def transcript_files(directory: Path = TRANSCRIPTS) -> dict[str, Path]:
    """The transcript of each tool in ``directory``: at most one ``<tool>-<major.minor>.json`` per tool (a
    recording may hold only one tool's calls), and at least one file."""
    files: dict[str, Path] = {}
    for tool in TOOLS:
        found = sorted(p for p in directory.glob(f"{tool}-*.json") if re.fullmatch(rf"{tool}-\d+\.\d+\.json", p.name))
        if len(found) > 1:
            raise ValueError(f"{directory}: expected one {tool}-<major.minor>.json, found {[p.name for p in found]}")
        if found:
            files[tool] = found[0]
    if not files:
        raise ValueError(f"{directory}: no transcript (helm-<major.minor>.json, kubectl-<major.minor>.json)")
    return files


def provenance(path: Path) -> dict[str, Any]:
    """The ``_provenance`` header of the transcript at ``path``; a missing or incomplete one is an error
    naming the file and the field."""
    data = json.loads(path.read_text(encoding="utf-8"))
    header = data.get("_provenance")
    if not isinstance(header, dict):
        raise ValueError(f"{path.name}: no _provenance header (recorded, or hand-written)")
    kind = header.get("kind")
    if kind not in PROVENANCE_FIELDS:
        raise ValueError(f"{path.name}: _provenance.kind must be one of {sorted(PROVENANCE_FIELDS)}, not {kind!r}")
    for name in PROVENANCE_FIELDS[kind]:
        if not str(header.get(name) or "").strip():
            raise ValueError(f"{path.name}: _provenance.{name} is missing ({kind} transcripts need it)")
    if not path.name.startswith(f"{header['tool']}-"):
        raise ValueError(f"{path.name}: _provenance.tool is {header['tool']!r}")
    date = header["recorded" if kind == "recorded" else "written"]
    if not _DATE.match(str(date)):
        raise ValueError(f"{path.name}: the date {date!r} is not YYYY-MM-DD...")
    return header


def transcripts(directory: Path = TRANSCRIPTS) -> dict[str, dict[str, Any]]:
    """Every answer in ``directory`` by rule name, with the tool it belongs to."""
    rules: dict[str, dict[str, Any]] = {}
    for tool, path in transcript_files(directory).items():
        provenance(path)
        for name, rule in json.loads(path.read_text(encoding="utf-8")).items():
            if not name.startswith("_"):
                assert name not in rules, f"rule {name} is in two transcripts"
                rules[name] = {"name": name, "tool": tool, **rule}
    return rules


@dataclass
class RecordedCli:
    directory: Path
    bin: Path
    source: Path = TRANSCRIPTS
    """The transcript directory the rules come from."""

    def use(self, *names: str, **overrides: dict[str, Any]) -> None:
        """Answer with the named rules, in this order; ``overrides`` change fields of one rule by name
        (e.g. a shorter ``sleep``)."""
        known = transcripts(self.source)
        rules = []
        for name in names:
            rule = dict(known[name])
            rule.update(overrides.get(name.replace("-", "_"), {}))
            rules.append(rule)
        real = {tool: real_binary(tool) for tool in TOOLS}
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


def install(root: Path, source: Path = TRANSCRIPTS) -> RecordedCli:
    """Write the stand-in executables into ``root/bin`` (put it first on PATH) and return the recorder,
    answering from the transcripts in ``source``. Set ``RECORDED_CLI_DIR`` to ``root`` for the stand-ins
    to find their scenario."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        script = bin_dir / tool
        script.write_text(
            f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(HERE)!r})\nimport stand_in\n"
            f"sys.exit(stand_in.main({tool!r}, sys.argv[1:]))\n"
        )
        script.chmod(0o755)
    cli = RecordedCli(root, bin_dir, source)
    cli.use()
    return cli
