"""Nights of the CNCF at today's breadth, written into a status repository: ``generate_history.py --breadth``.

``cncf-2026``: 200 projects (the active projects of the 2020-11-30 cncf.ci configuration, then numbered
copies of them), 12 clouds with Kubernetes, both releases, amd64 and arm64, Kubernetes stable and head on
every cloud: per night 200 x 2 x 2 x (1 build + 12 clouds x 2 Kubernetes releases x 3 stages) = 58,400
records, 817,600 in 14 nights. A night is ONE commit, as ``workflows-templates/nightly.yml`` records it
(its fan-in recorder commits every shard's records at once), with the message ``layout.commit_message``
gives those records, committed at the end of the night.

Speed: each night is one ``git fast-import`` run (so the size of the packed repository can be measured
after each night, and a benchmark can add a night later). Records are built as dicts in the contract's
canonical key order and written as ``Record.to_json`` writes them; a sample of every night (every 211th
record, and every record of the first row) goes through ``Record.from_dict`` and must come out equal, so
the generator cannot drift from the schema without failing.

Statuses are deterministic for a seed: cloud outages (every provision on a cloud infra_failed for a night,
about 3% of cloud-nights), builds broken for a few nights, background failures of provision, deploy and
e2e, flaky e2e cells (2% of them, failing a third of the nights), and the cascades of the pipeline (a
build that failed makes its row's cloud stages n/a; a stage that failed makes the later ones n/a)."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from crosscloud import layout
from crosscloud.config import load_config
from crosscloud.records import Record, format_time
from crosscloud.status_repo.git import Git
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import DEFAULT_EMAIL, DEFAULT_NAME

ROOT = Path(__file__).resolve().parent.parent
CONFIG_2020 = ROOT / "tests" / "fixtures" / "cncf-configuration" / "cross-cloud.2020-11-30.yml"
STAGES = ("provision", "deploy", "e2e")
KUBERNETES_VERSIONS = {"stable": "v1.34.2", "head": "v1.35.0-alpha.3"}
WORKFLOW = "Cross-Cloud CI nightly"


@dataclass(frozen=True)
class Breadth:
    name: str
    projects: int
    clouds: tuple[str, ...]
    arches: tuple[str, ...]
    kubernetes: tuple[str, ...]
    last_night: datetime

    @property
    def records_per_night(self) -> int:
        return self.projects * 2 * len(self.arches) * (1 + len(self.clouds) * len(self.kubernetes) * len(STAGES))


BREADTHS = {
    "cncf-2026": Breadth(
        "cncf-2026",
        projects=200,
        clouds=tuple(
            [
                "aws",
                "azure",
                "gce",
                "gke",
                "ibmcloud",
                "packet",
                "openstack",
                "vsphere",
                "oci",
                "alibaba",
                "digitalocean",
                "linode",
            ]
        ),
        arches=("amd64", "arm64"),
        kubernetes=("stable", "head"),
        last_night=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
    )
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def breadth_config(breadth: Breadth, target: Path, source: Path = CONFIG_2020) -> Path:
    """The configuration of ``breadth``: ``source``'s active projects, then numbered copies of them
    (``coredns-2``, ...) up to ``breadth.projects``, every one on both architectures; the clouds of
    ``breadth``, all active, all with Kubernetes and both architectures."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    clouds = {}
    for order, name in enumerate(breadth.clouds, start=1):
        known = data["clouds"].get(name, {})
        clouds[name] = {"active": True, "display_name": known.get("display_name", name.title()), "order": order,
                        "arch": list(breadth.arches)}  # fmt: skip
    originals = {n: p for n, p in data["projects"].items() if p.get("active", True)}
    projects: dict[str, Any] = {}
    copy = 1
    while len(projects) < breadth.projects:
        for name, project in originals.items():
            if len(projects) == breadth.projects:
                break
            if copy > 1 and project.get("app_layer", True) is False:
                continue  # one Kubernetes
            suffix = "" if copy == 1 else f"-{copy}"
            projects[name + suffix] = {
                **project,
                "display_name": f"{project.get('display_name', name)}{suffix}",
                "order": len(projects) + 1,
                "arch": list(breadth.arches),
                "active": True,
            }
        copy += 1
    data["clouds"], data["projects"] = clouds, projects
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def _json(data: dict[str, Any]) -> str:
    """What ``Record.to_json`` writes (checked on a sample in ``BreadthHistory.night``)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class BreadthHistory:
    """Writes the nights of ``breadth`` into a new status repository, one fast-import run per night."""

    def __init__(self, path: Path, breadth: Breadth, *, nights: int, seed: int, scratch: Path):
        self.path = path
        self.breadth = breadth
        self.nights = nights
        self.seed = seed
        self.config_file = breadth_config(breadth, scratch / f"{breadth.name}.yml")
        self.config = load_config(self.config_file)
        self.projects = self.config.active_projects()
        self.clouds = [c.name for c in self.config.active_clouds()]
        self.first_night = breadth.last_night - timedelta(days=nights - 1)
        self.root = init_status_repo(path, config_file=self.config_file)
        self.git = Git(path)
        self.written = 0
        self.statuses: Counter[str] = Counter()
        rng = random.Random(seed)
        cells = [(p.name, r, a, c) for p in self.projects for r in ("stable", "head") for a in breadth.arches
                 for c in self.clouds]  # fmt: skip
        self.flaky = set(rng.sample(cells, len(cells) // 50))
        self.broken_builds: set[tuple[str, str, str]] = set()

    # -- one night ----------------------------------------------------------------------------------------
    def night(self, night: int) -> tuple[list[Record], datetime]:
        """The records of ``night`` (0 = the first) and when the night's recorder committed them."""
        rng = random.Random(f"{self.seed}/{night}")
        start = self.first_night + timedelta(days=night)
        outages = {c for c in self.clouds if rng.random() < 0.03}
        still_broken = {row for row in self.broken_builds if rng.random() < 0.6}
        records: list[Record] = []
        run_id = 19_000_000_000 + night
        run = {"repository": "cncf/cross-cloud-status", "id": run_id, "attempt": 1, "workflow": WORKFLOW,
               "url": f"https://github.com/cncf/cross-cloud-status/actions/runs/{run_id}"}  # fmt: skip
        job_number = 50_000_000_000 + night * 1_000
        for p_index, project in enumerate(self.projects):
            for release in ("stable", "head"):
                ref = project.ref(release) or release
                sha = _sha(project.name, ref) if release == "stable" else _sha(project.name, release, night)
                for arch in self.breadth.arches:
                    row = (project.name, release, arch)
                    shard_job = job_number + (p_index * 4 + (release == "head") * 2 + (arch == "arm64")) % 256
                    url = f"{run['url']}/job/{shard_job}"
                    began = start + timedelta(seconds=rng.randrange(3600))
                    if row in still_broken or rng.random() < 0.004:
                        build = ("failed", "compile error")
                        self.broken_builds.add(row)
                    else:
                        self.broken_builds.discard(row)
                        build = ("success", None)
                    build_end = began + timedelta(seconds=rng.randrange(180, 900))
                    base = {"schema_version": 1, "project": project.name, "release": release, "ref": ref, "sha": sha}
                    records.append(self._record(base, "build", None, arch, None, *build, began, build_end, url, run))
                    for cloud in self.clouds:
                        for k8s in self.breadth.kubernetes:
                            at = build_end + timedelta(seconds=rng.randrange(30, 600))
                            for stage, status, reason, span in self._cloud_stages(
                                rng, build[0], cloud in outages, (project.name, release, arch, cloud), at
                            ):
                                records.append(self._record(base, stage, cloud, arch, k8s, status, reason, *span,
                                                            url, run))  # fmt: skip
                    if p_index == 0:  # every record of the first project's rows
                        for record in records[-(1 + len(self.clouds) * len(self.breadth.kubernetes) * 3) :]:
                            self._check(record)
        for record in records[::211]:
            self._check(record)
        finished = max(r.data["finished_at"] for r in records)
        return records, datetime.strptime(finished, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    def _cloud_stages(
        self, rng: random.Random, build: str, outage: bool, cell: tuple[str, str, str, str], at: datetime
    ) -> list[tuple[str, str, str | None, tuple[datetime, datetime]]]:
        if build != "success":
            return [(stage, "n/a", "build failed", (at, at)) for stage in STAGES]
        out: list[tuple[str, str, str | None, tuple[datetime, datetime]]] = []
        blocked: str | None = None
        for stage in STAGES:
            if blocked:
                out.append((stage, "n/a", f"{blocked}", (at, at)))
                continue
            roll = rng.random()
            if stage == "provision" and outage:
                status, reason = "infra_failed", f"{cell[3]}: cloud API unavailable"
            elif stage == "provision" and roll < 0.006:
                status, reason = "infra_failed", f"{cell[3]}: quota exceeded"
            elif stage == "deploy" and roll < 0.01:
                status, reason = "failed", "deploy failed: pods not ready"
            elif stage == "e2e" and (roll < 0.02 or (cell in self.flaky and roll < 0.33)):
                status, reason = "failed", "e2e: 1 of 120 tests failed"
            elif roll > 0.999:
                status, reason = "timed_out", f"{stage} timed out"
            else:
                status, reason = "success", None
            end = at + timedelta(seconds=rng.randrange(60, 1200))
            out.append((stage, status, reason, (at, end)))
            at = end + timedelta(seconds=rng.randrange(5, 60))
            if status != "success":
                blocked = f"{stage} {status}"
        return out

    def _record(
        self, base: dict[str, Any], stage: str, cloud: str | None, arch: str, k8s: str | None, status: str,
        reason: str | None, began: datetime, ended: datetime, url: str, run: dict[str, Any],
    ) -> Record:  # fmt: skip
        data = {
            **base,
            "stage": stage,
            "cloud": cloud,
            "arch": arch,
            "kubernetes": {"release": k8s, "version": KUBERNETES_VERSIONS[k8s]} if k8s else None,
            "status": status,
            "reason": reason,
            "started_at": format_time(began),
            "finished_at": format_time(ended),
            "url": url,
            "run": {**run, "job": "run"},
        }
        self.statuses[status] += 1
        return Record(data)

    @staticmethod
    def _check(record: Record) -> None:
        checked = Record.from_dict(record.data, source="generated record")
        if checked.data != record.data or _json(checked.data) != checked.to_json():
            raise RuntimeError(f"the generator drifted from the contract: {record.data}")

    # -- writing ------------------------------------------------------------------------------------------
    def write_night(self, night: int) -> dict[str, Any]:
        """Commit ``night`` with one fast-import run; returns its figures."""
        began = time.perf_counter()
        records, finished = self.night(night)
        made_s = time.perf_counter() - began
        when = int(finished.timestamp())
        identity = f"{DEFAULT_NAME} <{DEFAULT_EMAIL}> {when} +0000"
        message = layout.commit_message(records).encode()
        parts = [f"commit refs/heads/{layout.BRANCH}\nauthor {identity}\ncommitter {identity}\n".encode(),
                 f"data {len(message)}\n".encode(), message, b"\n",
                 f"from refs/heads/{layout.BRANCH}^0\n".encode()]  # fmt: skip
        for record in records:
            content = _json(record.data).encode()
            parts.append(f"M 100644 inline {layout.cell_path(record.key)}\ndata {len(content)}\n".encode())
            parts += [content, b"\n"]
        parts.append(b"done\n")
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.run(["git", "fast-import", "--quiet", "--done"], input=b"".join(parts),
                                  stdout=subprocess.DEVNULL, stderr=errors, env=self.git.env, check=False)  # fmt: skip
            if proc.returncode != 0:
                errors.seek(0)
                raise RuntimeError(f"git fast-import failed: {errors.read().decode(errors='replace')[-2000:]}")
        self.written += len(records)
        return {"night": night + 1, "records": len(records), "generate_s": round(made_s, 2),
                "import_s": round(time.perf_counter() - began - made_s, 2)}  # fmt: skip

    def packed_bytes(self) -> int:
        """Repack everything (reusing deltas, as a server's repack would) and return the packs' size."""
        self.git.run("repack", "-a", "-d", "-q")
        sizes = dict(line.split(": ") for line in self.git.text("count-objects", "-v").splitlines())
        return int(sizes["size-pack"]) * 1024


def generate_breadth(
    path: Path, *, breadth: str = "cncf-2026", nights: int = 14, seed: int = 2026, sizes: bool = True
) -> dict[str, Any]:
    """Create the status repository ``path`` with ``nights`` nights of ``breadth``; with ``sizes``, the packed
    repository's size after each night. Returns the figures (and the ``BreadthHistory`` under ``history``,
    to add nights later)."""
    began = time.perf_counter()
    spec = BREADTHS[breadth]
    scratch = Path(tempfile.mkdtemp(prefix="breadth-config-"))
    history = BreadthHistory(path, spec, nights=nights, seed=seed, scratch=scratch)
    per_night = []
    for night in range(nights):
        figures = history.write_night(night)
        if sizes:
            repack = time.perf_counter()
            figures["packed_bytes"] = history.packed_bytes()
            figures["repack_s"] = round(time.perf_counter() - repack, 2)
        per_night.append(figures)
        log(f"breadth: night {night + 1}/{nights}: {figures}")
    tip = history.git.text("rev-parse", f"refs/heads/{layout.BRANCH}")
    landed = int(history.git.text("rev-list", "--count", tip)) - 1
    if landed != nights:
        raise RuntimeError(f"expected {nights} commits on top of the root, found {landed}")
    return {
        "path": str(path),
        "breadth": breadth,
        "config": str(history.config_file),
        "seed": seed,
        "nights": nights,
        "projects": len(history.projects),
        "clouds": len(history.clouds),
        "arches": list(spec.arches),
        "kubernetes": list(spec.kubernetes),
        "cells": spec.records_per_night,
        "commits": nights,
        "records": history.written,
        "tip": tip,
        "status_counts": dict(history.statuses.most_common()),
        "per_night": per_night,
        "seconds": round(time.perf_counter() - began, 1),
        "history": history,
    }
