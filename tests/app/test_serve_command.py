"""``crosscloud serve`` started as a real process, fetched over HTTP on 127.0.0.1, then stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.servers import Served, free_port


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_answers_over_http_and_stops_cleanly(served: Served, sig: int) -> None:
    assert served.banner.startswith("crosscloud: serving ")
    assert served.banner.endswith(f" at {served.url}")
    with urllib.request.urlopen(served.url, timeout=20) as response:  # noqa: S310 - a URL we built
        assert response.status == 200
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'; img-src 'self' https:")
        body = response.read().decode()
    assert 'data-project="prometheus"' in body
    with urllib.request.urlopen(served.url + "healthz", timeout=20) as response:  # noqa: S310
        assert response.status == 200
    code, out, err = served.stop(sig)
    assert code == 0, err
    assert "crosscloud: stopped" in out
    assert "Traceback" not in err


def test_serve_stops_by_itself_after_stop_after(seeded_repo: Path, tmp_path: Path) -> None:
    """What ``make run`` does without a terminal: serve, answer, then stop on its own with status 0."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crosscloud", "serve", "--repo", str(seeded_repo), "--port", str(port),
         "--mirror-dir", str(tmp_path / "mirror"), "--stop-after", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip().endswith(f"http://127.0.0.1:{port}/")
        assert process.stdout.readline().strip() == "crosscloud: stopping after 3 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as response:
            assert response.status == 200
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "crosscloud: stopped" in out


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_stop_after_must_be_positive(seeded_repo: Path, tmp_path: Path, bad: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crosscloud", "serve", "--repo", str(seeded_repo), "--stop-after", bad],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--stop-after" in done.stderr
