"""The dashboard's grid as a test reads it: cells by (project, release, cloud, stage)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class Cells(HTMLParser):
    """The status cells of a page (``td`` with ``data-stage``), each with its attributes, its text and
    the link inside it, keyed by (project, release, stage, cloud)."""

    def __init__(self, html: str):
        super().__init__()
        self.cells: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._open: dict[str, Any] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-stage" in values:
            self._open = {**values, "text": "", "href": None, "aria-label": None}
            key = (values["data-project"], values["data-release"], values["data-stage"], values["data-cloud"])
            self.cells[key] = self._open
        elif self._open is not None and tag in ("a", "span") and "badge" in values.get("class", ""):
            self._open["href"] = values.get("href")
            self._open["aria-label"] = values.get("aria-label")
            self._open["title"] = values.get("title")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def __getitem__(self, key: tuple[str, str, str, str]) -> dict[str, Any]:
        return self.cells[key]
