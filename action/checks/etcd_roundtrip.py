"""``etcd-roundtrip``: a key written to etcd reads back the same, and is gone after a delete.

It speaks etcd's v3 API through its JSON gateway (``/v3/kv/put``, ``/v3/kv/range``,
``/v3/kv/deleterange``), which every etcd 3.4+ serves on its client URL, so the check needs no etcdctl
and no client library. The key and value are unique per run, so a stale key from an earlier run, or a
cluster that answers from a cache, cannot make it pass. The write is retried until ``--timeout``
(a fresh member may still be electing its leader); the read and delete that follow are not: once a
write succeeded, anything else is a real failure.

    python -m crosscloud_action.checks.etcd_roundtrip --endpoint http://127.0.0.1:2379
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from crosscloud_action.checks import CheckFailed, CheckParser, NotYet, http_request, run_check, until

NAME = "etcd-roundtrip"
REQUEST_TIMEOUT = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = CheckParser(prog=NAME, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="client URL, e.g. http://127.0.0.1:2379")
    parser.add_argument("--prefix", default="crosscloud-e2e/", help="prefix of the key written")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds the whole round trip may take")
    return parser


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class _Gateway:
    """POSTs to one etcd's v3 JSON gateway; a non-200 answer raises ``NotYet`` with etcd's own message."""

    def __init__(self, endpoint: str, deadline: float):
        self.endpoint = endpoint.rstrip("/")
        self.deadline = deadline

    def call(self, method: str, request: dict[str, str]) -> dict[str, Any]:
        timeout = min(REQUEST_TIMEOUT, self.deadline - time.monotonic())
        url = f"{self.endpoint}/v3/kv/{method}"
        status, body = http_request(url, body=json.dumps(request).encode(), timeout=timeout)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            message = (answer.get("message") or answer.get("error")) if isinstance(answer, dict) else None
            raise NotYet(f"{method}: HTTP {status}: {message or body[:80].decode(errors='replace').strip()}")
        return answer


def check(args: argparse.Namespace) -> str:
    deadline = time.monotonic() + args.timeout
    gateway = _Gateway(args.endpoint, deadline)
    key, value = f"{args.prefix}{uuid.uuid4()}", uuid.uuid4().hex
    selector = {"key": _b64(key)}
    put = {**selector, "value": _b64(value)}
    until(deadline, f"could not write to {gateway.endpoint}", lambda: gateway.call("put", put))
    try:
        kvs = gateway.call("range", selector).get("kvs", [])
        got = [base64.b64decode(kv.get("value", "")).decode(errors="replace") for kv in kvs]
        if got != [value]:
            raise CheckFailed(f"read {key!r} back as {got!r}, expected [{value!r}]")
        deleted = gateway.call("deleterange", selector).get("deleted")
        if deleted != "1":
            raise CheckFailed(f"deleting {key!r} deleted {deleted or 0} keys, expected 1")
        left = gateway.call("range", selector).get("kvs", [])
        if left:
            raise CheckFailed(f"{key!r} is still there after its delete")
    except NotYet as exc:
        raise CheckFailed(str(exc)) from None
    return f"put, get and delete of {key!r} on {gateway.endpoint}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_check(NAME, _parser(), check, argv)


if __name__ == "__main__":
    raise SystemExit(main())
