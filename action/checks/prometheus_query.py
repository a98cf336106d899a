"""``prometheus-query``: Prometheus is ready and answers a PromQL query with data.

A ready endpoint alone proves only that the process serves HTTP; a query that returns series proves the
whole path a user depends on (scrape, store, evaluate). The first scrape lands a few seconds after start,
so the query is retried until it has data or ``--timeout`` runs out.

    python -m crosscloud_action.checks.prometheus_query --url http://127.0.0.1:9090 [--query up]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from crosscloud_action.checks import CheckFailed, CheckParser, NotYet, http_request, run_check, until

NAME = "prometheus-query"
REQUEST_TIMEOUT = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = CheckParser(prog=NAME, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--query", default="up", help="PromQL instant query that must return a series")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for ready and for data")
    return parser


def _ready(base: str, deadline: float) -> None:
    status, body = http_request(f"{base}/-/ready", timeout=min(REQUEST_TIMEOUT, deadline - time.monotonic()))
    if status != 200:
        raise NotYet(f"HTTP {status} {body[:80].decode(errors='replace').strip()}")


def _series(base: str, query: str, deadline: float) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    status, body = http_request(url, timeout=min(REQUEST_TIMEOUT, deadline - time.monotonic()))
    try:
        answer = json.loads(body)
    except ValueError:
        raise NotYet(f"HTTP {status}, not JSON: {body[:80].decode(errors='replace')!r}") from None
    if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        if status == 400:  # bad_data: the query itself is wrong; waiting will not fix it
            raise CheckFailed(f"query {query!r} rejected: {error or 'HTTP 400'}")
        raise NotYet(f"HTTP {status}: {error or 'no success status'}")
    result = answer.get("data", {}).get("result")
    if not isinstance(result, list) or not result:
        raise NotYet("no series yet")
    return result


def _label_text(series: dict[str, Any]) -> str:
    labels = dict(series.get("metric", {}))
    name = labels.pop("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    value = series.get("value", [None, "?"])[1]
    return f"{name}{{{inner}}} = {value}"


def check(args: argparse.Namespace) -> str:
    base = str(args.url).rstrip("/")
    deadline = time.monotonic() + args.timeout
    until(deadline, f"{base}/-/ready did not answer 200", lambda: _ready(base, deadline))
    result = until(
        deadline, f"query {args.query!r} returned no series", lambda: _series(base, args.query, deadline), 0.5
    )
    return f"{args.query!r} returned {len(result)} series, e.g. {_label_text(result[0])}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_check(NAME, _parser(), check, argv)


if __name__ == "__main__":
    raise SystemExit(main())
