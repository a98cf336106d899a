"""The build stage: resolve the release's ref and produce a ``Pinned`` (``source.py`` builds, ``reuse.py``
pins what was already published). ``effective_spec`` merges a project's ``build`` with its per-release
overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def effective_spec(build: Mapping[str, Any], release: str) -> dict[str, Any]:
    """``build`` with ``build.releases.<release>`` laid over it (``mode`` defaults to ``reuse``)."""
    spec = {k: v for k, v in build.items() if k != "releases"}
    spec.update(build.get("releases", {}).get(release, {}))
    spec.setdefault("mode", "reuse")
    return spec
