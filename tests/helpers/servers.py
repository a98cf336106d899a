"""Servers of the tests on 127.0.0.1: free and closed ports, ``crosscloud serve`` as a process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on now: for a server the test starts, or an address that refuses."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
