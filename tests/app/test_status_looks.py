"""What a status looks like is ``crosscloud.presentation``'s, on every face of the app: the dashboard and the
project pages (words and CSS classes, and the stylesheet behind them), badges, the API and the feed.
``cancelled`` is the case that used to disagree (red on the dashboard, light grey on badges)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from crosscloud import presentation
from crosscloud_app.badges.shields import NAMED_COLOURS, render_svg
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import Writer, result
from tests.helpers.html_cells import Cells

STYLESHEET = Path(__file__).resolve().parents[2] / "app" / "static" / "style.css"
ATOM = "{http://www.w3.org/2005/Atom}"


def _rules(css: str) -> dict[str, str]:
    """Each selector of the stylesheet with the declarations of its rule (comments removed)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for selector in selectors.split(","):
            rules[" ".join(selector.split())] = rules.get(" ".join(selector.split()), "") + body
    return rules


def test_the_stylesheet_paints_every_status_as_the_table_says() -> None:
    css = STYLESHEET.read_text()
    rules = _rules(css)
    variables = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]+)", css))
    assert variables["lightgrey"] == NAMED_COLOURS["lightgrey"]  # the badges' light grey
    for status, look in presentation.LOOKS.items():
        if status in (presentation.UNKNOWN, "n/a"):
            continue  # unknown is a badge only; N/A is the badge's default look
        badge = rules.get(f".{look.css} .badge", "")
        square = rules.get(f".strip .{look.css}", "")
        assert badge and square, f"no rule for .{look.css} ({status})"
        painted_red = "var(--failed)" in badge or "var(--infra)" in badge
        assert painted_red == look.failure, f"{status}: failure={look.failure} but its badge is {badge.strip()}"
    assert (
        "var(--lightgrey)" in rules[".status-cancelled .badge"]
        and "var(--lightgrey)" in rules[".strip .status-cancelled"]
    )


def test_cancelled_looks_the_same_on_every_face(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    """etcd's stable deploy failed in the seed; a later run is cancelled."""
    writer_for(seeded_repo).write(
        [result("etcd", "stable", "deploy", "cancelled", at=0.5, run=300, reason="cancelled by a maintainer")]
    )
    state: StatusState = app.extensions[EXTENSION]
    state.refresh_now()
    look = presentation.look("cancelled")
    assert (look.word, look.colour, look.failure) == ("cancelled", "lightgrey", False)

    cell = Cells(client.get("/").get_data(as_text=True))[("etcd", "stable", "deploy", "local")]
    assert cell["data-status"] == "cancelled" and cell["text"] == "cancelled"
    assert look.css in cell["class"].split() and "data-failure-kind" not in cell  # not a failure
    project = client.get("/projects/etcd").get_data(as_text=True)
    assert f"square {look.css}" in project and "status-failed" in project  # the older failure keeps its red

    badge = client.get("/badge/etcd/stable/local.svg?stage=deploy")
    assert badge.get_data(as_text=True) == render_svg("local stable deploy", "cancelled", "lightgrey")
    assert client.get("/badge/etcd/stable/local.json?stage=deploy").get_json()["color"] == "lightgrey"

    cells = client.get("/api/v1/cells?project=etcd&stage=deploy").get_json()["cells"]
    assert [c["status"] for c in cells] == ["cancelled"]

    feed = ET.fromstring(client.get("/feed.xml?project=etcd").data)  # noqa: S314 - our own answer
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
    assert titles[0] == "etcd stable deploy on Local: cancelled (was failed)"


def test_the_feed_uses_the_words_of_the_table(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    writer_for(seeded_repo).write([result("etcd", "stable", "deploy", "timed_out", at=0.5, run=301)])
    app.extensions[EXTENSION].refresh_now()
    feed = ET.fromstring(client.get("/feed.xml?project=etcd").data)  # noqa: S314 - our own answer
    assert next(feed.iter(f"{ATOM}entry")).findtext(f"{ATOM}title") == (
        "etcd stable deploy on Local: timed out (was failed)"
    )
