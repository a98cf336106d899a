"""Where each published path is written, and the site's ``manifest.json``.

A path is written as the file a static server (GitHub Pages, nginx, ``python -m http.server``) answers for it:

- a path ending in ``/`` is ``<path>index.html``;
- a path whose last segment has a file extension (``.svg``, ``.json``, ``.xml``, ``.css`` ...) is itself;
- any other path is ``<path>/index.html`` for a page (the server redirects ``/projects/etcd`` to
  ``/projects/etcd/`` and answers its ``index.html``) and ``<path>.json`` for a JSON answer of the API
  (``/api/v1/projects`` is ``api/v1/projects.json``: a static server cannot answer JSON at a path that is
  also a folder).

``manifest.json`` lists every file of the site: its path in the app, sha256, size and the commit it is the
app's answer at (the tip for a full publish; for an incremental one, the commit that last changed what the file
shows: see ``publish_command``). A later run reads it to write only files whose bytes changed and to delete
the files that are no longer part of the site (and never a file it did not write). Files are written to a
temporary name and renamed, and the manifest last, so an interrupted run leaves every file whole and a
manifest that names only files it wrote."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from crosscloud.errors import BadInputError

MANIFEST: Final = "manifest.json"
MANIFEST_VERSION: Final = 1
_EXTENSIONS: Final = frozenset({".svg", ".json", ".xml", ".css", ".js", ".html", ".txt", ".ico", ".png"})


def file_of(path: str, content_type: str) -> str:
    """The site file (relative, POSIX) that answers ``path`` (see the module doc)."""
    relative = path.lstrip("/")
    if relative == "" or relative.endswith("/"):
        return f"{relative}index.html"
    if PurePosixPath(relative).suffix in _EXTENSIONS:
        return relative
    if content_type.startswith("application/json"):
        return f"{relative}.json"
    return f"{relative}/index.html"


@dataclass(frozen=True)
class SiteFile:
    """One file of the site: the path the app answers it at, what it holds, and the status repository commit
    it is the app's answer at."""

    path: str
    sha256: str
    size: int
    commit: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "commit": self.commit}


def describe(path: str, body: bytes, commit: str) -> SiteFile:
    return SiteFile(path, hashlib.sha256(body).hexdigest(), len(body), commit)


@dataclass(frozen=True)
class Manifest:
    """What a publish wrote (file name -> ``SiteFile``), from which commit, as of which time."""

    commit: str
    as_of: str
    base_path: str
    files: Mapping[str, SiteFile]

    def to_json(self) -> bytes:
        """The manifest's JSON: one line per file, in name order, so two manifests compare line by line (and
        tens of thousands of files are written by the fast encoder, not the indenting one)."""
        head = {"as_of": self.as_of, "base_path": self.base_path, "commit": self.commit, "version": MANIFEST_VERSION}
        lines = [f" {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
        entries = [
            f"  {json.dumps(name)}: {json.dumps(self.files[name].as_dict(), sort_keys=True)}"
            for name in sorted(self.files)
        ]
        return "\n".join(["{", *lines, ' "files": {', ",\n".join(entries), " }", "}", ""]).encode()

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        """The manifest in ``out`` (None when there is none); a manifest that cannot be read is an error naming
        the file and what is wrong, as the next run would otherwise delete or keep the wrong files."""
        source = out / MANIFEST
        try:
            data = json.loads(source.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{source}: not a manifest of crosscloud publish: {exc}") from None
        try:
            if data["version"] != MANIFEST_VERSION:
                raise BadInputError(f"{source}: manifest version {data['version']!r}, expected {MANIFEST_VERSION}")
            files = {
                str(name): SiteFile(str(f["path"]), str(f["sha256"]), int(f["size"]), str(f["commit"]))
                for name, f in data["files"].items()
            }
            return cls(str(data["commit"]), str(data["as_of"]), str(data["base_path"]), files)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BadInputError(f"{source}: not a manifest of crosscloud publish (field {exc})") from None


def safe_name(out: Path, name: str) -> Path:
    """``out / name``, refusing a name that would leave ``out`` (a manifest edited by hand, a hostile path)."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", ".", "") for p in parts) or "\\" in name:
        raise BadInputError(f"refusing to write or delete {name!r}: not a file inside the site")
    return out.joinpath(*parts)


def write(out: Path, name: str, body: bytes) -> None:
    """Write ``body`` to ``out/name`` whole: a temporary file in the same folder, then a rename."""
    target = safe_name(out, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    temporary.write_bytes(body)
    temporary.replace(target)


def unchanged_on_disk(out: Path, name: str, wanted: SiteFile) -> bool:
    """``out/name`` holds exactly ``wanted`` (size first, then the hash)."""
    target = safe_name(out, name)
    try:
        if target.stat().st_size != wanted.size:
            return False
        return hashlib.sha256(target.read_bytes()).hexdigest() == wanted.sha256
    except OSError:
        return False


def delete(out: Path, names: Iterable[str]) -> int:
    """Delete the files ``names`` (and the folders they leave empty); returns how many were there."""
    deleted = 0
    for name in names:
        target = safe_name(out, name)
        try:
            target.unlink()
            deleted += 1
        except FileNotFoundError:
            continue
        folder = target.parent
        while folder != out:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    return deleted
