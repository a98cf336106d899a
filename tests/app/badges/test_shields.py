"""The badge renderer against shields.io's own output (golden files made by badge-maker, see
tests/app/golden/README.md), and the properties that make a badge readable and safe."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from crosscloud.vocabulary import STATUSES
from crosscloud_app.badges import shields as badge_svg
from crosscloud_app.badges.badge_text import BADGE_STATUSES, badge_text
from crosscloud_app.badges.shields import WidthTable, endpoint_json, render_svg, svg_colour, widths

GOLDEN = Path(__file__).parent / "golden"
CASES: list[dict[str, str]] = json.loads((GOLDEN / "cases.json").read_text(encoding="utf-8"))
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_identical_to_badge_maker(case: dict[str, str]) -> None:
    want = (GOLDEN / f"{case['name']}.svg").read_text(encoding="utf-8")
    assert render_svg(case["label"], case["message"], case["color"]) == want


def test_goldens_cover_every_status_badge() -> None:
    drawn = {(c["message"], c["color"]) for c in CASES}
    for status in BADGE_STATUSES:
        for stale in (False, True):
            text = badge_text(status, stale=stale)
            assert (text.message, text.colour) in drawn, f"no golden for {status} (stale={stale})"


def test_every_record_status_has_a_badge() -> None:
    assert set(STATUSES) <= set(BADGE_STATUSES)
    with pytest.raises(ValueError, match="no badge for status 'green'"):
        badge_text("green")


def test_stale_keeps_the_word_and_loses_the_colour() -> None:
    assert badge_text("failed", stale=True).message == "failed (stale)"
    assert badge_text("failed", stale=True).colour == "lightgrey"
    assert badge_text("unknown", stale=True) == badge_text("unknown")


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 1),  # nothing: 0, rounded up to odd
        ("etcd", 23),  # e 6.55 + t 4.33 + c 5.73 + d 6.85 = 23.46 -> 23 (odd already)
        ("success", 43),  # 42.16 -> 42 -> 43
        ("\t\x7f", 1),  # control characters take no room
    ],
)
def test_preferred_width(text: str, width: int) -> None:
    assert widths().preferred_width(text) == width


def test_unknown_character_counts_as_m() -> None:
    table = widths()
    assert table.char_width(0x10FFFF) is None
    assert table.text_width("\U0010ffff") == table.text_width("m")


def test_width_table_errors_name_the_file_and_entry() -> None:
    with pytest.raises(ValueError, match=r"w\.json: entry 1 is not a \[first, last, width\] triple"):
        WidthTable.from_json("[[32, 32, 3.8], [33, 33]]", source="w.json")
    with pytest.raises(ValueError, match=r"w\.json: entry 1 starts at 32, inside or before"):
        WidthTable.from_json("[[32, 40, 3.8], [32, 33, 1]]", source="w.json")


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


@pytest.mark.parametrize(
    ("label", "message"),
    [("<script>alert(1)</script>", "a&b"), ('" onload="x', "'><svg/onload=alert(1)>"), ("&amp;", "&#x41;")],
)
def test_markup_is_escaped(label: str, message: str) -> None:
    root = _parse(render_svg(label, message, "red"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [label, label, message, message]
    assert root.get("aria-label") == f"{label}: {message}"
    assert [e.tag for e in root.iter()].count(f"{SVG}script") == 0
    assert {e.tag for e in root.iter()} <= {f"{SVG}{n}" for n in ("svg", "title", "linearGradient", "stop",
                                                              "clipPath", "rect", "g", "text")}  # fmt: skip


def test_accessibility() -> None:
    root = _parse(render_svg("etcd", "success", "brightgreen"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "etcd: success"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "etcd: success"
    shadows = [t for t in root.iter(f"{SVG}text") if t.get("aria-hidden") == "true"]
    assert len(shadows) == 2, "screen readers must read each text once"
    no_label = _parse(render_svg("", "N/A", "lightgrey"))
    assert no_label.get("aria-label") == "N/A"


def test_geometry_adds_up() -> None:
    root = _parse(render_svg("prometheus", "infra failed", "orange"))
    left, right, _ = root.find(f"{SVG}g").findall(f"{SVG}rect")  # type: ignore[union-attr]
    assert int(left.get("width", "")) + int(right.get("width", "")) == int(root.get("width", ""))
    assert right.get("x") == left.get("width")
    assert right.get("fill") == "#fe7d37"


def test_light_background_gets_dark_text() -> None:
    root = _parse(render_svg("x", "y", "fff"))
    fills = [t.get("fill") for t in root.iter(f"{SVG}text")]
    assert fills == ["#010101", "#fff", "#ccc", "#333"]


def test_colours() -> None:
    assert svg_colour("brightgreen") == "#4c1"
    assert svg_colour("#ABC") == "#abc"
    with pytest.raises(ValueError, match="badge colour 'pink'"):
        svg_colour("pink")


def test_rendering_is_cached() -> None:
    assert render_svg("cache", "me", "blue") is render_svg("cache", "me", "blue")


def test_endpoint_json_has_only_shields_keys() -> None:
    plain: dict[str, Any] = endpoint_json("etcd", "success", "brightgreen")
    assert plain == {"schemaVersion": 1, "label": "etcd", "message": "success", "color": "brightgreen"}
    error = endpoint_json("badge", "unknown", "grey", is_error=True, cache_seconds=300)
    assert set(error) == {"schemaVersion", "label", "message", "color", "isError", "cacheSeconds"}
    with pytest.raises(ValueError):
        endpoint_json("a", "b", "not-a-colour")


def test_widths_file_has_its_notice() -> None:
    notice = (Path(badge_svg.__file__).parent / "data" / "NOTICE").read_text(encoding="utf-8")
    assert badge_svg.WIDTHS_FILE in notice and "MIT License" in notice
