"""Servers of the tests on 127.0.0.1: a free port, a small JSON server for stand-ins, ``crosscloud serve`` as a
process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on now: for a server the test starts, or an address that refuses."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, process: subprocess.Popen[Any], seconds: float) -> None:
    """Return once ``url`` answers 200; fail when ``process`` (the server the test started) ends first or
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a 127.0.0.1 URL of the test
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert process.poll() is None, f"the server ended ({process.returncode}) before {url} answered"
        assert time.monotonic() < deadline, f"{url} did not answer within {seconds:g} s"
        time.sleep(0.1)


class Served:
    """``crosscloud serve`` as a real subprocess on a free 127.0.0.1 port."""

    def __init__(self, repo: Path, mirror_dir: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crosscloud", "serve", "--repo", str(repo), "--port", str(self.port),
             "--mirror-dir", str(mirror_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline().strip()
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


JsonAnswer = Callable[[str, Mapping[str, str]], tuple[int, Any]]
"""The path and headers of a GET, to a status and the JSON body (a status other than 200 is an error page)."""


class JsonServer:
    """A threaded HTTP server on a free 127.0.0.1 port answering GETs as ``answer`` says: the stand-in for a
    service of GitHub's a test cannot reach. ``url`` has no trailing slash; ``close`` stops it."""

    def __init__(self, answer: JsonAnswer):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = answer(self.path, dict(self.headers.items()))
                if status != 200:
                    self.send_error(status)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
