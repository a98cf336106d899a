"""The December 2018 cncf.ci grid (7 projects, 8 clouds; ``tests/helpers/dashboard_scenario.py``: every status a
cell can show) served by ``crosscloud serve`` and looked at in Debian's headless Chromium (Playwright with
``executable_path``; never ``playwright install``), at 1280 and 390 px and with 20 clouds.

The project logos of the file are on raw.githubusercontent.com, which the test cannot reach: the browser's
requests for them are answered here (a boundary double): a small PNG for every logo but CoreDNS's, whose
request fails, as a logo that went away would. Screenshots are kept in the test's tmp dir
(``tests/helpers/dashboard_screenshots.py`` makes the README's)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers import dashboard_scenario
from tests.helpers.browser import chromium
from tests.helpers.paths import CNCF_2018
from tests.helpers.servers import Served

LOGO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkaPhfDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
BROKEN_LOGO = "core-dns-icon-color.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def serve_scenario(root: Path, config: Path, clouds: tuple[str, ...]) -> Served:
    repo = root / "status.git"
    init_status_repo(repo, config)
    dashboard_scenario.seed(StatusRepoWriter(Remote.parse(str(repo))), datetime.now(UTC), clouds)
    return Served(repo, root / "mirror")


@pytest.fixture(scope="module")
def december(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve_scenario(tmp_path_factory.mktemp("december"), CNCF_2018, dashboard_scenario.CLOUDS)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def twenty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("twenty")
    config = dashboard_scenario.twenty_clouds(CNCF_2018, root / "cross-cloud.yml")
    served = serve_scenario(root, config, dashboard_scenario.CLOUDS + dashboard_scenario.EXTRA_CLOUDS)
    yield served
    served.stop()


class Watched:
    """A page whose console errors are collected (the deliberately broken logo's failed load set aside)."""

    def __init__(self, browser: Any, width: int, height: int):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.route("https://raw.githubusercontent.com/**", self._logo)
        self.page.route("https://github.com/**", self._logo)

    def open(self, url: str) -> Any:
        """The page, at ``url`` once it has loaded."""
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        return self.page

    def _console(self, message: Any) -> None:
        if message.type == "error" and BROKEN_LOGO not in (message.location or {}).get("url", ""):
            self.errors.append(f"{message.text} at {message.location}")

    @staticmethod
    def _logo(route: Any) -> None:
        if route.request.url.endswith(BROKEN_LOGO):
            route.abort()
        else:
            route.fulfill(status=200, content_type="image/png", body=LOGO_PNG)

    def overflow(self, selector: str = "html") -> int:
        return int(self.page.locator(selector).first.evaluate("e => e.scrollWidth - e.clientWidth"))


def test_the_8_cloud_grid_fits_1280_and_every_cell_opens_its_deployment_page(
    browser: Any, december: Served, tmp_path: Path
) -> None:
    watched = Watched(browser, 1280, 900)
    page = watched.open(december.url)
    assert watched.overflow() <= 0 and watched.overflow(".scroll") <= 0, "no horizontal scroll at 1280 px"
    summary = page.locator("th.summary-head").bounding_box()
    assert summary is not None and summary["x"] + summary["width"] <= 1280  # the summary column is on screen
    headings = page.locator("th.cloud-head")
    assert headings.all_inner_texts() == [c.upper() for c in dashboard_scenario.CLOUDS]
    assert headings.nth(7).get_attribute("title") == "Oracle Cloud Infrastructure"  # the full name on hover
    page.screenshot(path=str(tmp_path / "dashboard-1280.png"), full_page=True)

    cells = page.locator("td[data-stage]")
    assert cells.count() == 14 * (1 + 8 + 1)
    for i in range(cells.count()):
        cell = cells.nth(i)
        project, release, stage, cloud = (
            cell.get_attribute(f"data-{n}") for n in ("project", "release", "stage", "cloud")
        )
        href = cell.locator("a.badge").get_attribute("href")
        expected = f"/projects/{project}/{release}/{cloud}" if cloud else f"/projects/{project}#release-{release}"
        assert href == expected, (project, release, stage, cloud)
        assert cell.locator("a.badge").get_attribute("title"), "every cell says why on hover"

    def cell(project: str, release: str, stage: str, cloud: str = "") -> Any:
        return page.locator(
            f'td[data-project="{project}"][data-release="{release}"][data-stage="{stage}"][data-cloud="{cloud}"]'
        )

    statuses = {
        ("prometheus", "stable", "deploy", "aws"): "success",
        ("fluentd", "stable", "deploy", "azure"): "failed",
        ("coredns", "stable", "deploy", "oci"): "timed_out",
        ("kubernetes", "stable", "provision", "packet"): "failed",
        ("linkerd", "stable", "deploy", "gce"): "cancelled",
        ("fluentd", "head", "deploy", "aws"): "running",
        ("prometheus", "head", "deploy", "aws"): "n/a",
        ("coredns", "stable", "deploy", "azure"): "n/a",
        ("linkerd", "head", "deploy", "aws"): "n/a",
        ("fluentd", "stable", "summary", ""): "failed",
        ("fluentd", "head", "summary", ""): "running",
        ("coredns", "stable", "summary", ""): "infra_failed",
    }
    for key, status in statuses.items():
        assert cell(*key).get_attribute("data-status") == status, key
    # stale: kept from before a newer build, or old; with how old on hover
    rebuilt = cell("coredns", "head", "deploy", "gce")
    assert rebuilt.get_attribute("data-status") == "success" and rebuilt.inner_text().split() == ["success", "stale"]
    assert re.search(
        r"not run since the newer build; this result is from 1 day ago \(\d{4}-",
        rebuilt.locator("a").get_attribute("title") or "",
    )
    old = cell("linkerd", "stable", "deploy", "aws").locator("a").get_attribute("title") or ""
    assert re.search(r"last result 3 days ago \(.* UTC\), older than 48 h", old)
    # why it is red: the reason, since when, the last green release; whose fault
    red = cell("fluentd", "stable", "deploy", "azure").locator("a").get_attribute("title") or ""
    assert red.startswith("failed; reason: pods not ready after 300 s: fluentd-0 CrashLoopBackOff; finished ")
    assert "failing since" in red and "(1 run, project)" in red and red.endswith("never green")
    assert cell("kubernetes", "stable", "provision", "packet").get_attribute("data-failure-kind") == "project"
    assert (
        cell("coredns", "stable", "deploy", "azure").locator("a").get_attribute("title")
        == "N/A; provision infra failed"
    )
    assert "timed_out" not in page.content().replace('data-status="timed_out"', "")  # words, never raw statuses

    # the logo that failed to load is hidden; the name stays readable
    coredns_logo = page.locator('tr[data-project="coredns"] img.logo')
    assert coredns_logo.evaluate("img => img.hidden") is True
    assert page.locator('tr[data-project="prometheus"] img.logo').evaluate("img => img.naturalWidth") == 1
    assert page.locator('tr[data-project="coredns"] th.project a.name').is_visible()

    cell("fluentd", "stable", "deploy", "azure").locator("a").click()
    page.wait_for_url("**/projects/fluentd/stable/azure")
    assert page.locator("h1").inner_text() == "Fluentd stable on Azure"
    assert (
        page.locator('section[data-stage="deploy"] a[href^="https://github.com/cncf/fluentd/actions/runs/"]').count()
        >= 1
    )
    page.goto(december.url + "?stage=build")
    assert page.locator("th.cloud-head").count() == 0 and page.locator("td.built time").count() >= 10
    assert watched.errors == []


def test_at_390_px_one_card_per_project_and_release(browser: Any, december: Served, tmp_path: Path) -> None:
    watched = Watched(browser, 390, 844)
    page = watched.open(december.url)
    assert watched.overflow() <= 0, "the page body never scrolls sideways"
    cards = page.locator("table.grid tbody tr")
    assert cards.count() == 14
    first = cards.first
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert first.locator("td.release").inner_text().split()[:2] == ["Kubernetes", "stable"]
    labels = [
        td.evaluate("e => getComputedStyle(e, '::before').content") for td in first.locator("td[data-label]").all()
    ]
    assert labels == ['"Build"', '"AWS"', '"Azure"', '"GCE"', '"IBM Cloud"', '"Bare Metal (Packet)"', '"OpenStack"',
                      '"VMware vSphere"', '"Oracle Cloud Infrastructure"', '"Summary"']  # fmt: skip
    summary = first.locator('td[data-stage="summary"]').bounding_box()
    build = first.locator('td[data-stage="build"]').bounding_box()
    assert summary is not None and build is not None and summary["y"] < build["y"]  # the summary heads the card
    for badge in first.locator("a.badge").all():
        right = badge.bounding_box()
        assert right is not None and right["x"] + right["width"] <= 390
    page.screenshot(path=str(tmp_path / "dashboard-390.png"), full_page=True)
    assert watched.errors == []


def test_at_20_clouds_the_header_and_the_project_columns_stay_in_place(
    browser: Any, twenty: Served, tmp_path: Path
) -> None:
    watched = Watched(browser, 1280, 600)
    page = watched.open(twenty.url)
    assert watched.overflow() <= 0, "the page body never scrolls sideways"
    scroller = page.locator(".scroll").first
    assert watched.overflow(".scroll") > 0, "20 clouds scroll inside the grid's own box"
    assert page.locator("th.cloud-head").count() == 20

    def boxes() -> dict[str, Any]:
        return {
            "project": page.locator("th.project").first.bounding_box(),
            "release": page.locator("td.release").first.bounding_box(),
            "header": page.locator("th.cloud-head").first.bounding_box(),
            "last cloud": page.locator("th.cloud-head").last.bounding_box(),
            "first row": page.locator("table.grid tbody tr").first.bounding_box(),
        }

    before = boxes()
    scroller.evaluate("e => { e.scrollLeft = 800; }")
    after = boxes()
    assert after["project"]["x"] == before["project"]["x"] and after["release"]["x"] == before["release"]["x"]
    assert after["last cloud"]["x"] < before["last cloud"]["x"]  # the clouds moved under them
    scroller.evaluate("e => { e.scrollTop = 250; }")
    down = boxes()
    assert down["header"]["y"] == before["header"]["y"]  # the header row stays in place
    assert down["first row"]["y"] < before["first row"]["y"]
    page.screenshot(path=str(tmp_path / "dashboard-20-clouds.png"))
    assert watched.errors == []
