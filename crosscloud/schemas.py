"""The JSON Schemas of the contract, loaded from the package, and validation that names the field at fault.

Two validators read the same schema file: ``fastjsonschema`` compiles it to Python and answers "valid?"
about twenty times faster; ``jsonschema`` explains a failure (every error, the most specific branch of a
``oneOf``). Valid documents, the common case, never reach the slow one. Both are imported on first use:
the vocabulary (names, stages, statuses) is read straight from the files."""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

CONFIG = "config.schema.json"
RESULT = "result.schema.json"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The schema document ``name`` (``CONFIG`` or ``RESULT``)."""
    text = resources.files("crosscloud.schema").joinpath(name).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@functools.cache
def validator(name: str) -> Validator:
    from jsonschema.validators import validator_for

    schema = load(name)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.cache
def _compiled(name: str) -> Callable[[Any], Any]:
    import fastjsonschema

    # fastjsonschema rewrites the $ref values of the document it compiles in place: give it a copy, so
    # load() keeps returning the schema as it is in the file.
    return fastjsonschema.compile(copy.deepcopy(load(name)))


def is_valid(name: str, document: Any) -> bool:
    import fastjsonschema

    try:
        _compiled(name)(document)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def field_path(path: Any) -> str:
    """``['projects', 'etcd', 'arch', 0]`` -> ``projects.etcd.arch[0]``; the document itself is ``(root)``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def errors(name: str, document: Any) -> Iterator[tuple[list[Any], str]]:
    """Every violation of schema ``name`` by ``document`` as (path, message); nothing when it is valid.

    For a ``oneOf``/``anyOf`` failure the message of the branch that went deepest is given, which is the
    one a person meant."""
    if is_valid(name, document):
        return
    from jsonschema.exceptions import best_match

    found = sorted(validator(name).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in found:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            yield from _unknown_keys(error)
            continue
        chosen = best_match([error]) if not error.context else best_match(error.context)
        chosen = chosen if chosen is not None else error
        path = list(chosen.absolute_path)
        if "propertyNames" in chosen.absolute_schema_path:
            path.append(chosen.instance)  # the error is about a key: point at the key itself
        yield path, _shorten(_message(chosen))


def _unknown_keys(error: Any) -> Iterator[tuple[list[Any], str]]:
    """One error per unknown key, at the key, with the nearest known key as a suggestion."""
    known = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in known or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        yield [*error.absolute_path, key], f"unknown key {key!r}{hint}"


def _message(error: Any) -> str:
    """jsonschema's words, except for a pattern: a regular expression tells a person little, so the
    description of the field is said instead where the schema has one."""
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "pattern" and description:
        return f"{_shorten(repr(error.instance))} is not valid: {description}"
    return str(error.message)


def _shorten(message: str) -> str:
    """jsonschema repeats the whole offending value; cut absurdly long ones down."""
    return message if len(message) <= 300 else message[:297] + "..."
