"""The action's stages as JUnit XML (the ``junit`` output of ``action.yml``), for TestGrid-style tools and
the test reporters of CI systems.

One ``<testsuite>`` per project release and test environment and one ``<testcase>`` per record:
``failed`` and ``timed_out`` are ``<failure type=STATUS>``, ``infra_failed`` an ``<error>`` (the
environment, not an assertion), ``cancelled``, ``n/a`` and ``running`` are ``<skipped>``; the status, job
link, ref, sha and times are properties of the case, so ``record_status_of`` gives each case's status back
from the file as the core's reader (``crosscloud.junit.parse_junit``) parses it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Final

from crosscloud.junit import ERROR, FAILED, PASSED, SKIPPED, TestCase
from crosscloud.records import Record

_FAILURE_ELEMENT: Final = {"failed": "failure", "timed_out": "failure", "infra_failed": "error"}


def _suite_name(record: Record) -> str:
    parts = [record.project, record.release, record.arch]
    if record.kubernetes_release:
        parts.append(f"kubernetes-{record.kubernetes_release}")
    return " ".join(parts)


def _case_name(record: Record) -> str:
    return record.stage if record.stage == "build" else f"{record.cloud} {record.stage}"


def _properties(record: Record) -> list[tuple[str, str | None]]:
    return [("status", record.status), ("ref", record.ref), ("sha", record.sha), ("url", record.url),
            ("started_at", record.started_text), ("finished_at", record.finished_text)]  # fmt: skip


def records_to_junit(records: Sequence[Record], name: str = "Cross-Cloud CI") -> str:
    """JUnit XML of ``records`` (see the module doc), in the order given within each suite."""
    suites: dict[str, list[Record]] = {}
    for record in records:
        suites.setdefault(_suite_name(record), []).append(record)
    root = ET.Element("testsuites", name=name)
    all_cases = all_failures = all_errors = all_skipped = 0
    all_seconds = 0.0
    for suite_name, members in suites.items():
        suite = ET.SubElement(root, "testsuite", name=suite_name)
        failures = errors = skipped = 0
        seconds = 0.0
        for record in members:
            took = _duration(record)
            seconds += took
            case = ET.SubElement(
                suite, "testcase", name=_case_name(record), classname=suite_name.replace(" ", "."), time=f"{took:.3f}"
            )
            properties = ET.SubElement(case, "properties")
            for key, text in _properties(record):
                if text:
                    ET.SubElement(properties, "property", name=key, value=text)
            status = record.status
            if status in _FAILURE_ELEMENT:
                element = _FAILURE_ELEMENT[status]
                failures += element == "failure"
                errors += element == "error"
                ET.SubElement(case, element, type=status, message=record.reason or status)
            elif status != "success":
                skipped += 1
                ET.SubElement(case, "skipped", message=status + (f": {record.reason}" if record.reason else ""))
        earliest = min(r.started_text for r in members)
        suite.set("tests", str(len(members)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
        suite.set("time", f"{seconds:.3f}")
        suite.set("timestamp", earliest)
        all_cases += len(members)
        all_failures, all_errors, all_skipped = all_failures + failures, all_errors + errors, all_skipped + skipped
        all_seconds += seconds
    for attribute, value in (("tests", all_cases), ("failures", all_failures), ("errors", all_errors),
                             ("skipped", all_skipped)):  # fmt: skip
        root.set(attribute, str(value))
    root.set("time", f"{all_seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _duration(record: Record) -> float:
    finished = record.finished_at
    return (finished - record.started_at).total_seconds() if finished else 0.0


def record_status_of(case: TestCase) -> str:
    """The record status a case written by ``records_to_junit`` stands for (its ``status`` property)."""
    for name, value in case.properties:
        if name == "status":
            return value
    return {PASSED: "success", FAILED: "failed", ERROR: "infra_failed", SKIPPED: "n/a"}[case.outcome]
