"""Whose failure a result is: ``infrastructure`` (the cloud, the cluster, a quota), ``project`` (its build,
deploy or tests) or ``unknown``.

Most red badges of the original were the cloud, not the project; saying which is which lets the badges
leave infrastructure failures out (``cell_rules.aggregate_ignoring_infra``), the insight count failures by
kind and the dashboard mark them. Which statuses are failures at all is the presentation table's
``failure`` (``crosscloud.presentation``): ``cancelled`` is none."""

from __future__ import annotations

import re
from typing import Final

from crosscloud.presentation import is_failure
from crosscloud.vocabulary import STATUSES

INFRASTRUCTURE: Final = "infrastructure"
PROJECT: Final = "project"
UNKNOWN: Final = "unknown"
KINDS: Final = (INFRASTRUCTURE, PROJECT, UNKNOWN)

FAILURES: Final[frozenset[str]] = frozenset(status for status in STATUSES if is_failure(status))
"""The record statuses that are failed runs: ``failed``, ``timed_out``, ``infra_failed``."""

FAILURE_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        # The project's own words first: a failing test may well mention a refused connection.
        (r"\b\d+ of \d+ tests? failed|\btests? failed|assertion|compile error|build failed", PROJECT),
        (r"pods? not ready|CrashLoopBackOff|ImagePullBackOff|ErrImagePull|OOMKilled|helm test", PROJECT),
        # Then the environment's: quota, capacity, the cloud or the cluster out of reach.
        (r"quota|capacity|insufficient|exhausted|LimitExceeded|SkuNotAvailable|rate limit|toomanyrequests",
         INFRASTRUCTURE),
        (r"unreachable|unavailable|connection (refused|reset)|no route to host|no such host|i/o timeout",
         INFRASTRUCTURE),
        (r"TLS handshake timeout|could not resolve|network is unreachable|cloud API|API server", INFRASTRUCTURE),
        (r"credentials|unauthori[sz]ed|no space left on device|\bterraform\b|provision", INFRASTRUCTURE),
        (r"\b50[234]\b|Service Unavailable|Bad Gateway|Gateway Time-?out", INFRASTRUCTURE),
    )
)  # fmt: skip
"""(pattern of a reason, kind): the first match decides; see ``classify_failure``."""


def classify_failure(status: str | None, stage: str, reason: str | None) -> str | None:
    """Whose failure a result is: ``infrastructure``, ``project`` or ``unknown``; None for no failure.

    In order: ``infra_failed`` is the environment (the stage said so); a reason matching
    ``FAILURE_PATTERNS`` decides next (results recorded by hand or imported from other CI systems often say
    only ``failed``); a failed or timed-out provisioning is the environment; any other ``failed`` is the
    project (its build, deploy or e2e); a ``timed_out`` build, deploy or e2e without a telling reason could
    be a slow project or a slow cloud: ``unknown``."""
    if status not in FAILURES:
        return None
    if status == "infra_failed":
        return INFRASTRUCTURE
    if reason:
        for pattern, kind in FAILURE_PATTERNS:
            if pattern.search(reason):
                return kind
    if stage == "provision":
        return INFRASTRUCTURE
    return PROJECT if status == "failed" else UNKNOWN
