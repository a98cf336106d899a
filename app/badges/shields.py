"""Badges that look exactly like shields.io's: the flat style of ``badge-maker`` 5, byte for byte.

README badges sit next to shields.io badges, so ours must not look like an imitation: same geometry,
same named colours, same text widths. Widths come from the 11px Verdana advance-width table that
badge-maker measures with (``data/verdana-11px-normal.json``, see ``data/NOTICE``): a text's width is the
sum of its characters' advances, truncated to an integer and rounded up to the next odd number (odd
widths centre text on the pixel grid). A character missing from the table counts as wide as ``m``;
control characters count nothing.

``render_svg`` is cached by (label, message, colour): a status badge is one of a few dozen strings.
``endpoint_json`` is shields' endpoint format, so ``img.shields.io/endpoint?url=...`` can restyle ours."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final

NAMED_COLOURS: Final[dict[str, str]] = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellowgreen": "#a4a61d",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "blue": "#007ec6",
    "grey": "#555",
    "lightgrey": "#9f9f9f",
}
"""shields' named colours (``badge-maker`` ≤ 5, what REFERENCE-era shields.io draws)."""

LABEL_COLOUR: Final = "#555"
HEIGHT: Final = 20
PADDING: Final = 5
"""Horizontal padding on each side of a text."""
FONT_FAMILY: Final = "Verdana,Geneva,DejaVu Sans,sans-serif"
BRIGHTNESS_THRESHOLD: Final = Decimal("0.69")
"""Above it a background counts as light and gets dark text."""
WIDTHS_FILE: Final = "verdana-11px-normal.json"

_HEX_RE: Final = re.compile(r"(?:[0-9a-fA-F]{3}){1,2}")
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What JavaScript's ``String.prototype.trim`` removes: badge-maker trims label and message with it."""
_XML_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})


@dataclass(frozen=True)
class WidthTable:
    """Advance widths by code point range: ``starts[i]..ends[i]`` are ``widths[i]`` pixels wide."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    widths: tuple[float, ...]

    @classmethod
    def from_json(cls, text: str, source: str = WIDTHS_FILE) -> WidthTable:
        rows = json.loads(text)
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{source}: expected a non-empty list of [first, last, width] triples")
        starts: list[int] = []
        ends: list[int] = []
        widths: list[float] = []
        for index, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 3 and all(isinstance(v, int | float) for v in row)):
                raise ValueError(f"{source}: entry {index} is not a [first, last, width] triple: {row!r}")
            if starts and row[0] <= ends[-1]:
                raise ValueError(f"{source}: entry {index} starts at {row[0]}, inside or before the previous range")
            starts.append(int(row[0]))
            ends.append(int(row[1]))
            widths.append(float(row[2]))
        return cls(tuple(starts), tuple(ends), tuple(widths))

    def char_width(self, code_point: int) -> float | None:
        """The advance of one character, 0 for a control character, None when the table lacks it."""
        if code_point <= 31 or code_point == 127:
            return 0.0
        index = bisect.bisect_right(self.starts, code_point) - 1
        if index >= 0 and code_point <= self.ends[index]:
            return self.widths[index]
        return None

    def text_width(self, text: str) -> float:
        """The advance of ``text`` in pixels (unknown characters as wide as ``m``), summed in order as
        badge-maker does, so that the floating-point result is the same."""
        em = self.char_width(ord("m")) or 0.0
        total = 0.0
        for char in text:
            width = self.char_width(ord(char))
            total += em if width is None else width
        return total

    def preferred_width(self, text: str) -> int:
        """The width a badge gives ``text``: truncated to whole pixels, then rounded up to an odd number."""
        width = int(self.text_width(text))
        return width + 1 if width % 2 == 0 else width


@cache
def widths() -> WidthTable:
    source = resources.files("crosscloud_app.badges").joinpath("data", WIDTHS_FILE)
    return WidthTable.from_json(source.read_text(encoding="utf-8"), source=f"crosscloud_app/badges/data/{WIDTHS_FILE}")


def svg_colour(colour: str) -> str:
    """A shields colour name or a hex colour (``4c1``, ``#e05d44``) as the SVG fill, or ValueError."""
    if colour in NAMED_COLOURS:
        return NAMED_COLOURS[colour]
    bare = colour.removeprefix("#")
    if _HEX_RE.fullmatch(bare):
        return "#" + bare.lower()
    raise ValueError(f"badge colour {colour!r}: use one of {', '.join(NAMED_COLOURS)} or a hex colour")


def _is_light(fill: str) -> bool:
    """Whether ``fill`` (``#rgb`` or ``#rrggbb``) needs dark text: YIQ brightness rounded to two decimals,
    halves up, as badge-maker computes it."""
    digits = fill[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    brightness = (Decimal(r * 299 + g * 587 + b * 114) / 255000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return brightness > BRIGHTNESS_THRESHOLD


def escape(text: str) -> str:
    """Text or attribute value safe inside the SVG (``&<>"'``)."""
    return text.translate(_XML_ESCAPES)


def clean_text(text: str) -> str:
    return text.strip(_JS_WHITESPACE)


def _text(x: int, width: int, content: str, fill: str) -> str:
    """One text drawn at ten times the size and scaled down (sharper in browsers), with its shadow."""
    dark = _is_light(fill)
    colour, shadow = ("#333", "#ccc") if dark else ("#fff", "#010101")
    length = width * 10
    return (
        f'<text aria-hidden="true" x="{x}" y="150" fill="{shadow}" fill-opacity=".3" transform="scale(.1)" '
        f'textLength="{length}">{content}</text>'
        f'<text x="{x}" y="140" transform="scale(.1)" fill="{colour}" textLength="{length}">{content}</text>'
    )


@lru_cache(maxsize=4096)
def render_svg(label: str, message: str, colour: str) -> str:
    """The flat badge ``label | message`` with the message on ``colour`` (a name or hex colour).

    An empty label draws the message alone; label and message are trimmed as shields trims them."""
    label, message = clean_text(label), clean_text(message)
    fill = svg_colour(colour)
    table = widths()
    label_fill = LABEL_COLOUR if label else fill
    label_width = table.preferred_width(label) if label else 0
    left = label_width + 2 * PADDING if label else 0
    message_width = table.preferred_width(message)
    right = message_width + 2 * PADDING
    total = left + right
    message_margin = left - 1 if message else left
    if not label:
        message_margin += 1
    accessible = escape(f"{label}: {message}" if label else message)
    texts = ""
    if label:
        texts += _text(10 * (1 + PADDING) + 5 * label_width, label_width, escape(label), label_fill)
    if message:
        texts += _text(10 * (message_margin + PADDING) + 5 * message_width, message_width, escape(message), fill)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{HEIGHT}" role="img" '
        f'aria-label="{accessible}"><title>{accessible}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{label_fill}"/>'
        f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{fill}"/>'
        f'<rect width="{total}" height="{HEIGHT}" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}" text-rendering="geometricPrecision" '
        f'font-size="110">{texts}</g></svg>'
    )


def endpoint_json(
    label: str, message: str, colour: str, *, is_error: bool = False, cache_seconds: int | None = None
) -> dict[str, Any]:
    """shields' endpoint badge (schema version 1): exactly the keys shields accepts."""
    svg_colour(colour)  # refuse what shields could not draw either
    data: dict[str, Any] = {"schemaVersion": 1, "label": label, "message": message, "color": colour}
    if is_error:
        data["isError"] = True
    if cache_seconds is not None:
        data["cacheSeconds"] = cache_seconds
    return data
