"""README badges: ``/badge/...`` as shields.io-style SVG and shields endpoint JSON (``routes``), what a badge
says for a status or an error (``badge_text``, from ``crosscloud.presentation``) and the renderer that draws
them byte for byte like shields.io's (``shields``, with the Verdana width table in ``data/``). It builds on
``crosscloud_app.web``."""

from __future__ import annotations

from flask import Flask

from crosscloud_app.badges import routes


def register(app: Flask) -> None:
    routes.register(app)
