"""How a project's stages are configured, typed: its ``build``, ``run``, ``e2e`` and ``chart`` mappings of
``cross-cloud.yml`` (``schema/config.schema.json``, ``$defs``), parsed once when the configuration loads.

``config.parse_config`` checks a file against the schema first, so every problem is reported there with the
file, the line and the field; the ``from_dict`` constructors here take data that passed it (a test or a tool
may call them directly with the same shape). Values are frozen: tuples for lists, read-only mappings for
mappings. What a field means is the schema's description; the defaults that belong to a stage (a binary's
``--version`` arguments, a probe on ``{port}``) stay with the action that applies them, so an unset field is
``None`` or empty here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

BUILD_MODES: Final = ("source", "reuse", "ci")
DEFAULT_BUILD_MODE: Final = "reuse"


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _frozen(mapping: Any) -> Mapping[str, str]:
    return MappingProxyType({str(key): str(value) for key, value in (mapping or {}).items()})


@dataclass(frozen=True)
class BinarySpec:
    """``build.binaries[]``: an installed binary, pinned by the version it reports and its sha256."""

    name: str
    path: str | None = None
    version_args: tuple[str, ...] | None = None
    version_pattern: str | None = None
    source: str | None = None
    """``debian:PKG``, ``pypi:DIST`` or free text: where it comes from."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BinarySpec:
        args = data.get("version_args")
        return cls(
            name=str(data["name"]),
            path=_text(data.get("path")),
            version_args=None if args is None else _strings(args),
            version_pattern=_text(data.get("version_pattern")),
            source=_text(data.get("source")),
        )


@dataclass(frozen=True)
class FileSpec:
    """``build.files[]``: a released file with the sha256 it must have."""

    sha256: str
    url: str | None = None
    path: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileSpec:
        return cls(sha256=str(data["sha256"]), url=_text(data.get("url")), path=_text(data.get("path")))


@dataclass(frozen=True)
class ImageSpec:
    """``build.image``: the OCI image a source build packages and pushes."""

    name: str
    containerfile: str | None = None
    context: str | None = None
    tls_verify: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageSpec:
        return cls(
            name=str(data.get("name") or ""),
            containerfile=_text(data.get("containerfile")),
            context=_text(data.get("context")),
            tls_verify=bool(data.get("tls_verify", True)),
        )


@dataclass(frozen=True)
class BuildSpec:
    """``build``: how a release is built (``source``), which published artifacts are pinned (``reuse``), or
    whose own CI runs are its builds (``ci``). ``releases`` holds per-release overrides; ``for_release``
    lays one over the rest."""

    mode: str = DEFAULT_BUILD_MODE
    ref_match: str = "exact"
    """``reuse`` with binaries: ``exact`` (a binary reports the ref's version) or ``floor`` (the ref is the
    lowest acceptable version)."""
    binaries: tuple[BinarySpec, ...] = ()
    images: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    repository: str | None = None
    commands: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[str, ...] = ()
    image: ImageSpec | None = None
    workflow: str | None = None
    releases: Mapping[str, BuildSpec] = field(default_factory=_empty)
    given: frozenset[str] = frozenset()
    """The keys the configuration set: what a per-release override replaces."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildSpec:
        image = data.get("image")
        return cls(
            mode=str(data.get("mode", DEFAULT_BUILD_MODE)),
            ref_match=str(data.get("ref_match", "exact")),
            binaries=tuple(BinarySpec.from_dict(b) for b in data.get("binaries", ())),
            images=_strings(data.get("images")),
            files=tuple(FileSpec.from_dict(f) for f in data.get("files", ())),
            repository=_text(data.get("repository")),
            commands=tuple(_strings(command) for command in data.get("commands", ())),
            outputs=_strings(data.get("outputs")),
            image=None if image is None else ImageSpec.from_dict(image),
            workflow=_text(data.get("workflow")),
            releases=MappingProxyType(
                {release: cls.from_dict(override) for release, override in data.get("releases", {}).items()}
            ),
            given=frozenset(key for key in data if key != "releases"),
        )

    def for_release(self, release: str) -> BuildSpec:
        """The spec of one release: the keys ``releases.<release>`` sets replace these (``mode`` defaults to
        ``reuse``); the result has no ``releases`` of its own."""
        override = self.releases.get(release)
        base = dataclasses.replace(self, releases=MappingProxyType({}))
        if override is None:
            return base
        changes = {key: getattr(override, key) for key in override.given}
        return dataclasses.replace(base, **changes, given=base.given | override.given)


@dataclass(frozen=True)
class ReadySpec:
    """``run.ready``: when a started project is ready (all that are set must hold)."""

    http: str | None = None
    """A URL that must answer 2xx."""
    tcp: str | None = None
    """``PORT`` or ``HOST:PORT`` that must accept connections."""


@dataclass(frozen=True)
class RunSpec:
    """``run``: how the project runs as processes on a cloud without Kubernetes (the local cloud)."""

    command: tuple[str, ...]
    ports: tuple[str, ...] = ()
    """Extra named ports (``{port}`` is always allocated)."""
    files: Mapping[str, str] = field(default_factory=_empty)
    env: Mapping[str, str] = field(default_factory=_empty)
    ready: ReadySpec = field(default_factory=ReadySpec)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        ready = data.get("ready") or {}
        return cls(
            command=_strings(data.get("command")),
            ports=_strings(data.get("ports")),
            files=_frozen(data.get("files")),
            env=_frozen(data.get("env")),
            ready=ReadySpec(http=_text(ready.get("http")), tcp=_text(ready.get("tcp"))),
        )


@dataclass(frozen=True)
class E2ESpec:
    """``e2e``: the project's end-to-end checks, a built-in ``check`` and/or a ``command``."""

    check: str | None = None
    args: Mapping[str, str] = field(default_factory=_empty)
    """Arguments of the check (placeholders allowed)."""
    command: tuple[str, ...] = ()
    timeout: int | None = None
    """Seconds each check may take (default: the stage's own deadline)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> E2ESpec:
        timeout = data.get("timeout")
        return cls(
            check=_text(data.get("check")),
            args=_frozen(data.get("args")),
            command=_strings(data.get("command")),
            timeout=None if timeout is None else int(timeout),
        )


@dataclass(frozen=True)
class ChartTestSpec:
    """``chart.test``: the project's own test instead of ``helm test``."""

    command: tuple[str, ...]
    timeout: int | None = None


@dataclass(frozen=True)
class ChartSpec:
    """``chart``: the Helm chart deployed on Kubernetes clouds (a path, a repository and name, or a name
    under ``helm/``; none of them: ``helm/<project>/``)."""

    path: str | None = None
    repository: str | None = None
    name: str | None = None
    version: str | None = None
    values: Mapping[str, Any] = field(default_factory=_empty)
    """Values given to the chart, as the configuration has them (any YAML the chart understands)."""
    test: ChartTestSpec | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChartSpec:
        test = data.get("test")
        version = data.get("version")
        timeout = test.get("timeout") if test else None
        return cls(
            path=_text(data.get("path")),
            repository=_text(data.get("repository")),
            name=_text(data.get("name")),
            version=None if version is None else str(version),
            values=MappingProxyType(dict(data.get("values") or {})),
            test=ChartTestSpec(_strings(test.get("command")), None if timeout is None else int(timeout))
            if test
            else None,
        )
