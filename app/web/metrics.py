"""A tiny Prometheus registry for the app (no extra dependency): counters and gauges with labels,
rendered in the Prometheus text format by ``/metrics``. Any module may count with ``metrics.inc``."""

from __future__ import annotations

import threading
from collections.abc import Mapping

_Labels = tuple[tuple[str, str], ...]

_lock = threading.Lock()
_counters: dict[str, dict[_Labels, float]] = {}
_gauges: dict[str, dict[_Labels, float]] = {}
_help: dict[str, str] = {}


def _key(labels: Mapping[str, str] | None) -> _Labels:
    return tuple(sorted((labels or {}).items()))


def describe(name: str, text: str) -> None:
    """The ``# HELP`` line of ``name``."""
    _help[name] = text


def inc(name: str, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
    """Add ``amount`` to the counter ``name`` with ``labels`` (Prometheus counters end in ``_total``)."""
    with _lock:
        series = _counters.setdefault(name, {})
        key = _key(labels)
        series[key] = series.get(key, 0.0) + amount


def set_gauge(name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
    with _lock:
        _gauges.setdefault(name, {})[_key(labels)] = value


def value(name: str, labels: Mapping[str, str] | None = None) -> float | None:
    with _lock:
        for family in (_counters, _gauges):
            if name in family and _key(labels) in family[name]:
                return family[name][_key(labels)]
    return None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render() -> str:
    """Every series in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    with _lock:
        for kind, family in (("counter", _counters), ("gauge", _gauges)):
            for name in sorted(family):
                if name in _help:
                    lines.append(f"# HELP {name} {_help[name]}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, number in sorted(family[name].items()):
                    text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{text}}} {number:g}" if text else f"{name} {number:g}")
    return "\n".join(lines) + "\n"
