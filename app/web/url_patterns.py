"""Links of one shape made by ``url_for`` once, not once per link: a dashboard view at 130 projects x 20
clouds has 5,200 deployment page links and ``/api/v1/cells`` 10,000 history links, and ``url_for`` costs
tens of microseconds each.

A ``UrlPattern`` asks ``url_for`` for the link with a marker in place of each path segment that varies, and
fills the markers with each link's values quoted as ``url_for`` quotes a path segment (werkzeug's default
converter), so a link is byte for byte the one ``url_for`` makes (``tests/app/web/test_url_patterns.py``).
When the endpoint would not give each marker back exactly once in the path (a value it takes as a query
argument, which is quoted another way), the pattern asks ``url_for`` for every link instead."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote

from flask import url_for

SEGMENT_SAFE: Final = "!$&'()*+,/:;=@"
"""What werkzeug's default converter leaves unquoted in a path segment (``BaseConverter.to_url``)."""


@functools.lru_cache(maxsize=4096)
def _segment(value: str) -> str:
    """``value`` quoted as a path segment (the same names recur in every row of a page)."""
    return quote(value, safe=SEGMENT_SAFE)


class UrlPattern:
    """``url_for(endpoint, **values, **segments)`` for ``segments`` that vary per call (see the module doc)."""

    def __init__(self, endpoint: str, varying: Sequence[str], **values: Any) -> None:
        self.endpoint = endpoint
        self.values = values
        self.varying = tuple(varying)
        markers = [f"URL-PATTERN-MARKER-{n}-" for n in range(len(self.varying))]
        marked: dict[str, Any] = dict(zip(self.varying, markers, strict=True))
        url = url_for(endpoint, **values, **marked)
        self._parts: list[str] | None = None
        path = url.split("?", 1)[0].split("#", 1)[0]
        if all(url.count(marker) == 1 and marker in path for marker in markers):
            parts = [url]
            order = sorted(range(len(markers)), key=lambda n: url.index(markers[n]))
            for n in order:  # split the tail at each marker, in the order they appear
                head, tail = parts[-1].split(markers[n], 1)
                parts[-1:] = [head, tail]
            self._parts = parts
            self._order = order

    def __call__(self, **segments: Any) -> str:
        if self._parts is None:
            return url_for(self.endpoint, **self.values, **segments)
        parts = self._parts
        out = [parts[0]]
        for position, n in enumerate(self._order, 1):
            out.append(_segment(str(segments[self.varying[n]])))
            out.append(parts[position])
        return "".join(out)
