"""The words of the contract: releases, stages, statuses, architectures and what a name may look like.

They are read from ``schema/result.schema.json`` so that the schema stays the one place that defines them."""

from __future__ import annotations

import re
from typing import Final

from crosscloud import schemas
from crosscloud.errors import BadInputError, UnknownNameError

_result = schemas.load(schemas.RESULT)
_props = _result["properties"]

RELEASES: Final[tuple[str, ...]] = tuple(_props["release"]["enum"])
STAGES: Final[tuple[str, ...]] = tuple(_props["stage"]["enum"])
"""In pipeline order: a later stage runs only after the earlier ones succeeded."""
STATUSES: Final[tuple[str, ...]] = tuple(_props["status"]["enum"])
ARCHES: Final[tuple[str, ...]] = tuple(_props["arch"]["enum"])
NAME_PATTERN: Final[str] = _result["$defs"]["name"]["pattern"]
_NAME_RE: Final = re.compile(NAME_PATTERN)

CLOUD_STAGES: Final[tuple[str, ...]] = tuple(s for s in STAGES if s != "build")
FINAL_FAILURES: Final[frozenset[str]] = frozenset({"failed", "cancelled", "timed_out", "infra_failed"})
"""Statuses after which the later stages do not run."""

NO_KUBERNETES: Final[str] = "host"
"""The test-environment segment of a cell on a cloud that runs projects on the host (no Kubernetes)."""


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a valid project or cloud name, else a ``BadInputError`` that says why.

    Names become path segments of the status repository, so anything that could escape a path
    (``..``, ``/``, NUL, control characters, upper case, absurd lengths) is refused here."""
    if _NAME_RE.fullmatch(value):
        return value
    shown = repr(value if len(value) <= 80 else value[:77] + "...")
    raise BadInputError(
        f"invalid {kind} name {shown}: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
    )


def check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> str:
    if value in allowed:
        return value
    raise UnknownNameError(kind, value, allowed)


_MACHINE_ARCH: Final[dict[str, str]] = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x",
}  # fmt: skip


def host_arch() -> str | None:
    """The architecture of this machine in the config's words (``amd64`` for x86_64), or None when the
    machine is none of ARCHES."""
    import platform

    return _MACHINE_ARCH.get(platform.machine().lower())
