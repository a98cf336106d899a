"""YAML loading that keeps line numbers, so a configuration error can say where it is.

Also refuses what PyYAML would silently accept: duplicate keys (the second one would win unseen)."""

from __future__ import annotations

from typing import Any

import yaml

from crosscloud.errors import ConfigError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is part of the PyYAML wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Lines = dict[tuple[Any, ...], int]

MAX_BYTES = 1 << 20
"""A configuration is a few hundred lines; anything over a MiB is a mistake or an attack."""
MAX_NODES = 200_000
"""Nodes after expanding aliases: stops a 'billion laughs' document before it is walked or validated."""


def load(text: str | bytes, source: str) -> tuple[Any, Lines]:
    """Parse ``text`` (one document) into Python data and a map from field path to its 1-based line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=source) from exc
    if len(text) > MAX_BYTES:
        raise ConfigError(f"file too large ({len(text)} characters, at most {MAX_BYTES})", source=source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise ConfigError(
                f"document too large after expanding aliases ({size} nodes, at most {MAX_NODES})",
                source=source,
            )
        lines: Lines = {}
        _walk(node, (), lines, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", source=source, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from exc
    finally:
        loader.dispose()
    return data, lines


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (memoised, so cheap)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: Lines, source: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    source=source,
                    line=line,
                    field=_dotted((*path, key)),
                )
            if key is not None:
                seen[key] = line
            _walk(value_node, (*path, key), lines, source)
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, source)


def line_of(lines: Lines, path: list[Any] | tuple[Any, ...]) -> int | None:
    """The line of ``path``, or of its nearest parent that has one."""
    key = tuple(path)
    if key and key not in lines and not isinstance(key[-1], str | int):
        key = (*key[:-1], str(key[-1]).lower() if isinstance(key[-1], bool) else str(key[-1]))
    elif key and key not in lines and isinstance(key[-1], int) and (*key[:-1], str(key[-1])) in lines:
        key = (*key[:-1], str(key[-1]))
    while key not in lines and key:
        key = key[:-1]
    return lines.get(key)


def _dotted(path: tuple[Any, ...]) -> str:
    from crosscloud.schemas import field_path

    return field_path(path)
