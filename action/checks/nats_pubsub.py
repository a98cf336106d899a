"""``nats-pubsub``: a message published on NATS reaches a subscriber on another connection.

It speaks the NATS client protocol itself (a text protocol: ``INFO``, ``CONNECT``, ``SUB``, ``PUB``,
``PING``/``PONG``, ``MSG``) over two plain sockets, so the check needs no client library and sees exactly
what the server sends. The subscriber's ``PING``/``PONG`` round trip guarantees the server registered
the subscription before anything is published; the subject and payload are unique per run, so only this
run's message can satisfy it.

    python -m crosscloud_action.checks.nats_pubsub --server 127.0.0.1:4222
"""

from __future__ import annotations

import argparse
import json
import socket
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

from crosscloud_action.checks import CheckFailed, CheckParser, run_check, until

NAME = "nats-pubsub"
CRLF = b"\r\n"
MAX_LINE = 64 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = CheckParser(prog=NAME, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="HOST:PORT (or nats://HOST:PORT) of the client port")
    parser.add_argument("--subject-prefix", default="crosscloud.e2e.", help="prefix of the unique subject")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds the whole check may take")
    return parser


def _address(server: str) -> tuple[str, int]:
    host, _, port = server.removeprefix("nats://").rpartition(":")
    if not host or not port.isdigit():
        raise CheckFailed(f"--server {server!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class _Connection:
    """One client connection: a socket, a read buffer, the stage deadline on every read."""

    def __init__(self, address: tuple[str, int], deadline: float, role: str):
        self.role = role
        self.deadline = deadline
        self.buffer = bytearray()
        self.sock = socket.create_connection(address, timeout=max(deadline - time.monotonic(), 0.05))

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, waiting_for: str) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"{self.role}: no {waiting_for} before the timeout")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise CheckFailed(f"{self.role}: no {waiting_for} before the timeout") from None
        if not chunk:
            raise CheckFailed(f"{self.role}: the server closed the connection while waiting for {waiting_for}")
        self.buffer += chunk

    def line(self, waiting_for: str) -> str:
        while (end := self.buffer.find(CRLF)) < 0:
            if len(self.buffer) > MAX_LINE:
                raise CheckFailed(f"{self.role}: a protocol line longer than {MAX_LINE} bytes")
            self._fill(waiting_for)
        text = self.buffer[:end].decode(errors="replace")
        del self.buffer[: end + 2]
        return text

    def exact(self, size: int, waiting_for: str) -> bytes:
        while len(self.buffer) < size:
            self._fill(waiting_for)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def control(self, waiting_for: str) -> str:
        """The next line that is not housekeeping: server PINGs are answered, ``+OK`` and later ``INFO``
        updates (servers send one after ``CONNECT`` and on cluster changes) skipped, ``-ERR`` fails the
        check with the server's own words."""
        while True:
            text = self.line(waiting_for)
            verb = text.split(" ", 1)[0].upper()
            if verb == "PING":
                self.send(b"PONG" + CRLF)
            elif verb == "-ERR":
                raise CheckFailed(f"{self.role}: server error {text[4:].strip()}")
            elif (verb == "INFO" and waiting_for != "INFO") or verb == "+OK":
                continue
            else:
                return text

    def handshake(self) -> str:
        """Read ``INFO``, send ``CONNECT``; returns the server's version."""
        info = self.control("INFO")
        if not info.startswith("INFO "):
            raise CheckFailed(f"{self.role}: expected INFO from the server, got {info[:60]!r}")
        try:
            details = json.loads(info[5:])
        except ValueError:
            raise CheckFailed(f"{self.role}: INFO is not JSON: {info[5:65]!r}") from None
        if details.get("auth_required") or details.get("tls_required"):
            raise CheckFailed(f"{self.role}: the server requires authentication or TLS; the check uses neither")
        connect = {"verbose": False, "pedantic": True, "name": f"crosscloud-e2e-{self.role}", "lang": "python"}
        self.send(b"CONNECT " + json.dumps({**connect, "version": "1", "protocol": 1}).encode() + CRLF)
        return str(details.get("version", "?"))

    def flush(self) -> None:
        """PING and wait for its PONG: everything sent before is processed by the server."""
        self.send(b"PING" + CRLF)
        reply = self.control("PONG")
        if reply != "PONG":
            raise CheckFailed(f"{self.role}: expected PONG, got {reply[:60]!r}")


def _receive(sub: _Connection, subject: str, sid: str) -> bytes:
    line = sub.control(f"MSG on {subject}")
    parts = line.split()
    if len(parts) not in (4, 5) or parts[0] != "MSG" or not parts[-1].isdigit():
        raise CheckFailed(f"subscriber: expected MSG, got {line[:80]!r}")
    if parts[1] != subject or parts[2] != sid:
        raise CheckFailed(f"subscriber: MSG for {parts[1]} (sid {parts[2]}), expected {subject} (sid {sid})")
    data = sub.exact(int(parts[-1]) + 2, "the message payload")
    if not data.endswith(CRLF):
        raise CheckFailed("subscriber: the payload is not followed by CRLF")
    return data[:-2]


def check(args: argparse.Namespace) -> str:
    address = _address(args.server)
    deadline = time.monotonic() + args.timeout
    token = uuid.uuid4().hex
    subject, sid, payload = f"{args.subject_prefix}{token}", "1", f"crosscloud {token}".encode()

    def connect(role: str) -> _Connection:
        return until(deadline, f"could not connect to {args.server}", lambda: _Connection(address, deadline, role))

    with connect("subscriber") as sub, connect("publisher") as pub:
        version = sub.handshake()
        sub.send(f"SUB {subject} {sid}".encode() + CRLF)
        sub.flush()
        pub.handshake()
        pub.send(f"PUB {subject} {len(payload)}".encode() + CRLF + payload + CRLF)
        pub.flush()
        got = _receive(sub, subject, sid)
        if got != payload:
            raise CheckFailed(f"subscriber: got payload {got[:60]!r}, expected {payload!r}")
        sub.send(f"UNSUB {sid}".encode() + CRLF)
    return f"{len(payload)}-byte message on {subject} delivered across two connections (server {version})"


def main(argv: Sequence[str] | None = None) -> int:
    return run_check(NAME, _parser(), check, argv)


if __name__ == "__main__":
    raise SystemExit(main())
