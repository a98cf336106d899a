"""The result record: one stage of one project release on one cloud, validated and in canonical form.

A record is valid when it passes ``schema/result.schema.json`` and the few rules a schema cannot state
(a finish after the start). Its canonical JSON is what the status repository stores, so two records are
the same result exactly when their canonical texts are equal."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from crosscloud import schemas
from crosscloud.errors import RecordError
from crosscloud.presentation import LOOKS
from crosscloud.vocabulary import NO_KUBERNETES

SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 64 * 1024
"""The largest record file (the schema's longest fields fit many times over). A larger file is refused by
``Record.from_json`` and, in the status repository, is an error cell whose blob is never read."""
CLOCK_AHEAD: Final = timedelta(minutes=5)
"""How far a record's times may lie ahead of the clock of whoever judges it (the writer, the reader). A
runner whose clock is a little fast is fine; a time further ahead would pin its cell: no genuine later
result could replace it, as it would sort before the record from the future."""
_KEY_ORDER = tuple(schemas.load(schemas.RESULT)["properties"])


@dataclass(frozen=True, order=True)
class CellKey:
    """Which cell a record fills. ``environment`` is the Kubernetes release of the test cluster, or
    ``host`` on a cloud without Kubernetes; builds have neither cloud nor environment."""

    project: str
    release: str
    arch: str
    stage: str
    cloud: str | None = None
    environment: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The key's fields by name, as the JSON outputs show them."""
        return {
            "project": self.project,
            "release": self.release,
            "arch": self.arch,
            "stage": self.stage,
            "cloud": self.cloud,
            "environment": self.environment,
        }

    def __str__(self) -> str:
        parts = [self.project, self.release]
        if self.cloud:
            parts.append(self.cloud)
        parts.append(self.stage)
        return " ".join(parts)


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is before the first moment datetime can hold in UTC
        raise ValueError("out of the range of years 1 to 9999 in UTC") from None


def time_ahead(data: Mapping[str, Any], now: datetime) -> str | None:
    """Why ``data`` (a record's fields, or an index entry's) has a time more than ``CLOCK_AHEAD`` after
    ``now``: ``"<field>: ..."``; None when it has none. A time that does not parse is not judged here."""
    for name in ("started_at", "finished_at"):
        value = data.get(name)
        if not isinstance(value, str):
            continue
        try:
            when = parse_time(value)
        except ValueError:
            continue
        if when > now + CLOCK_AHEAD:
            limit = int(CLOCK_AHEAD.total_seconds() // 60)
            return f"{name}: {value} is more than {limit} minutes ahead of the clock ({format_time(now)})"
    return None


def check_not_ahead(record: Record, now: datetime, source: str) -> None:
    """``RecordError`` naming ``source`` and the field when ``record`` is dated ahead of ``now`` (see
    ``CLOCK_AHEAD``): refused before it is written, by every way in."""
    problem = time_ahead(record.data, now)
    if problem is not None:
        field, _, message = problem.partition(": ")
        raise RecordError(message, source=source, field=field)


def format_time(value: datetime) -> str:
    """The canonical form: UTC, seconds, ``Z``."""
    # isoformat, not strftime: %Y does not pad years before 1000 to the four digits the schema requires.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class RunProvenance:
    """The ``run`` of a record: the GitHub Actions workflow run that produced it (every field optional)."""

    repository: str | None = None
    """owner/name"""
    id: int | None = None
    attempt: int | None = None
    job: str | None = None
    workflow: str | None = None
    url: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunProvenance:
        """From a record's validated ``run`` object."""
        return cls(
            repository=_text(data.get("repository")),
            id=data.get("id"),
            attempt=data.get("attempt"),
            job=_text(data.get("job")),
            workflow=_text(data.get("workflow")),
            url=_text(data.get("url")),
        )


NO_RUN: Final = RunProvenance()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Record:
    data: dict[str, Any]
    """Canonical, validated data; treat as read-only."""

    @classmethod
    def from_dict(cls, data: Any, source: str = "record") -> Record:
        """Validate ``data`` and return it in canonical form, or raise ``RecordError`` naming the field."""
        if not isinstance(data, dict):
            raise RecordError("a record must be a JSON object", source=source)
        for path, message in schemas.errors(schemas.RESULT, data):
            raise RecordError(message, source=source, field=schemas.field_path(path))
        canonical = {key: data[key] for key in _KEY_ORDER if key in data}
        for name in ("started_at", "finished_at"):
            if canonical.get(name) is not None:
                try:
                    canonical[name] = format_time(parse_time(canonical[name]))
                except ValueError as exc:
                    raise RecordError(f"not a valid date and time: {exc}", source=source, field=name) from None
        if canonical.get("finished_at") and canonical["finished_at"] < canonical["started_at"]:
            raise RecordError("finished before it started", source=source, field="finished_at")
        return cls(canonical)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "record") -> Record:
        if len(text) > MAX_RECORD_BYTES:
            raise RecordError(f"too large ({len(text)} bytes, at most {MAX_RECORD_BYTES})", source=source)
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(f"not UTF-8 text (byte {exc.start})", source=source) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(
                f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", source=source
            ) from None
        except RecursionError:  # a small file can nest arrays deeper than Python's stack
            raise RecordError("invalid JSON: nested too deeply for a record", source=source) from None
        return cls.from_dict(data, source)

    def to_json(self) -> str:
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        """The stored form, made once: an indented ``json.dumps`` is pure Python (about 0.1 ms), and a
        writer compares and writes each record several times (a night of 58,400 records spent 37 s here)."""
        return json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"

    @property
    def key(self) -> CellKey:
        if self.stage == "build":
            return CellKey(self.project, self.release, self.arch, "build")
        return CellKey(
            self.project, self.release, self.arch, self.stage, self.cloud, self.kubernetes_release or NO_KUBERNETES
        )

    # Typed views of the stored fields (``schema/result.schema.json``); ``data`` stays the stored form.
    @property
    def project(self) -> str:
        return str(self.data["project"])

    @property
    def release(self) -> str:
        return str(self.data["release"])

    @property
    def stage(self) -> str:
        return str(self.data["stage"])

    @property
    def cloud(self) -> str | None:
        """None for a build, which runs on no cloud."""
        return _text(self.data.get("cloud"))

    @property
    def arch(self) -> str:
        return str(self.data["arch"])

    @property
    def kubernetes_release(self) -> str | None:
        """The Kubernetes release of the test cluster; None for a build and on a cloud without Kubernetes."""
        k8s = self.data.get("kubernetes")
        return str(k8s["release"]) if k8s else None

    @property
    def kubernetes_version(self) -> str | None:
        k8s = self.data.get("kubernetes")
        return _text(k8s.get("version")) if k8s else None

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def reason(self) -> str | None:
        return _text(self.data.get("reason"))

    @property
    def ref(self) -> str | None:
        return _text(self.data.get("ref"))

    @property
    def sha(self) -> str | None:
        return _text(self.data.get("sha"))

    @property
    def url(self) -> str | None:
        """The job that produced the result."""
        return _text(self.data.get("url"))

    @property
    def started_at(self) -> datetime:
        return parse_time(self.data["started_at"])

    @property
    def finished_at(self) -> datetime | None:
        value = self.data.get("finished_at")
        return parse_time(value) if value else None

    @property
    def started_text(self) -> str:
        """``started_at`` in its canonical text (these sort in time order)."""
        return str(self.data["started_at"])

    @property
    def finished_text(self) -> str | None:
        return _text(self.data.get("finished_at"))

    @property
    def run(self) -> dict[str, Any]:
        """The stored ``run`` object as it is (``{}`` when there is none); ``provenance`` is its typed form."""
        return self.data.get("run") or {}

    @property
    def provenance(self) -> RunProvenance | None:
        """The workflow run that produced the record, or None when it names none."""
        run = self.data.get("run")
        return RunProvenance.from_dict(run) if run else None

    def recency(self) -> tuple[str, int, int, int, str, int, str]:
        """Orders two results of one cell: later run start, then run id, then attempt, a final status
        after ``running`` of the same run, then the later finish. A record that sorts lower never replaces
        a higher one. Two different records that tie on all of these (two reports of one execution) go to
        the failure, then to the larger canonical text, so that the order is total and every writer picks
        the same winner."""
        run = self.provenance or NO_RUN
        return (
            self.started_text,
            run.id or 0,
            run.attempt or 0,
            0 if self.status == "running" else 1,
            self.finished_text or "",
            1 if LOOKS[self.status].failure else 0,
            self.to_json(),
        )

    def summary(self) -> str:
        """``coredns stable v1.2.5 aws deploy: failed``: the words of a commit subject."""
        parts = [self.project, self.release]
        ref = self.ref or (self.sha or "")[:7]
        if ref:
            parts.append(ref)
        if self.arch != "amd64":
            parts.append(self.arch)
        if self.cloud:
            parts.append(self.cloud)
        k8s = self.kubernetes_release
        if k8s and k8s != "stable":
            parts.append(f"(kubernetes {k8s})")
        parts.append(self.stage)
        return " ".join(parts) + f": {self.status}"
