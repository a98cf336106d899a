"""What a request brings, read in one place each: its body, never more than a route's limit, and its bearer
token, compared in constant time.

- ``read_body`` refuses a body larger than the limit from ``Content-Length`` before reading, and reads at most
  one byte more than the limit otherwise (a chunked body has no length): 413 naming the limit.
  ``spool_body`` does the same for a body not yet trusted, keeping little of it in memory.
- ``bearer_token`` is the token of ``Authorization: Bearer <token>`` (401 when there is none);
  ``check_bearer`` also compares it with the configured secret; ``unauthorised`` is their 401, with the
  ``WWW-Authenticate`` challenge (RFC 6750)."""

from __future__ import annotations

import hmac
import tempfile
from collections.abc import Callable
from typing import IO, Any, Final

from flask import request

from crosscloud_app.web.http_errors import HttpError

READ_CHUNK: Final = 64 * 1024
SPOOL_IN_MEMORY: Final = 256 * 1024
"""Bytes of a spooled body kept in memory (``spool_body``); the rest waits in a temporary file."""
REALM: Final = 'Bearer realm="crosscloud"'


def read_body(limit: int, *, what: str = "the body", **fields: Any) -> bytes:
    """The raw body, at most ``limit`` bytes; 413 (``what`` is larger than ``limit`` bytes) above it."""
    too_large = HttpError(413, f"{what} is larger than {limit} bytes", **fields)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = request.stream.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large


def spool_body(limit: int, *, what: str, on_chunk: Callable[[bytes], object]) -> IO[bytes]:
    """The raw body (at most ``limit`` bytes, as ``read_body``), spooled: in memory up to
    ``SPOOL_IN_MEMORY`` bytes, in a temporary file beyond, each chunk handed to ``on_chunk`` as it is read
    (an HMAC, say). For bodies that are not trusted until they are checked: however many arrive at once,
    each costs at most ``SPOOL_IN_MEMORY`` of memory until it is. The caller closes it (``with``)."""
    too_large = HttpError(413, f"{what} is larger than {limit} bytes")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    size = 0
    try:
        while True:
            chunk = request.stream.read(min(READ_CHUNK, limit + 1 - size))
            if not chunk:
                spooled.seek(0)
                return spooled
            size += len(chunk)
            if size > limit:
                raise too_large
            on_chunk(chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise


def unauthorised(message: str, *, claim: str | None = None) -> HttpError:
    """401 with the bearer challenge; ``claim`` names the part of a token at fault (``invalid_token``)."""
    if claim is None:
        return HttpError(401, message, headers={"WWW-Authenticate": REALM})
    challenge = f'{REALM}, error="invalid_token", error_description="{claim}"'
    return HttpError(401, message, headers={"WWW-Authenticate": challenge}, claim=claim)


def _needs(token: str) -> str:
    return f"this route needs 'Authorization: Bearer <{token}>'"


def bearer_token(token: str, *, claim: str | None = None) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 saying the route needs ``token`` when there is none."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise unauthorised(_needs(token), claim=claim)
    return given


def check_bearer(expected: str, token: str) -> None:
    """401 unless the request's bearer token is ``expected`` (compared in constant time); ``token`` names it
    in the answer (``the submit token``)."""
    given = bearer_token(token)
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise unauthorised(_needs(token))
