"""Where the app's absolute links point (the Atom feed's), never taken from a request's ``Host`` alone.

A ``Host`` header is whatever the client sends: links built from it point wherever an attacker likes (a
cached feed, a reader that follows it), and a cache keyed by it grows with every name. So the base of an
absolute link is ``PUBLIC_URL`` (the dashboard's public address) when it is set; otherwise the request's
own address, but only when its host is on the allow-list ``ALLOWED_HOSTS`` or, outside production, a
loopback name. Any other ``Host`` is a 400.

Production is any app that is neither ``TESTING`` nor ``crosscloud serve`` listening on a loopback address
(which sets ``LOCAL``): there ``create_app`` refuses to start without ``PUBLIC_URL`` or ``ALLOWED_HOSTS``
(``check``), so a misconfiguration shows at start-up, not in a feed. Alert issues and check runs link the
dashboard through ``PUBLIC_URL`` alone."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from flask import Flask, current_app, request

from crosscloud.errors import BadInputError
from crosscloud_app.web.http_errors import HttpError
from crosscloud_app.web.settings import ENV_PREFIX

LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def is_production(app: Flask) -> bool:
    return not app.testing and not app.config.get("LOCAL")


def allowed_hosts(app: Flask) -> frozenset[str]:
    """``ALLOWED_HOSTS``: a list of host names, or one string of them separated by commas."""
    value = app.config.get("ALLOWED_HOSTS") or ()
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise BadInputError(f"{ENV_PREFIX}_ALLOWED_HOSTS must be a list of host names, not {value!r}")
    return frozenset(n.strip().lower() for n in names if n.strip())


def check(app: Flask) -> None:
    """At start-up: ``PUBLIC_URL`` is an http(s) address, and production has it or ``ALLOWED_HOSTS``."""
    public = app.config.get("PUBLIC_URL")
    if public:
        parts = urlsplit(str(public))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise BadInputError(
                f"{ENV_PREFIX}_PUBLIC_URL must be the dashboard's http(s) address (https://ci.example.org), "
                f"not {public!r}"
            )
    elif is_production(app) and not allowed_hosts(app):
        raise BadInputError(
            f"set {ENV_PREFIX}_PUBLIC_URL to the dashboard's public address (https://...) or "
            f"{ENV_PREFIX}_ALLOWED_HOSTS to the host names it answers to: the app serves absolute links "
            "and does not take them from a request's Host header"
        )
    allowed_hosts(app)


def base_url() -> str:
    """The base of this request's absolute links, without a trailing slash (see the module doc)."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return str(public).rstrip("/")
    host = (urlsplit(request.host_url).hostname or "").lower()
    if host in allowed_hosts(current_app) or (host in LOOPBACK and not is_production(current_app)):
        return request.url_root.rstrip("/")
    raise HttpError(400, f"Host {request.host[:100]!r} is not a name this app serves (see {ENV_PREFIX}_PUBLIC_URL)")
