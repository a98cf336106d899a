"""JUnit XML: reports of several CI systems (files in tests/data/junit/), hostile and broken files, the
record a test run becomes, ``crosscloud import junit`` into a real status repository, and our own records
written as JUnit and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crosscloud import junit
from crosscloud.cli import main
from crosscloud.errors import BadInputError
from crosscloud.records import Record
from crosscloud_action import junit_report
from tests.helpers.status_repos import git, make_record, snapshot

DATA = Path(__file__).resolve().parents[1] / "data" / "junit"
NOW = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)


def read(name: str) -> junit.JUnitReport:
    return junit.read_junit(DATA / name)


@pytest.mark.parametrize(
    ("name", "total", "failed", "errors", "skipped", "failing"),
    [
        ("surefire.xml", 5, 1, 1, 1, ["PushPullIT.pullsByDigest", "PushPullIT.deletesATag"]),
        ("pytest.xml", 6, 1, 1, 1, ["test_queries.test_rate[5m]", "test_alerts.test_alert_fires"]),
        ("go-junit-report.xml", 5, 1, 0, 0, ["e2e.TestCtlV3Watch"]),
        (
            "ginkgo-v2-e2e.xml",
            6,
            1,
            1,
            2,
            [
                "[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]",
                "[sig-node] Pods should be updated [NodeConformance]",
            ],
        ),
        ("ginkgo-v1-e2e.xml", 4, 1, 0, 1, ["[sig-network] DNS should provide DNS for services [Conformance]"]),
        ("all-passed.xml", 2, 0, 0, 0, []),
    ],
)
def test_flavours_are_counted_case_by_case(
    name: str, total: int, failed: int, errors: int, skipped: int, failing: list[str]
) -> None:
    report = read(name)
    assert report.counts == junit.Counts(total, failed, errors, skipped)
    assert [c.title for c in report.cases if c.outcome in (junit.FAILED, junit.ERROR)] == failing


def test_surefire_flaky_failure_that_passed_in_the_end_is_a_pass_and_time_has_separators() -> None:
    report = read("surefire.xml")
    retried = next(c for c in report.cases if c.name == "retriesOnce")
    assert retried.outcome == junit.PASSED
    assert report.seconds == pytest.approx(1234.567)
    assert report.started is None  # Surefire writes no timestamp
    failure = next(c for c in report.cases if c.name == "pullsByDigest")
    assert failure.type == "org.opentest4j.AssertionFailedError"
    assert failure.message == "expected: <200> but was: <404>"


def test_timestamps_with_an_offset_without_a_zone_and_across_suites() -> None:
    pytest_report = read("pytest.xml")  # +01:00
    assert pytest_report.started == datetime(2024, 3, 5, 9, 15, 30, 123456, tzinfo=UTC)
    ginkgo = read("ginkgo-v2-e2e.xml")  # no zone: taken as UTC
    assert ginkgo.started == datetime(2024, 6, 1, 4, 30, tzinfo=UTC)
    go = read("go-junit-report.xml")  # two suites: the first start, the last end
    assert go.started == datetime(2024, 5, 20, 3, 12, 9, tzinfo=UTC)
    assert go.finished == datetime(2024, 5, 20, 3, 12, 17, 411000, tzinfo=UTC)
    assert go.seconds == pytest.approx(7.912)


def test_ginkgo_status_attribute_decides_without_a_child() -> None:
    cases = {c.name: c for c in read("ginkgo-v2-e2e.xml").cases}
    assert cases["[sig-cli] Kubectl client should check is all data is printed [Conformance]"].outcome == "skipped"
    panicked = cases["[sig-node] Pods should be updated [NodeConformance]"]
    assert (panicked.outcome, panicked.type) == ("error", "panicked")


def test_suite_level_error_counts_as_a_failed_case() -> None:
    data = b'<testsuite name="setup"><error message="cannot connect" type="setup"/><testcase name="a"/></testsuite>'
    report = junit.parse_junit(data, "inline.xml")
    assert report.counts == junit.Counts(2, 0, 1, 0)
    assert junit.reason_of(report.cases) == "1 of 2 tests failed (1 error): setup (suite)"


def test_namespaced_and_nested_suites() -> None:
    data = (
        b'<ns:testsuites xmlns:ns="urn:x"><ns:testsuite name="outer"><ns:testsuite name="inner">'
        b'<ns:testcase name="deep"><ns:failure message="no"/></ns:testcase></ns:testsuite></ns:testsuite>'
        b"</ns:testsuites>"
    )
    report = junit.parse_junit(data, "nested.xml")
    assert [(c.suite, c.name, c.outcome) for c in report.cases] == [("inner", "deep", "failed")]


@pytest.mark.parametrize("name", ["doctype-bomb.xml", "external-entity.xml"])
def test_doctype_is_refused_with_file_and_line(name: str) -> None:
    with pytest.raises(BadInputError, match=rf"{name}:2: a DOCTYPE is not allowed"):
        read(name)


def test_bad_xml_names_file_and_line() -> None:
    with pytest.raises(BadInputError, match=r"truncated\.xml:7: not well-formed XML: mismatched tag"):
        read("truncated.xml")
    with pytest.raises(BadInputError, match=r"empty\.xml:1: not well-formed XML: no element found"):
        junit.parse_junit(b"", "empty.xml")


def test_wrong_root_is_not_junit() -> None:
    with pytest.raises(BadInputError, match=r"wrong-root\.xml: the root element is <html>"):
        read("wrong-root.xml")


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as out:  # sparse: the check must come from the size, not from reading it
        out.truncate(junit.MAX_JUNIT_BYTES + 1)
    with pytest.raises(BadInputError, match=r"huge\.xml: too large"):
        junit.read_junit(huge)
    with pytest.raises(BadInputError, match="too large"):
        junit.parse_junit(b" " * (junit.MAX_JUNIT_BYTES + 1), "inline.xml")
    with pytest.raises(BadInputError, match=r"missing\.xml: cannot read"):
        junit.read_junit(tmp_path / "missing.xml")


def test_reason_stays_within_the_schema_limit_and_says_how_many_more() -> None:
    cases = [junit.TestCase("s", None, f"[sig-x] case {i} " + "x" * 150, "failed") for i in range(40)]
    reason = junit.reason_of(cases)
    assert len(reason) <= junit.REASON_LIMIT
    assert reason.startswith("40 of 40 tests failed: [sig-x] case 0 ")
    assert reason.endswith("+38 more")
    one_long = junit.reason_of([junit.TestCase("s", None, "y" * 900, "error")])
    assert len(one_long) <= junit.REASON_LIMIT and one_long.startswith("1 of 1 tests failed (1 error): yyy")
    assert junit.reason_of([]) == "no test case ran"
    assert junit.reason_of([junit.TestCase("s", None, "a", "skipped")]) == "no test case ran (1 skipped)"


def _data(reports: list[junit.JUnitReport]) -> dict[str, object]:
    return junit.junit_record_data(
        reports, project="etcd", release="stable", cloud="local", arch="amd64", kubernetes=None,
        ref="v3.4.23", sha=None, url=None, run=None, now=NOW,
    )  # fmt: skip


def test_a_run_of_several_files_becomes_one_valid_e2e_record() -> None:
    record = Record.from_dict(_data([read("go-junit-report.xml"), read("all-passed.xml")]))
    assert (record.status, record.key.stage) == ("failed", "e2e")
    assert record.data["reason"] == "1 of 7 tests failed: e2e.TestCtlV3Watch"
    assert record.data["started_at"] == "2024-05-20T03:12:09Z"
    assert record.data["finished_at"] == "2024-07-01T08:00:01Z"
    passed = Record.from_dict(_data([read("all-passed.xml")]))
    assert (passed.status, passed.data["reason"]) == ("success", "2 of 2 tests passed")
    untimed = Record.from_dict(_data([read("surefire.xml")]))  # no timestamps: it just ended, as long as it took
    assert untimed.data["finished_at"] == "2024-08-01T12:00:00Z"
    assert untimed.data["started_at"] == "2024-08-01T11:39:25Z"
    nothing = Record.from_dict(_data([junit.parse_junit(b"<testsuites/>", "empty")]))
    assert (nothing.status, nothing.data["reason"]) == ("failed", "no test case ran")


def test_import_junit_writes_one_commit(status_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(DATA / "pytest.xml"), str(DATA / "all-passed.xml")]
    url = "https://ci.example.org/job/e2e/41/"
    code = main(["import", "junit", *files, "--repo", str(status_repo), "--project", "prometheus",
                 "--release", "stable", "--cloud", "local", "--url", url])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "recorded: prometheus stable v2.42.0 local e2e: failed (2 of 7 tests failed (1 error; 1 skipped)" in out.out
    stored = json.loads(git(status_repo, "show", "main:results/prometheus/stable/amd64/local/host/e2e.json"))
    assert stored["status"] == "failed" and stored["url"] == url and stored["kubernetes"] is None
    assert stored["reason"].endswith("test_queries.test_rate[5m], test_alerts.test_alert_fires")
    assert git(status_repo, "rev-list", "--count", "main") == "2"  # the seed, then one commit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(DATA / "all-passed.xml"), str(DATA / "truncated.xml")], "truncated.xml:7: not well-formed XML"),
        ([str(DATA / "doctype-bomb.xml")], "doctype-bomb.xml:2: a DOCTYPE is not allowed"),
        ([str(DATA / "wrong-root.xml")], "the root element is <html>"),
        ([str(DATA / "all-passed.xml"), "--kubernetes", "head"], "runs projects on the host: drop --kubernetes"),
        ([str(DATA / "all-passed.xml"), "--arch", "s390x"], "does not run on s390x"),
    ],
)
def test_import_junit_bad_input_exits_2_and_leaves_the_repository_alone(
    status_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(status_repo)
    code = main(["import", "junit", *args, "--repo", str(status_repo), "--project", "etcd", "--release", "stable",
                 "--cloud", "local"])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err
    assert snapshot(status_repo) == before


def test_records_round_trip_through_junit() -> None:
    records = [
        make_record(stage="build", status="success"),
        make_record(status="failed", reason="deploy failed: pods not ready"),
        make_record(stage="e2e", status="timed_out", reason="e2e: did not finish in 300 s"),
        make_record(stage="provision", status="infra_failed", reason="local: quota exceeded"),
        make_record(project="nats", stage="e2e", status="cancelled", reason=None),
        make_record(project="nats", stage="deploy", status="n/a", reason="build failed"),
        make_record(project="nats", stage="build", status="running", finished_at=None),
    ]
    text = junit_report.records_to_junit(records)
    report = junit.parse_junit(text.encode(), "ours.xml")
    assert report.counts == junit.Counts(total=7, failed=2, errors=1, skipped=3)
    assert [junit_report.record_status_of(c) for c in report.cases] == [r.status for r in records]
    assert [(c.suite, c.name) for c in report.cases] == [
        ("etcd stable amd64", "build"), ("etcd stable amd64", "local deploy"), ("etcd stable amd64", "local e2e"),
        ("etcd stable amd64", "local provision"), ("nats stable amd64", "local e2e"),
        ("nats stable amd64", "local deploy"), ("nats stable amd64", "build"),
    ]  # fmt: skip
    failed = report.cases[1]
    assert (failed.outcome, failed.type, failed.message) == ("failed", "failed", "deploy failed: pods not ready")
    assert dict(failed.properties)["url"] == records[1].data["url"]
    assert failed.seconds == 300.0
    assert report.started == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    # with the statuses as written, the cases' own outcomes say the same
    assert [c.outcome for c in report.cases] == ["passed", "failed", "failed", "error", "skipped", "skipped", "skipped"]


def test_records_to_junit_of_kubernetes_cells_names_the_environment() -> None:
    record = make_record(stage="e2e", cloud="aws", kubernetes={"release": "head", "version": "v1.31.0"})
    report = junit.parse_junit(junit_report.records_to_junit([record]).encode(), "k8s.xml")
    assert [(c.suite, c.classname, c.name) for c in report.cases] == [
        ("etcd stable amd64 kubernetes-head", "etcd.stable.amd64.kubernetes-head", "aws e2e")
    ]
