"""The published site under a project path, as GitHub Pages serves ``https://org.github.io/status/``: served
here by ``python -m http.server`` on 127.0.0.1 (a folder ``status/`` in its root), read in Debian's headless
Chromium (Playwright with ``executable_path``). From the dashboard to a project, to a deployment page and back,
and to another test environment's view: every link resolves, the stylesheet and the script load, and the
browser reports no error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import chromium
from tests.helpers.servers import free_port, wait_until_answering


@pytest.fixture
def site(seeded_repo: Path, tmp_path: Path) -> Iterator[str]:
    """The site of ``seeded_repo`` published with ``--base-path /status/`` and served; its URL."""
    www = tmp_path / "www"
    subprocess.run(
        [sys.executable, "-m", "crosscloud", "publish", "--repo", str(seeded_repo), "--out", str(www / "status"),
         "--base-path", "/status/", "--mirror-dir", str(tmp_path / "mirror"), "--quiet"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/status/"
    try:
        wait_until_answering(url, server, 20)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_from_the_dashboard_to_a_deployment_page_and_back(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    failed: list[str] = []
    aborted = "ERR_ABORTED"  # a request cut short by the next navigation is no failure of the site
    page.on("requestfailed", lambda r: None if aborted in (r.failure or "") else failed.append(r.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)

    page.goto(site)
    assert page.locator("section.relation h2").all_inner_texts() == ["Graduated", "Incubating"]
    current = "getComputedStyle(document.querySelector('nav.stages a.current')).color"
    assert page.evaluate(current) == "rgb(255, 255, 255)"  # the stylesheet loaded under /status/
    assert page.locator("p.updated time").inner_text().endswith(("ago", "just now"))

    page.click('a.name:text("etcd")')
    page.wait_for_url(f"{site}projects/etcd/")
    assert page.locator("h1").inner_text() == "etcd"
    page.click('th a:text("Local")')
    page.wait_for_url(f"{site}projects/etcd/stable/local/")
    assert page.locator("h1").inner_text() == "etcd stable on Local"
    deploy = page.locator('section.stage[data-stage="deploy"] h2 span[data-status]')
    assert deploy.get_attribute("data-status") == "failed"

    page.go_back()
    page.wait_for_url(f"{site}projects/etcd/")
    page.go_back()
    page.wait_for_url(site)
    page.click('nav.selector a[data-kubernetes="head"]')
    page.wait_for_url(f"{site}views/deploy/head/any/")
    page.click('nav.stages a:text("Build")')
    page.wait_for_url(f"{site}views/build/head/any/")
    assert page.locator('th:text("Built")').count() >= 1
    page.click("a.brand")
    page.wait_for_url(site)
    assert errors == [] and failed == [], (errors, failed)
