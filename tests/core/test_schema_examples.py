"""Every schema has positive and negative example files; one parametrised test runs them all.

A negative example is named ``<field>--<what is wrong>``: it must be rejected, and the error must name
that field (or, for a missing field, name it in the message at its parent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud import schemas
from crosscloud.config import load_config
from crosscloud.errors import ConfigError, ConfigErrors, RecordError
from crosscloud.records import Record
from tests.helpers.paths import CNCF_2018, CNCF_2020, ROOT

EXAMPLES = ROOT / "schema" / "examples"


def _examples(kind: str, verdict: str) -> list[Path]:
    found = sorted((EXAMPLES / kind / verdict).iterdir())
    assert found, f"no {verdict} examples for {kind}"
    return found


def _check(path: Path) -> None:
    if path.suffix == ".json":
        Record.from_json(path.read_bytes(), source=path.name)
    else:
        load_config(path)


def _expected_field(path: Path) -> str:
    return path.stem.split("--", 1)[0]


def _names_field(expected: str, field: str | None, message: str) -> bool:
    if field == expected:
        return True
    parent, _, leaf = expected.rpartition(".")
    return (field == (parent or "(root)") or field == expected.rsplit("[", 1)[0]) and f"'{leaf}'" in message


@pytest.mark.parametrize(
    "path",
    [*_examples("result", "valid"), *_examples("config", "valid"), CNCF_2018, CNCF_2020],
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_valid_examples_are_accepted(path: Path) -> None:
    _check(path)


@pytest.mark.parametrize(
    "path",
    [*_examples("result", "invalid"), *_examples("config", "invalid")],
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_invalid_examples_are_rejected_naming_the_field(path: Path) -> None:
    with pytest.raises((RecordError, ConfigError, ConfigErrors)) as err:
        _check(path)
    problems = err.value.problems if isinstance(err.value, ConfigErrors) else [err.value]
    expected = _expected_field(path)
    assert any(_names_field(expected, p.field, p.detail) for p in problems), str(err.value)
    assert path.name in str(err.value)


@pytest.mark.parametrize("name", [schemas.CONFIG, schemas.RESULT])
def test_schemas_are_valid_draft_7_and_both_validators_agree(name: str) -> None:
    """The fast validator (fastjsonschema) decides, jsonschema explains: they must never disagree."""
    schemas.validator(name)  # checks the schema itself
    kind = "config" if name == schemas.CONFIG else "result"
    import json

    import yaml

    for path in _examples(kind, "valid") + _examples(kind, "invalid"):
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        slow = not any(True for _ in schemas.validator(name).iter_errors(document))
        assert schemas.is_valid(name, document) == slow, path.name
