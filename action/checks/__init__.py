"""Built-in end-to-end checks, run as ``python -m crosscloud_action.checks.<module>``.

A check is a separate process rather than a function call so that the host runtime treats a built-in
check exactly like a project's own ``e2e.command``: exit 0 is a pass, and on failure the one line on
stderr becomes the record's reason. ``CHECKS`` is the single map from the names a configuration uses
(``e2e.check``) to modules; the helpers below keep every check's failure to one clear line and every
wait bounded by ``--timeout``."""

from __future__ import annotations

import argparse
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import NoReturn, TypeVar

T = TypeVar("T")

CHECKS: Mapping[str, str] = MappingProxyType(
    {
        "prometheus-query": "prometheus_query",
        "etcd-roundtrip": "etcd_roundtrip",
        "nats-pubsub": "nats_pubsub",
    }
)
"""Check name (``e2e.check``) -> module under ``crosscloud_action.checks``."""

RETRY_INTERVAL = 0.25

# Checks talk to 127.0.0.1: a proxy from the environment (http_proxy without a no_proxy for localhost,
# common on CI runners) must never sit in between.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def module_of(check: str) -> str:
    """The importable module of the built-in check named ``check``; ``KeyError`` if there is none."""
    return f"{__name__}.{CHECKS[check]}"


class CheckFailed(Exception):
    """The check did not pass; the message is the one line a person reads."""


class NotYet(Exception):
    """The awaited condition does not hold yet; the message says what was seen instead."""


class CheckParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too (the runtime reports the last stderr line)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: bad arguments: {message}\n")


def describe(exc: BaseException) -> str:
    """A network error as a few words ("connection refused", "timed out"), not a repr."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return describe(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def http_request(url: str, *, body: bytes | None = None, timeout: float) -> tuple[int, bytes]:
    """GET ``url`` (POST ``body`` as JSON when given) without any proxy; returns the status and body,
    also for 4xx/5xx answers. Raises ``OSError`` when nothing answered."""
    request = urllib.request.Request(  # noqa: S310 - URLs come from the project's own configuration
        url,
        data=body,
        method="GET" if body is None else "POST",
        headers={} if body is None else {"Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=max(timeout, 0.05)) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def until(deadline: float, what: str, attempt: Callable[[], T], interval: float = RETRY_INTERVAL) -> T:
    """Call ``attempt`` until it returns, retrying on ``NotYet`` and ``OSError`` until ``deadline`` (a
    ``time.monotonic()`` value); then fail with ``what`` and the last thing seen."""
    started = time.monotonic()
    while True:
        try:
            return attempt()
        except NotYet as exc:
            last = str(exc)
        except OSError as exc:
            last = describe(exc)
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"{what} within {time.monotonic() - started:.0f} s (last: {last})")
        time.sleep(min(interval, left))


def run_check(
    name: str,
    parser: argparse.ArgumentParser,
    check: Callable[[argparse.Namespace], str],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the arguments, run ``check`` and turn its outcome into an exit status: 0 and one line on
    stdout on a pass, 1 and one line on stderr on a failure."""
    args = parser.parse_args(argv)
    try:
        message = check(args)
    except CheckFailed as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{name}: FAILED: {describe(exc)}", file=sys.stderr)
        return 1
    print(f"{name}: passed: {message}")
    return 0
