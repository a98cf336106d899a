"""The options that name one cell (``--project``, ``--release``, ``--cloud``, ``--arch``, ``--kubernetes``),
for the commands that read or record one: ``rollback-target`` and ``import junit``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from crosscloud.vocabulary import ARCHES, RELEASES

if TYPE_CHECKING:
    from crosscloud.config import Config, Project
    from crosscloud.records import CellKey


def add_cell_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", required=True)
    p.add_argument("--release", required=True, choices=RELEASES)
    p.add_argument("--cloud", required=True)
    p.add_argument("--arch", choices=ARCHES, help="default: the project's first arch")
    p.add_argument(
        "--kubernetes",
        choices=RELEASES,
        help="Kubernetes release of the test cluster (default stable; none on a cloud without Kubernetes)",
    )


def cell_from_args(
    config: Config, args: argparse.Namespace, stage: str
) -> tuple[Project, CellKey, dict[str, Any] | None]:
    """(project, CellKey, kubernetes field of a record) of the cell the options name, checked against the
    configuration (``crosscloud.junit.resolve_cell``, which the app's JUnit endpoint uses too)."""
    from crosscloud.junit import resolve_cell

    return resolve_cell(
        config, project=args.project, release=args.release, cloud=args.cloud, stage=stage, arch=args.arch,
        kubernetes=args.kubernetes,
    )  # fmt: skip
