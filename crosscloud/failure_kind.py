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
        (r"unknown (flag|command|field|option)|invalid (flag|argument|option)|panic:", PROJECT),
        # Then the environment's: quota, capacity, the cloud or the cluster out of reach.
        (r"quota|capacity|insufficient|exhausted|LimitExceeded|SkuNotAvailable|rate limit|toomanyrequests",
         INFRASTRUCTURE),
        (r"unreachable|unavailable|connection (refused|reset)|no route to host|no such host|i/o timeout",
         INFRASTRUCTURE),
        (r"TLS handshake timeout|could not resolve|network is unreachable|cloud API|API server", INFRASTRUCTURE),
        (r"credentials|unauthori[sz]ed|no space left on device", INFRASTRUCTURE),
        (r"\b50[234]\b|Service Unavailable|Bad Gateway|Gateway Time-?out", INFRASTRUCTURE),
    )
)  # fmt: skip
"""(pattern of a reason, kind): the first match decides; see ``classify_failure``."""

STAGE_WORDS: Final = re.compile(r"\bterraform\b|provision", re.IGNORECASE)
"""Words that name the provisioning stage itself: infrastructure for a project deployed onto a cluster, no
evidence either way for Kubernetes, whose provisioning is what it tests."""


def classify_failure(
    status: str | None, stage: str, reason: str | None, *, provisions_itself: bool = False
) -> str | None:
    """Whose failure a result is: ``infrastructure``, ``project`` or ``unknown``; None for no failure.

    In order: ``infra_failed`` is the environment (the stage said so); a reason matching
    ``FAILURE_PATTERNS`` decides next (results recorded by hand or imported from other CI systems often say
    only ``failed``); a failed or timed-out provisioning is the environment; any other ``failed`` is the
    project (its build, deploy or e2e); a ``timed_out`` build, deploy or e2e without a telling reason could
    be a slow project or a slow cloud: ``unknown``.

    ``provisions_itself`` is true for an ``app_layer: false`` project (Kubernetes): its provisioning is the
    project under test, so a failed provision is the project's (``kubeadm init: unknown flag``) unless the
    reason names the environment (a quota, an unreachable API); the stage's own words prove nothing then."""
    if status not in FAILURES:
        return None
    if status == "infra_failed":
        return INFRASTRUCTURE
    if reason:
        for pattern, kind in FAILURE_PATTERNS:
            if pattern.search(reason):
                return kind
        if not provisions_itself and STAGE_WORDS.search(reason):
            return INFRASTRUCTURE
    if stage == "provision" and not provisions_itself:
        return INFRASTRUCTURE
    return PROJECT if status == "failed" else UNKNOWN
