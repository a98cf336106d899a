"""Schema-driven fuzzing.

- hypothesis strategies derived from ``schema/config.schema.json`` and ``schema/result.schema.json``
  (``from_schema`` below), valid and then mutated, and raw bytes: ``parse_config`` and ``Record.from_dict``
  / ``from_json`` either accept or raise our ``BadInputError`` family, never anything else;
- schemathesis against the app's own ``/api/v1/openapi.json``, served by werkzeug on 127.0.0.1 from a
  seeded status repository: no 5xx, and every answer conforms to the document (status, content type,
  headers, schema).

Examples are bounded so the module runs in well under a minute."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crosscloud import schemas
from crosscloud.config import parse_config
from crosscloud.errors import BadInputError
from crosscloud.records import Record
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.api import openapi
from crosscloud_app.web.status_state import EXTENSION
from tests.helpers.app_results import ALL_GREEN, pipeline, result
from tests.helpers.status_repos import record_data

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def from_schema(node: Any, defs: Mapping[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Documents valid for the subset of JSON Schema our two schemas use (types, enums, patterns, lengths,
    bounds, properties, propertyNames, items, oneOf, ``$ref`` into ``$defs``). Keywords it does not model
    (``not``, ``dependencies``) may let an invalid document through: the tests accept a BadInputError, so
    that only costs an example. (hypothesis-jsonschema 0.23 does not run with this hypothesis.)"""
    if not isinstance(node, dict) or depth > 8:
        return st.just({})
    if "$ref" in node:
        return from_schema(defs[str(node["$ref"]).removeprefix("#/$defs/")], defs, depth + 1)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "oneOf" in node:
        return st.one_of([from_schema(option, defs, depth + 1) for option in node["oneOf"]])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**node, "type": k}, defs, depth) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31))
    if kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum", -1e9))
        return st.floats(low, node.get("maximum", 1e9), exclude_min="exclusiveMinimum" in node, allow_nan=False)
    if kind == "string":
        return _strings(node)
    if kind == "array":
        items = from_schema(node.get("items", {}), defs, depth + 1)
        size = {"min_size": node.get("minItems", 0), "max_size": min(node.get("maxItems", 3), 3)}
        if node.get("uniqueItems"):
            return st.lists(items, unique_by=lambda v: json.dumps(v, sort_keys=True), **size)
        return st.lists(items, **size)
    if kind == "object" or "properties" in node:
        return _objects(node, defs, depth)
    return JSON


MAX_OFFSET = timedelta(hours=23, minutes=59)


def _minutes(offset: timedelta) -> timedelta:
    return timedelta(minutes=offset // timedelta(minutes=1))


def _strings(node: Mapping[str, Any]) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), min(node.get("maxLength", 40), 40)
    if "RFC 3339" in str(node.get("description", "")):  # the timestamp: real dates, in any zone
        zones = st.just(UTC) | st.builds(timezone, st.timedeltas(-MAX_OFFSET, MAX_OFFSET).map(_minutes))
        return st.datetimes(timezones=zones).map(lambda t: t.isoformat(timespec="seconds"))
    if "pattern" in node:
        found = st.from_regex(node["pattern"], fullmatch=True)
        return found.filter(lambda v: low <= len(v) <= node.get("maxLength", 10**6))
    return st.text(min_size=low, max_size=max(low, high))


def _objects(node: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties: Mapping[str, Any] = node.get("properties", {})
    required = [name for name in node.get("required", []) if name in properties]
    optional = [name for name in properties if name not in required]
    extra = node.get("additionalProperties", True)
    names = from_schema({"type": "string", **node.get("propertyNames", {})}, defs, depth + 1)
    low = max(node.get("minProperties", 0), 0)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {name: draw(from_schema(properties[name], defs, depth + 1)) for name in required}
        for name in draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []:
            out[name] = draw(from_schema(properties[name], defs, depth + 1))
        if isinstance(extra, dict):
            for name in draw(st.lists(names, unique=True, min_size=low, max_size=max(low, 2))):
                out.setdefault(name, draw(from_schema(extra, defs, depth + 1)))
        return out

    return build()


def test_validating_leaves_the_loaded_schema_as_it_is_in_the_file() -> None:
    """The strategies are built from ``schemas.load``; a validator that rewrote it would skew them."""
    text = (Path(__file__).resolve().parents[2] / "schema" / schemas.CONFIG).read_text()
    schemas.is_valid(schemas.CONFIG, {"clouds": {}})
    assert schemas.load(schemas.CONFIG) == json.loads(text)


def _strategy(name: str) -> st.SearchStrategy[Any]:
    document = schemas.load(name)
    return from_schema(document, document.get("$defs", {}))


def _conditions(data: dict[str, Any]) -> dict[str, Any]:
    """The record schema's ``allOf`` if/then rules, which ``from_schema`` does not model: a build has no
    cloud, a finished stage has ``finished_at``."""
    if data.get("stage") == "build":
        data = {**data, "cloud": None, "kubernetes": None}
    if data.get("status") != "running" and "finished_at" not in data:
        data = {**data, "finished_at": data.get("started_at")}
    return data


CONFIGS = _strategy(schemas.CONFIG)
RECORDS = _strategy(schemas.RESULT).map(_conditions)


def _mutate(document: Any, path: list[Any], value: Any) -> Any:
    """``document`` with the value at the path prefix that exists replaced by ``value``."""
    if not path or not isinstance(document, dict | list):
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict) and document:
        key = sorted(document)[head % len(document)]
        return {**document, key: _mutate(document[key], rest, value)}
    if isinstance(document, list) and document:
        index = head % len(document)
        return [*document[:index], _mutate(document[index], rest, value), *document[index + 1 :]]
    return value


def _config_or_bad_input(text: str | bytes) -> None:
    try:
        parse_config(text, "cross-cloud.yml")
    except BadInputError as exc:
        assert str(exc).startswith("cross-cloud.yml")  # the file is named


@FUZZ
@given(CONFIGS)
def test_schema_valid_configurations_load_or_fail_a_cross_field_rule(document: dict[str, Any]) -> None:
    _config_or_bad_input(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(CONFIGS, st.lists(st.integers(0, 50), min_size=1, max_size=5), JSON)
def test_mutated_configurations_are_loaded_or_refused_as_bad_input(
    document: dict[str, Any], path: list[int], value: Any
) -> None:
    _config_or_bad_input(yaml.safe_dump(_mutate(document, path, value), allow_unicode=True))


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_as_a_configuration_are_refused_as_bad_input(raw: bytes) -> None:
    _config_or_bad_input(raw)


@FUZZ
@given(RECORDS)
@example(record_data(started_at="0999-01-01T00:00:00Z", finished_at="0999-01-01T00:00:01Z"))  # %Y gave "999"
def test_schema_valid_records_are_accepted_or_refused_as_bad_input(data: dict[str, Any]) -> None:
    try:
        record = Record.from_dict(data)
    except BadInputError:
        return  # e.g. finished before it started: a rule the schema cannot state
    assert Record.from_json(record.to_json()) == record


@FUZZ
@given(RECORDS, st.lists(st.integers(0, 50), min_size=1, max_size=3), JSON)
def test_mutated_records_are_refused_as_bad_input(data: dict[str, Any], path: list[int], value: Any) -> None:
    with contextlib.suppress(BadInputError):
        Record.from_dict(_mutate(data, path, value))


@FUZZ
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_as_a_record_are_refused_as_bad_input(raw: bytes) -> None:
    with contextlib.suppress(BadInputError):
        Record.from_json(raw)


# -- the API against its own OpenAPI document ---------------------------------------------------------------
@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over a seeded repository, served by werkzeug on a free 127.0.0.1 port."""
    from werkzeug.serving import make_server

    root = tmp_path_factory.mktemp("fuzz")
    repo = root / "status.git"
    init_status_repo(repo)
    writer = StatusRepoWriter(Remote.parse(str(repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))
    writer.write(
        [
            *pipeline("prometheus", "stable", ALL_GREEN, run=100),
            *pipeline("etcd", "stable", {"build": "success", "provision": "success", "deploy": "failed"}),
            result("nats", "head", "build", "running", at=0.1, ref="v2.15.1", run=101),
        ]
    )
    # The writing routes are configured (else they answer 503 "turned off"); the fuzzer never has the tokens.
    tokens = {"SUBMIT_TOKEN": "fuzz-submit-token-value", "REFRESH_TOKEN": "fuzz-refresh-token-value"}
    app = create_app(
        {"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(Path(root) / "mirror"),
         "NIGHTLY_REPOSITORY": "example/cross-cloud", **tokens}
    )  # fmt: skip
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions[EXTENSION].close()


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
"""Everything but ``positive_data_acceptance``: a project or cloud name is valid by its pattern in the
document but only known when it is in the served ``cross-cloud.yml``, and an unknown one is a documented
400, which that check would count as a failure."""


METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = sorted(
    (method.upper(), path) for path, item in openapi.document()["paths"].items() for method in item if method in METHODS
)
assert len(OPERATIONS) >= 8


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{api_url}/api/v1/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_conforms_to_its_document_and_never_fails(
    api_schema: Any, api_url: str, method: str, path: str
) -> None:
    """The operation with examples schemathesis generates from the served document: no 5xx, and status,
    content type, headers and body as documented (``call_and_validate``)."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(base_url=api_url, checks=CHECKS)

    check()
