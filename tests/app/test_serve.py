"""``crosscloud serve`` started as a real process, fetched over HTTP on 127.0.0.1, then stopped."""

from __future__ import annotations

import signal
import urllib.request

import pytest

from tests.app.conftest import Served


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_answers_over_http_and_stops_cleanly(served: Served, sig: int) -> None:
    assert served.banner.startswith("crosscloud: serving ")
    assert served.banner.endswith(f" at {served.url}")
    with urllib.request.urlopen(served.url, timeout=20) as response:  # noqa: S310 - a URL we built
        assert response.status == 200
        assert response.headers["Content-Security-Policy"] == "default-src 'self'"
        body = response.read().decode()
    assert 'data-project="prometheus"' in body
    with urllib.request.urlopen(served.url + "healthz", timeout=20) as response:  # noqa: S310
        assert response.status == 200
    code, out, err = served.stop(sig)
    assert code == 0, err
    assert "crosscloud: stopped" in out
    assert "Traceback" not in err
