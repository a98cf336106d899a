"""Where the project and the real-world fixtures the tests read are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


FIXTURES = ROOT / "tests" / "fixtures"
"""Real-world inputs copied into the project (their origins: ``tests/fixtures/README.md``)."""


CNCF_2018 = FIXTURES / "cncf-configuration" / "cross-cloud.2018-12-04.yml"


CNCF_2020 = FIXTURES / "cncf-configuration" / "cross-cloud.2020-11-30.yml"
