"""GitHub's API in the tests: betamax cassettes stand in for github.com, which this machine cannot reach.

The cassettes in ``tests/app/cassettes/`` hold the conversations the code must have with GitHub, built
from real response shapes (octokit's recorded fixtures and GitHub's REST documentation). A request is
matched on method, path, query and JSON body (PyGithub asks for ``https://api.github.com:443/...``, so the
port is never part of the match), and each recorded answer is used once, in order: an unexpected, repeated
or differently shaped request fails the test.

Two ways to replay:

- ``replaying(name)``: in this process, through PyGithub's ``Requester.injectConnectionClasses``, whose
  connections then share one betamax-wrapped ``requests.Session``;
- ``ReplayServer(name)``: a real HTTP server on 127.0.0.1 that answers from the cassette, for code that
  takes an API URL (``crosscloud trigger --api-url``, as for GitHub Enterprise Server). It rewrites
  ``https://api.github.com`` in answers to its own address, as a GitHub Enterprise host names itself.

Re-recording: with ``CROSSCLOUD_RECORD_GITHUB_TOKEN`` set, ``replaying`` records missing interactions
against the real API (betamax mode ``new_episodes``) with that token, stored as ``<GITHUB_TOKEN>``."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from betamax import Betamax
from betamax.matchers import BaseMatcher
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

CASSETTES = Path(__file__).resolve().parents[1] / "app" / "cassettes"
RECORD_TOKEN_ENV = "CROSSCLOUD_RECORD_GITHUB_TOKEN"
MATCH_ON = ["method", "path", "query", "json-body"]


def _json_or_text(body: Any) -> Any:
    if body in (None, b"", ""):
        return None
    text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
    try:
        return json.loads(text)
    except ValueError:
        return text


class JSONBodyMatcher(BaseMatcher):  # type: ignore[misc]
    """Bodies are equal as JSON values (key order and spacing do not matter)."""

    name = "json-body"

    def match(self, request: Any, recorded_request: dict[str, Any]) -> bool:
        recorded = recorded_request.get("body") or {}
        return bool(_json_or_text(request.body) == _json_or_text(recorded.get("string")))


Betamax.register_request_matcher(JSONBodyMatcher)


@dataclass
class Seen:
    """The requests a replay answered (for asserting on headers such as Authorization)."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [f"{method} {urlsplit(url).path}" for method, url, _ in self.requests]


@contextmanager
def replaying(name: str) -> Iterator[Seen]:
    """Every PyGithub request inside the block is answered from ``cassettes/<name>.json``; on leaving,
    every recorded interaction must have been used."""
    session = requests.Session()
    token = os.environ.get(RECORD_TOKEN_ENV)
    recorder = Betamax(session, cassette_library_dir=str(CASSETTES))
    placeholders = [{"placeholder": "<GITHUB_TOKEN>", "replace": token}] if token else []
    seen = Seen()

    class Https(HTTPSRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session = session

        def getresponse(self) -> Any:  # what PyGithub really sent (betamax answers with the recorded request)
            seen.requests.append((self.verb, self.url, dict(self.headers)))
            return super().getresponse()

    class Http(HTTPRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session = session

        def getresponse(self) -> Any:
            seen.requests.append((self.verb, self.url, dict(self.headers)))
            return super().getresponse()

    with recorder.use_cassette(
        name, record="new_episodes" if token else "none", match_requests_on=MATCH_ON, placeholders=placeholders
    ):
        Requester.injectConnectionClasses(Http, Https)
        try:
            yield seen
        finally:
            Requester.resetConnectionClasses()
        unused = [
            f"{i.data['request']['method']} {i.data['request']['uri']}"
            for i in recorder.current_cassette.interactions
            if not i.used
        ]
    if not token:
        assert not unused, f"recorded requests that were never made: {unused}"


def load(name: str) -> list[dict[str, Any]]:
    interactions: list[dict[str, Any]] = json.loads((CASSETTES / f"{name}.json").read_text())["http_interactions"]
    return interactions


class ReplayServer:
    """A GitHub API on 127.0.0.1 that answers from one cassette (each interaction once, in order)."""

    def __init__(self, name: str):
        self.interactions = load(name)
        self.used = [False] * len(self.interactions)
        self.unmatched: list[str] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = replay.respond(self.command, self.path, body, dict(self.headers))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        with self._lock:
            self.seen.append((method, target, headers))
            for index, interaction in enumerate(self.interactions):
                recorded = interaction["request"]
                want = urlsplit(recorded["uri"])
                if (
                    self.used[index]
                    or recorded["method"] != method
                    or want.path != parts.path
                    or parse_qs(want.query) != parse_qs(parts.query)
                    or _json_or_text(recorded["body"].get("string")) != _json_or_text(body)
                ):
                    continue
                self.used[index] = True
                response = interaction["response"]
                text = response["body"].get("string", "").replace("https://api.github.com", self.url)
                keep = {k: v[0] if isinstance(v, list) else v for k, v in response["headers"].items()}
                keep.pop("Content-Length", None)
                keep.pop("content-length", None)
                return response["status"]["code"], keep, text.encode("utf-8")
            self.unmatched.append(f"{method} {target} {body[:200]!r}")
        return 501, {"Content-Type": "application/json"}, b'{"message": "not in the cassette"}'

    def unused(self) -> list[str]:
        return [
            f"{i['request']['method']} {i['request']['uri']}"
            for i, used in zip(self.interactions, self.used, strict=True)
            if not used
        ]

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
