"""Where the files the commands need are, in a checkout and in an installed package alike.

The schemas, the seed of a status repository, the onboarding template, the terraform modules and the
charts are package data of ``crosscloud`` (``pyproject.toml`` maps each directory of the repository to a
package). ``importlib.resources`` finds them wherever the package is: in this checkout for an editable
install, in ``site-packages`` for a wheel. Nothing here looks for the repository's own directories."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from crosscloud.errors import CrossCloudError

TERRAFORM_ENV = "CROSSCLOUD_TERRAFORM_DIR"
HELM_ENV = "CROSSCLOUD_HELM_DIR"


def directory(package: str) -> Path:
    """The directory of the data package ``package`` on the file system (a regular package, so that
    ``importlib.resources`` hands out a real path: terraform and helm are given directories)."""
    try:
        found = resources.files(package)
    except ModuleNotFoundError:
        raise CrossCloudError(f"{package} is not installed: reinstall cross-cloud-ci") from None
    if not isinstance(found, Path) or not found.is_dir():
        raise CrossCloudError(f"{package} is not a directory on the file system ({found}): reinstall cross-cloud-ci")
    return found


def terraform_modules() -> Path:
    """``terraform/``: ``$CROSSCLOUD_TERRAFORM_DIR`` when set, else the modules the package carries."""
    override = os.environ.get(TERRAFORM_ENV)
    return Path(override) if override else directory("crosscloud.terraform")


def helm_charts() -> Path:
    """``helm/``: ``$CROSSCLOUD_HELM_DIR`` when set, else the charts the package carries."""
    override = os.environ.get(HELM_ENV)
    return Path(override) if override else directory("crosscloud.charts")


def onboard_template() -> Path:
    """``workflows-templates/onboard/``, the cookiecutter template of ``crosscloud onboard``."""
    return directory("crosscloud.onboard_template")


def status_data() -> Path:
    """``status-data/``, the seed of every status repository (the template repository)."""
    return directory("crosscloud.status_data")
