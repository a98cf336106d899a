"""Make the README's screenshots of the dashboard: ``docs/dashboard-1280.png`` and ``docs/dashboard-390.png``.

The December 2018 cncf.ci configuration (7 projects, 8 clouds) with the results of
``tests/helpers/dashboard_scenario.py`` (every status a cell can show), written into a status repository in a
temporary directory, served by ``crosscloud serve`` on a free 127.0.0.1 port and photographed by Debian's
headless Chromium (Playwright with ``executable_path``), as the browser tests do. The project logos are on
GitHub, which a build machine may not reach: their requests are refused, so the pictures show what a reader
sees when a logo does not load (the name alone). Run from the repository root:

    .venv/bin/python -m tests.helpers.dashboard_screenshots [--out docs]"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers import dashboard_scenario
from tests.helpers.browser import chromium
from tests.helpers.paths import CNCF_2018, ROOT
from tests.helpers.servers import Served

SHOTS = {"dashboard-1280.png": (1280, 900, True), "dashboard-390.png": (390, 1500, False)}
"""File name: (width, height, whole page)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNG files go (default docs/)")
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        print("dashboard_screenshots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crosscloud-screenshots-") as scratch:
        repo = Path(scratch) / "status.git"
        init_status_repo(repo, CNCF_2018)
        dashboard_scenario.seed(StatusRepoWriter(Remote.parse(str(repo))))
        served = Served(repo, Path(scratch) / "mirror")
        try:
            with chromium() as browser:
                for name, (width, height, whole) in SHOTS.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.route("https://**", lambda route: route.abort())
                    page.goto(served.url)
                    page.wait_for_load_state("load")
                    page.screenshot(path=str(args.out / name), full_page=whole)
                    print(f"wrote {args.out / name}")
        finally:
            served.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
