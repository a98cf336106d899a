"""The app as a function of a path: a WSGI request made in-process, as a server would make it.

``Renderer`` creates the real app (``crosscloud_app.create_app``) over the status repository with the commit
clock (everything that depends on the time is as of the commit) and no refresh timer, and asks it for paths.
The request carries the site's base path as ``SCRIPT_NAME`` and its host and scheme, exactly as a reverse
proxy mounting the app at that address would: the app's links (``url_for``) then point inside the site, and
the answer is byte for byte what the app mounted there answers."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from crosscloud.errors import BadInputError

if TYPE_CHECKING:
    from flask import Flask

    from crosscloud_app.web.status_state import Snapshot, StatusState


@dataclass(frozen=True)
class Answer:
    """What the app answered for one path."""

    path: str
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Site:
    """Where the site is served: its absolute URL (``https://org.github.io/status/``); the path part is the
    base path every link starts with."""

    scheme: str
    host: str
    base_path: str
    """``/`` or ``/status`` style, with no slash at the end unless it is ``/``."""

    @classmethod
    def parse(cls, base_path: str = "/", public_url: str | None = None) -> Site:
        """From ``--base-path`` and ``--public-url`` (which gives the base path when ``--base-path`` does not)."""
        scheme, host, url_path = "http", "localhost", None
        if public_url:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise BadInputError(
                    f"--public-url {public_url!r}: use an http(s) URL such as https://org.github.io/status/"
                )
            scheme, host, url_path = parts.scheme, parts.netloc, parts.path or "/"
        path = base_path if base_path != "/" or url_path is None else url_path
        if not path.startswith("/") or "//" in path or any(part in (".", "..") for part in path.split("/")):
            raise BadInputError(f"--base-path {base_path!r}: use an absolute path such as /status/")
        if url_path is not None and url_path.rstrip("/") != path.rstrip("/"):
            raise BadInputError(f"--base-path {base_path!r} and --public-url {public_url!r} name different paths")
        return cls(scheme, host, "/" + path.strip("/") if path.strip("/") else "/")

    @property
    def script_name(self) -> str:
        return "" if self.base_path == "/" else self.base_path

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.script_name}/"


class Renderer:
    """The app over ``repo`` (a path or URL), asked for paths under ``site`` (see the module doc)."""

    def __init__(self, repo: str, mirror_dir: Path, site: Site, *, token: str | None = None):
        from crosscloud_app import create_app
        from crosscloud_app.web.status_state import EXTENSION

        config: dict[str, Any] = {
            "STATUS_REPO": repo,
            "MIRROR_DIR": str(mirror_dir),
            "REFRESH_SECONDS": 0,
            "CLOCK": "commit",
            "PUBLIC_URL": site.url.rstrip("/"),
        }
        if token:
            config["TOKEN"] = token
        self.site = site
        self.app: Flask = create_app(config)
        self.state: StatusState = self.app.extensions[EXTENSION]
        self.state.stop()  # one commit is published: no refresh will be asked for (and no thread crosses a fork)

    def snapshot(self) -> Snapshot:
        """The snapshot being published (``NotReadyError`` when the repository could not be read)."""
        return self.state.snapshot()

    def get(self, path: str) -> Answer:
        """The app's answer to ``GET path`` (a path below the site, starting with ``/``; no query)."""
        host, _, port = self.site.host.partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": quote(self.site.script_name),
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": host,
            "SERVER_PORT": port or ("443" if self.site.scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": self.site.host,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.site.scheme,
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        chunks: Iterable[bytes] = self.app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "application/octet-stream")
        return Answer(path, int(status.split(" ", 1)[0]), content_type, body)

    def after_fork(self) -> None:
        """In a worker process forked from the one that made this renderer (``render_jobs``)."""
        self.state.reconnect_after_fork()

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
