"""Where things live in a status repository, and how its commits read.

```
cross-cloud.yml                                          the configuration
README.md
results/<project>/<release>/<arch>/build.json            a build
results/<project>/<release>/<arch>/<cloud>/<env>/<stage>.json
                                                         provision, deploy, e2e; <env> is k8s-stable,
                                                         k8s-head, or host on a cloud without Kubernetes
```
A cell's history is ``git log -p -- <its path>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crosscloud.errors import BadInputError
from crosscloud.records import CellKey, Record
from crosscloud.vocabulary import ARCHES, NO_KUBERNETES, RELEASES, STAGES, check_name

CONFIG_PATH = "cross-cloud.yml"
RESULTS_DIR = "results"
BRANCH = "main"
TRAILER_PREFIX = "Cross-Cloud-"


def environment_segment(environment: str) -> str:
    return environment if environment == NO_KUBERNETES else f"k8s-{environment}"


def cell_path(key: CellKey) -> str:
    """The file of a cell. Every segment is checked, so no key can point outside ``results/``."""
    check_name("project", key.project)
    if key.release not in RELEASES or key.arch not in ARCHES or key.stage not in STAGES:
        raise ValueError(f"not a cell: {key!r}")
    base = f"{RESULTS_DIR}/{key.project}/{key.release}/{key.arch}"
    if key.stage == "build":
        return f"{base}/build.json"
    if key.cloud is None or key.environment is None:
        raise ValueError(f"a {key.stage} cell needs a cloud and an environment: {key!r}")
    check_name("cloud", key.cloud)
    if key.environment not in (*RELEASES, NO_KUBERNETES):
        raise ValueError(f"not an environment: {key.environment!r}")
    return f"{base}/{key.cloud}/{environment_segment(key.environment)}/{key.stage}.json"


def parse_cell_path(path: str) -> CellKey | None:
    """The cell a file of ``results/`` stands for, or None for any other file.

    Never raises: a file whose path is not a cell's (an upper-case or non-ASCII name, a trailing space, a
    newline, a segment too long) is simply not a cell, so one misnamed file cannot stop a reader."""
    parts = path.split("/")
    if len(parts) < 5 or parts[0] != RESULTS_DIR or not parts[-1].endswith(".json"):
        return None
    stage = parts[-1][: -len(".json")]
    if len(parts) == 5 and stage == "build":
        key = CellKey(parts[1], parts[2], parts[3], "build")
    elif len(parts) == 7 and stage in STAGES and stage != "build":
        env = parts[5]
        environment = env[len("k8s-") :] if env.startswith("k8s-") else env
        key = CellKey(parts[1], parts[2], parts[3], stage, parts[4], environment)
    else:
        return None
    try:
        return key if cell_path(key) == path else None
    except (ValueError, BadInputError):  # check_name refuses the name: not a cell
        return None


def commit_message(records: Sequence[Record]) -> str:
    """A subject in words, a body listing each result, and git trailers with the provenance.

    One record: ``coredns stable v1.2.5 aws deploy: failed``. Several: ``3 results: 2 success, 1 failed``
    with the projects named, and one line per result in the body. ``[skip ci]`` keeps the status
    repository's own workflows from running on every result."""
    if not records:
        raise ValueError("no records")
    trailers: list[tuple[str, Any]] = []
    if len(records) == 1:
        record = records[0]
        subject = record.summary()
        body = [record.reason] if record.reason else []
        trailers += [("Project", record.project), ("Release", record.release), ("Stage", record.stage)]
        if record.cloud:
            trailers.append(("Cloud", record.cloud))
        trailers.append(("Status", record.status))
        if record.sha:
            trailers.append(("Sha", record.sha))
    else:
        counts: dict[str, int] = {}
        for record in records:
            counts[record.status] = counts.get(record.status, 0) + 1
        projects = sorted({r.project for r in records})
        shown = ", ".join(projects) if len(projects) <= 3 else f"{len(projects)} projects"
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        subject = f"{shown}: {len(records)} results: {tally}"
        body = [f"- {r.summary()}" for r in sorted(records, key=lambda r: r.key)]
    runs = {(p.url, p.id, p.attempt) for r in records if (p := r.provenance)}
    if len(runs) == 1:
        url, run_id, attempt = runs.pop()
        trailers += [("Run-URL", url), ("Run-Id", run_id), ("Run-Attempt", attempt)]
    elif len(records) == 1 and records[0].url:
        trailers.append(("Job-URL", records[0].url))
    lines = [subject, ""]
    if body:
        lines += [*body, ""]
    lines += ["[skip ci]", ""]
    lines += [f"{TRAILER_PREFIX}{name}: {value}" for name, value in trailers if value not in (None, "")]
    return "\n".join(lines) + "\n"
