#!/usr/bin/env python3
"""Make sure terraform (>= 1.4) is installed: the provision stage runs it and the tests need it.

Debian does not package terraform. When it is missing, on Debian or Ubuntu this installs it from
HashiCorp's apt repository, and trusts that repository's signing key only after checking its full
fingerprint against the one pinned here (HashiCorp publishes it on https://www.hashicorp.com/trust/security).
The fingerprint is checked on the very keyring file apt is then told to use, and that file must hold
HashiCorp's key and no other.

When terraform cannot be installed this way (not Debian or Ubuntu, no root, the repository unreachable, a
key that does not match) it fails, saying why and where to get terraform, and leaves apt's configuration
as it found it. A terraform already on PATH is left alone (an older one than 1.4 is an error).

Usage: scripts/install-terraform.py [--repository URL]   (a mirror of HashiCorp's apt repository; the key
must still be HashiCorp's)"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

REPOSITORY = "https://apt.releases.hashicorp.com"
FINGERPRINT = "798AEC654E5C15428C8E42EEAA16FCBCA621E701"
"""HashiCorp's package signing key: "HashiCorp Security (HashiCorp Package Signing)
<security+packaging@hashicorp.com>"."""
KEYRING = Path("/usr/share/keyrings/hashicorp-archive-keyring.gpg")
SOURCE_LIST = Path("/etc/apt/sources.list.d/hashicorp.list")
MINIMUM = (1, 4)
"""The provision stage uses ``terraform_data``, new in terraform 1.4."""
WHERE = "https://developer.hashicorp.com/terraform/install"
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class CannotInstall(Exception):
    """Why terraform could not be installed; the message is shown to the user."""


def log(message: str) -> None:
    print(f"install-terraform: {message}", file=sys.stderr, flush=True)


def terraform_version(terraform: str) -> tuple[int, ...]:
    out = subprocess.run([terraform, "version", "-json"], capture_output=True, text=True, timeout=60, check=True)
    version = str(json.loads(out.stdout)["terraform_version"])
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def privileged() -> list[str]:
    """The prefix that runs a command as root: nothing for root, else sudo."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") is None:
        raise CannotInstall("root is needed to add an apt repository, and sudo is not installed")
    return ["sudo"]


def run_as_root(command: list[str], what: str) -> None:
    result = subprocess.run(
        [*privileged(), *command],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise CannotInstall(f"{what} failed: {' / '.join(detail[-3:]) or f'exit {result.returncode}'}")


def debian_codename() -> str:
    """The release codename apt sources name (``bookworm``, ``noble``)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise CannotInstall("this is not Debian or Ubuntu (no apt-get): install terraform by hand")
    fields = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        fields[key] = value.strip().strip('"')
    codename = fields.get("VERSION_CODENAME") or fields.get("UBUNTU_CODENAME")
    if not codename:
        raise CannotInstall("/etc/os-release names no VERSION_CODENAME")
    return codename


def fetch_key(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - https (or a mirror's URL)
            return bytes(answer.read(1 << 20))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CannotInstall(f"cannot fetch the signing key {url}: {reason}") from err


def verified_keyring(key: bytes, fingerprint: str = FINGERPRINT) -> bytes:
    """``key`` (armored or binary) as a binary keyring for apt's ``signed-by``, once gpg has shown that it
    holds exactly one key, whose full fingerprint is ``fingerprint``."""
    gpg = shutil.which("gpg")
    if gpg is None:
        raise CannotInstall("gpg is needed to check the signing key's fingerprint (Debian package gpg)")
    with tempfile.TemporaryDirectory() as home:
        given = Path(home, "key")
        given.write_bytes(key)
        base = [gpg, "--batch", "--no-options", "--homedir", home]
        if key.lstrip().startswith(b"-----BEGIN PGP"):
            keyring = Path(home, "keyring.gpg")
            subprocess.run([*base, "--output", str(keyring), "--dearmor", str(given)], capture_output=True, check=True)
        else:
            keyring = given
        listed = subprocess.run(
            [*base, "--with-colons", "--import-options", "show-only", "--import", str(keyring)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        primaries = primary_fingerprints(listed.stdout)
        if primaries != [fingerprint]:
            found = ", ".join(primaries) or "no key"
            raise CannotInstall(f"the signing key is not HashiCorp's: expected fingerprint {fingerprint}, got {found}")
        return keyring.read_bytes()


def primary_fingerprints(colons: str) -> list[str]:
    """The fingerprints of the primary keys in gpg's ``--with-colons`` listing (not of their subkeys)."""
    found, record = [], ""
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and record == "pub":
            found.append(fields[9])
        record = fields[0] if fields[0] != "fpr" else ""
    return found


def write_as_root(path: Path, content: bytes) -> bool:
    """Write ``path`` (mode 0644) unless it already holds ``content``; True when it was created here."""
    if path.exists() and path.read_bytes() == content:
        return False
    created = not path.exists()
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(content)
        tmp.flush()
        run_as_root(["install", "-D", "-m", "0644", tmp.name, str(path)], f"writing {path}")
    return created


def install(repository: str) -> None:
    codename = debian_codename()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    keyring = verified_keyring(fetch_key(f"{repository}/gpg"))
    source = f"deb [arch={arch} signed-by={KEYRING}] {repository} {codename} main\n"
    created: list[Path] = []
    try:
        for path, content in ((KEYRING, keyring), (SOURCE_LIST, source.encode())):
            if write_as_root(path, content):
                created.append(path)
        log(f"installing terraform from {repository} ({codename}, key {FINGERPRINT})")
        only_this_source = [
            f"-o=Dir::Etc::sourcelist={SOURCE_LIST}",
            "-o=Dir::Etc::sourceparts=-",
            "-o=APT::Get::List-Cleanup=0",
        ]
        run_as_root(["apt-get", "update", "-qq", *only_this_source], f"apt-get update of {repository}")
        run_as_root(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "terraform"], "apt-get install")
    except CannotInstall:
        for path in created:  # leave apt as it was: no source it cannot reach, no key nothing uses
            subprocess.run([*privileged(), "rm", "-f", str(path)], check=False)
        raise


def find_terraform() -> str | None:
    return shutil.which("terraform", path=os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mirror = f"HashiCorp's apt repository or a mirror of it (default {REPOSITORY})"
    parser.add_argument("--repository", default=REPOSITORY, help=mirror)
    args = parser.parse_args()
    minimum = ".".join(map(str, MINIMUM))
    terraform = find_terraform()
    if terraform is None:
        try:
            install(args.repository.rstrip("/"))
        except CannotInstall as err:
            log(f"terraform (>= {minimum}) is required and is not installed; it could not be installed: {err}")
            log(f"get terraform from {WHERE} (HashiCorp's apt repository {REPOSITORY}, key {FINGERPRINT})")
            return 1
        terraform = find_terraform()
        if terraform is None:
            log(f"apt-get installed terraform, but it is not on PATH: see {WHERE}")
            return 1
    version = terraform_version(terraform)
    if version < MINIMUM:
        found = ".".join(map(str, version))
        log(f"{terraform} is terraform {found}; {minimum} or newer is required: see {WHERE}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
