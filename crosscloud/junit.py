"""JUnit XML in: other CI systems' test results as e2e records. (Writing JUnit XML is the action's: it
reports its stages that way, in its ``junit_report`` module.)

**Reading** accepts the flavours in the wild: a ``<testsuites>`` root or a lone ``<testsuite>`` (Jenkins
and Maven Surefire, pytest, go-junit-report, Kubernetes e2e through ginkgo v1 and v2, whose test cases also
carry a ``status`` attribute). A test case failed when it has a ``<failure>``, errored with an ``<error>``,
was skipped with ``<skipped>``; ginkgo's ``status`` decides when there is no such child; Surefire's
``<flakyFailure>``/``<rerunFailure>`` of a test that passed in the end do not count. An ``<error>`` or
``<failure>`` directly under a suite (a broken set-up) counts as a failed case of its own.

The XML comes from somewhere else, so it is parsed defensively with the standard library alone: a file
larger than ``MAX_JUNIT_BYTES`` is refused before it is read, and so is any DOCTYPE (the only way to
declare entities, hence entity bombs and external entities): the parser stops at the declaration, before
any entity is defined. Timestamps without a zone are taken as UTC.

**Recording** (``junit_record``) is what ``crosscloud import junit`` and the app's
``POST /api/v1/results/junit`` share: the cell named by project, release, cloud, arch and Kubernetes
release, checked against the configuration, and the e2e record of one test run for it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from crosscloud.errors import BadInputError
from crosscloud.records import CellKey, Record, format_time
from crosscloud.vocabulary import NO_KUBERNETES, RELEASES, check_name

if TYPE_CHECKING:
    from crosscloud.config import Config, Project

MAX_JUNIT_BYTES: Final = 32 * 1024 * 1024
"""Large Kubernetes e2e runs write a few MiB; far more is not a test report."""
REASON_LIMIT: Final = 500
"""The record schema's ``reason`` limit."""
NAMED_FAILURES: Final = 3
"""Failing cases the reason names before ``+N more``."""

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
_GINKGO_STATUS: Final = {
    "passed": PASSED, "failed": FAILED, "timedout": FAILED, "panicked": ERROR, "interrupted": ERROR,
    "aborted": ERROR, "skipped": SKIPPED, "pending": SKIPPED, "disabled": SKIPPED,
}  # fmt: skip
_SPACE = re.compile(r"\s+")
_SEGMENT = re.compile(r"[./\s]+")


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class, whatever its name

    suite: str
    classname: str | None
    name: str
    outcome: str
    """``passed``, ``failed``, ``error`` or ``skipped``."""
    type: str | None = None
    """The ``type`` attribute of the failure or error (``message`` of a skip)."""
    message: str | None = None
    seconds: float | None = None
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        """How a reason names the case: a sentence (ginkgo) as it is; a bare function or method name with the
        last segment of its class or package (``PushPullIT.pullsByDigest``, ``e2e.TestCtlV3Watch``)."""
        name = _SPACE.sub(" ", self.name).strip()
        if self.classname and " " not in name:
            owner = _SEGMENT.split(self.classname.strip())[-1]
            if owner and owner != name:
                return f"{owner}.{name}"
        return name


@dataclass(frozen=True)
class Counts:
    total: int
    failed: int
    errors: int
    skipped: int

    @property
    def ran(self) -> int:
        return self.total - self.skipped

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "failed": self.failed, "errors": self.errors, "skipped": self.skipped}


@dataclass(frozen=True)
class JUnitReport:
    source: str
    cases: tuple[TestCase, ...]
    started: datetime | None
    """The earliest suite timestamp (None when no suite has one)."""
    finished: datetime | None
    """The latest suite end (timestamp + time), None without timestamps."""
    seconds: float | None
    """The run's duration as the report states it (the root's ``time``, else the suites' sum)."""

    @property
    def counts(self) -> Counts:
        return counts(self.cases)


def counts(cases: Iterable[TestCase]) -> Counts:
    tally = {PASSED: 0, FAILED: 0, ERROR: 0, SKIPPED: 0}
    for case in cases:
        tally[case.outcome] += 1
    return Counts(sum(tally.values()), tally[FAILED], tally[ERROR], tally[SKIPPED])


# -- reading ---------------------------------------------------------------------------------------------
class _Refused(Exception):
    pass


class _Builder(ET.TreeBuilder):
    """A tree builder that stops the parse at a DOCTYPE: expat reports the declaration before it reads the
    internal subset, so no entity is ever defined, let alone expanded."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _Refused(name)


def _line_of(data: bytes, needle: bytes) -> int | None:
    at = data.find(needle)
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None


def parse_junit(data: bytes, source: str) -> JUnitReport:
    """The test cases of one JUnit XML document; ``BadInputError`` naming ``source`` (and the line) when it
    is not one."""
    if len(data) > MAX_JUNIT_BYTES:
        raise BadInputError(f"{source}: too large ({len(data)} bytes, at most {MAX_JUNIT_BYTES})")
    parser = ET.XMLParser(target=_Builder())  # noqa: S314 - see _Builder
    try:
        parser.feed(data)
        root = parser.close()
    except _Refused:
        line = _line_of(data, b"<!DOCTYPE")
        where = f"{source}:{line}" if line else source
        raise BadInputError(f"{where}: a DOCTYPE is not allowed in JUnit XML (entities could expand)") from None
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(":")[0]
        raise BadInputError(f"{source}:{line}: not well-formed XML: {message} (column {column + 1})") from None
    tag = _local(root.tag)
    if tag == "testsuites":
        suites = [s for s in root if _local(s.tag) == "testsuite"]
    elif tag == "testsuite":
        suites = [root]
    else:
        raise BadInputError(f"{source}: the root element is <{tag}>, not <testsuites> or <testsuite>: not JUnit XML")
    cases: list[TestCase] = []
    starts: list[datetime] = []
    ends: list[datetime] = []
    total = 0.0
    for number, suite in enumerate(_walk_suites(suites), start=1):
        name = suite.get("name") or f"suite {number}"
        seconds = _seconds(suite.get("time"))
        total += seconds or 0.0
        stamp = _timestamp(suite.get("timestamp"))
        if stamp is not None:
            starts.append(stamp)
            ends.append(stamp + timedelta(seconds=seconds or 0.0))
        for child in suite:
            kind = _local(child.tag)
            if kind == "testcase":
                cases.append(_case(name, child))
            elif kind in ("error", "failure"):
                outcome = ERROR if kind == "error" else FAILED
                cases.append(TestCase(name, None, f"{name} (suite)", outcome, child.get("type"), _message(child)))
    root_seconds = _seconds(root.get("time")) if tag == "testsuites" else None
    return JUnitReport(
        source,
        tuple(cases),
        min(starts) if starts else None,
        max(ends) if ends else None,
        root_seconds if root_seconds is not None else (total if suites else None),
    )


def read_junit(path: Path) -> JUnitReport:
    """``parse_junit`` of a file, whose size is checked before it is read."""
    try:
        size = path.stat().st_size
        if size > MAX_JUNIT_BYTES:
            raise BadInputError(f"{path}: too large ({size} bytes, at most {MAX_JUNIT_BYTES})")
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_junit(data, str(path))


def _local(tag: Any) -> str:
    """The tag without a namespace (``{urn:x}testcase`` -> ``testcase``)."""
    return str(tag).rsplit("}", 1)[-1]


def _walk_suites(suites: Iterable[ET.Element]) -> Iterable[ET.Element]:
    """Suites and the suites nested in them (Surefire and some Jenkins plugins nest them)."""
    for suite in suites:
        yield suite
        yield from _walk_suites(s for s in suite if _local(s.tag) == "testsuite")


def _case(suite: str, element: ET.Element) -> TestCase:
    outcome, kind, message = PASSED, None, None
    for child in element:
        tag = _local(child.tag)
        if tag in ("failure", "error"):
            outcome = FAILED if tag == "failure" else ERROR
            kind, message = child.get("type"), _message(child)
            break
        if tag == "skipped":
            outcome, kind, message = SKIPPED, None, _message(child)
    else:
        status = (element.get("status") or "").lower()
        if outcome == PASSED and status in _GINKGO_STATUS:
            outcome = _GINKGO_STATUS[status]
    properties = tuple(
        (p.get("name") or "", p.get("value") or "")
        for group in element
        if _local(group.tag) == "properties"
        for p in group
        if _local(p.tag) == "property"
    )
    return TestCase(
        suite,
        element.get("classname"),
        element.get("name") or "(unnamed)",
        outcome,
        kind,
        message,
        _seconds(element.get("time")),
        properties,
    )


def _message(element: ET.Element) -> str | None:
    text = element.get("message") or (element.text or "").strip()
    return text or None


def _seconds(value: str | None) -> float | None:
    """A ``time`` attribute: seconds, sometimes with thousands separators (Surefire)."""
    if not value:
        return None
    try:
        seconds = float(value.replace(",", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- reports to a record ---------------------------------------------------------------------------------
def reason_of(cases: Sequence[TestCase]) -> str:
    """``2 of 120 tests failed (1 error; 5 skipped): TestA, [sig-x] B, +3 more``: the counts, then the first
    failing cases, within the record's reason limit."""
    tally = counts(cases)
    bad = tally.failed + tally.errors
    skipped = f"{tally.skipped} skipped" if tally.skipped else ""
    if not bad:
        if not tally.ran:
            return "no test case ran" + (f" ({skipped})" if skipped else "")
        return f"{tally.ran} of {tally.ran} tests passed" + (f", {skipped}" if skipped else "")
    details = [f"{tally.errors} error{'s' if tally.errors != 1 else ''}"] if tally.errors else []
    details += [skipped] if skipped else []
    head = f"{bad} of {tally.ran} tests failed" + (f" ({'; '.join(details)})" if details else "")
    names = [case.title for case in cases if case.outcome in (FAILED, ERROR)]
    shown: list[str] = []
    for name in names[:NAMED_FAILURES]:
        rest = len(names) - len(shown) - 1
        tail = f", +{rest} more" if rest else ""
        candidate = ", ".join([*shown, name])
        if len(f"{head}: {candidate}{tail}") > REASON_LIMIT:
            break
        shown.append(name)
    if not shown and names:  # one very long name: cut it
        room = REASON_LIMIT - len(head) - len(f": ..., +{len(names) - 1} more") - 1
        shown.append(names[0][: max(room, 0)] + "...")
    more = len(names) - len(shown)
    return (f"{head}: {', '.join(shown)}" + (f", +{more} more" if more else ""))[:REASON_LIMIT]


def junit_record_data(
    reports: Sequence[JUnitReport],
    *,
    project: str,
    release: str,
    cloud: str,
    arch: str,
    kubernetes: dict[str, Any] | None,
    ref: str | None,
    sha: str | None,
    url: str | None,
    run: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """One e2e record (as data, still to validate) for all ``reports`` of one test run: ``failed`` when a
    case failed or errored, or when no case ran at all; the counts and the first failing cases in the
    reason. Start and finish come from the reports' timestamps, else the run is taken to have just ended."""
    cases = [case for report in reports for case in report.cases]
    tally = counts(cases)
    status = "failed" if tally.failed or tally.errors or not tally.ran else "success"
    starts = [r.started for r in reports if r.started]
    ends = [r.finished for r in reports if r.finished]
    if starts:
        started, finished = min(starts), max([*ends, min(starts)])
    else:
        finished = now
        started = now - timedelta(seconds=sum(r.seconds or 0.0 for r in reports))
    return {
        "schema_version": 1,
        "project": project,
        "release": release,
        "ref": ref,
        "sha": sha,
        "stage": "e2e",
        "cloud": cloud,
        "arch": arch,
        "kubernetes": kubernetes,
        "status": status,
        "reason": reason_of(cases),
        "started_at": format_time(started),
        "finished_at": format_time(finished),
        "url": url,
        "run": run,
    }


# -- the cell and the record ----------------------------------------------------------------------------
def resolve_cell(
    config: Config,
    *,
    project: str,
    release: str,
    cloud: str,
    stage: str,
    arch: str | None = None,
    kubernetes: str | None = None,
) -> tuple[Project, CellKey, dict[str, Any] | None]:
    """(project, cell, the ``kubernetes`` field of its records) named by these values, checked against
    ``config``: known project and cloud, an architecture the project runs on (default: its first), and a
    Kubernetes release only on a cloud with Kubernetes (default stable there; ``host`` elsewhere)."""
    configured = config.project(check_name("project", project))
    target = config.cloud(check_name("cloud", cloud))
    if release not in RELEASES:
        raise BadInputError(f"unknown release {release!r}: use one of {', '.join(RELEASES)}")
    arch = arch or configured.arch[0]
    if arch not in configured.arch:
        raise BadInputError(
            f"project {configured.name} does not run on {arch} (it runs on {', '.join(configured.arch)})"
        )
    field: dict[str, Any] | None
    if target.kubernetes:
        if kubernetes is not None and kubernetes not in RELEASES:
            raise BadInputError(f"unknown Kubernetes release {kubernetes!r}: use one of {', '.join(RELEASES)}")
        environment = kubernetes or "stable"
        field = {"release": environment}
    elif kubernetes:
        raise BadInputError(f"cloud {target.name} runs projects on the host: drop --kubernetes")
    else:
        environment, field = NO_KUBERNETES, None
    return configured, CellKey(configured.name, release, arch, stage, target.name, environment), field


def junit_record(
    reports: Sequence[JUnitReport],
    config: Config,
    *,
    project: str,
    release: str,
    cloud: str,
    arch: str | None = None,
    kubernetes: str | None = None,
    ref: str | None = None,
    sha: str | None = None,
    url: str | None = None,
    run: dict[str, Any] | None = None,
    now: datetime,
) -> Record:
    """The validated e2e record of one test run (``reports``) for the cell these values name (see
    ``resolve_cell``); ``ref`` defaults to the release's ref in the configuration."""
    configured, key, field = resolve_cell(
        config, project=project, release=release, cloud=cloud, stage="e2e", arch=arch, kubernetes=kubernetes
    )
    data = junit_record_data(
        reports,
        project=key.project,
        release=key.release,
        cloud=str(key.cloud),
        arch=key.arch,
        kubernetes=field,
        ref=ref or configured.ref(key.release),
        sha=sha,
        url=url,
        run=run,
        now=now,
    )
    return Record.from_dict(data, source=", ".join(report.source for report in reports))
