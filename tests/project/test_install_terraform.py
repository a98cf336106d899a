"""``scripts/install-terraform.py``: HashiCorp's signing key is trusted only by its full fingerprint, and a
terraform that cannot be installed fails the run, named, with where to get it.

HashiCorp's repository cannot be reached from a test machine and its key cannot be forged, so the keys
here are made by a real gpg for each test, and the "repository" is an HTTP server on 127.0.0.1 serving
one of them. Nothing reaches apt's configuration: a key that is not HashiCorp's is refused before
anything is written, which the tests check."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.paths import ROOT
from tests.helpers.required_tools import find

SCRIPT = ROOT / "scripts" / "install-terraform.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_terraform", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


@dataclass
class Keys:
    """Two signing keys (each with an encryption subkey) in a gpg home of their own."""

    home: Path
    fingerprints: list[str]

    def export(self, *fingerprints: str, armor: bool = True) -> bytes:
        args = ["--armor"] if armor else []
        return gpg(self.home, *args, "--export", *fingerprints).encode("latin-1")


def gpg(home: Path, *args: str) -> str:
    result = subprocess.run(
        ["gpg", "--batch", "--no-tty", "--homedir", str(home), "--passphrase", "", *args],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode("latin-1")


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    # gpg-agent's socket lives in the home: a short path (pytest's temporary paths can exceed its limit).
    with tempfile.TemporaryDirectory(prefix="gpg.", dir="/tmp") as directory:
        home = Path(directory)
        home.chmod(0o700)
        fingerprints = []
        for name in ("Mallory", "Trent"):
            gpg(home, "--quick-gen-key", f"{name} <{name.lower()}@example.invalid>", "ed25519", "sign", "never")
            fingerprint = script.primary_fingerprints(gpg(home, "--with-colons", "--list-keys", name))[0]
            gpg(home, "--quick-add-key", fingerprint, "cv25519", "encr", "never")
            fingerprints.append(fingerprint)
        try:
            yield Keys(home, fingerprints)
        finally:
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)


def test_the_pinned_fingerprint_is_hashicorps_in_full() -> None:
    assert script.FINGERPRINT == "798AEC654E5C15428C8E42EEAA16FCBCA621E701"


def test_only_primary_key_fingerprints_count(keys: Keys) -> None:
    listing = gpg(keys.home, "--with-colons", "--list-keys")
    assert listing.count("\nfpr:") == 4  # two primaries, two subkeys
    assert script.primary_fingerprints(listing) == keys.fingerprints


@pytest.mark.parametrize("armor", [True, False], ids=["armored", "binary"])
def test_the_key_with_the_expected_fingerprint_becomes_a_keyring(keys: Keys, armor: bool, tmp_path: Path) -> None:
    keyring = script.verified_keyring(keys.export(keys.fingerprints[0], armor=armor), keys.fingerprints[0])
    assert not keyring.startswith(b"-----BEGIN")  # binary, as apt's signed-by wants
    (tmp_path / "keyring.gpg").write_bytes(keyring)
    shown = gpg(tmp_path, "--with-colons", "--import-options", "show-only", "--import", str(tmp_path / "keyring.gpg"))
    assert script.primary_fingerprints(shown) == [keys.fingerprints[0]]


def test_any_other_key_is_refused_naming_both_fingerprints(keys: Keys) -> None:
    with pytest.raises(
        script.CannotInstall, match=f"expected fingerprint {script.FINGERPRINT}, got {keys.fingerprints[0]}"
    ):
        script.verified_keyring(keys.export(keys.fingerprints[0]))


def test_the_right_key_with_another_beside_it_is_refused(keys: Keys) -> None:
    both = keys.export(*keys.fingerprints)
    with pytest.raises(script.CannotInstall, match=f"got {keys.fingerprints[0]}, {keys.fingerprints[1]}"):
        script.verified_keyring(both, keys.fingerprints[0])


def test_something_that_is_no_key_is_refused() -> None:
    with pytest.raises(script.CannotInstall, match="got no key"):
        script.verified_keyring(b"<html>Service Unavailable</html>", script.FINGERPRINT)


class KeyServer:
    """A stand-in for the repository's ``/gpg`` on 127.0.0.1, serving ``body``."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/gpg" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KeyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def without_terraform(tmp_path: Path) -> str:
    """A PATH with what the script uses (apt-get, dpkg, gpg ...) but no terraform."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("apt-get", "dpkg", "gpg", "gpgconf", "gpg-agent", "sudo", "install", "rm"):
        found = find(name)
        if found is not None:
            (bin_dir / name).symlink_to(found)
    return str(bin_dir)


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": without_terraform(tmp_path)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_without_terraform_a_key_that_is_not_hashicorps_fails_the_run_and_writes_nothing(
    keys: Keys, tmp_path: Path
) -> None:
    before = script.SOURCE_LIST.exists(), script.KEYRING.exists()
    with KeyServer(keys.export(keys.fingerprints[0])) as server:
        result = run_script(tmp_path, "--repository", server.url)
    assert result.returncode == 1
    assert "terraform (>= 1.4) is required and is not installed" in result.stderr
    assert f"the signing key is not HashiCorp's: expected fingerprint {script.FINGERPRINT}" in result.stderr
    assert "get terraform from https://developer.hashicorp.com/terraform/install" in result.stderr
    assert (script.SOURCE_LIST.exists(), script.KEYRING.exists()) == before


def test_without_terraform_an_unreachable_repository_fails_the_run_naming_terraform(tmp_path: Path) -> None:
    with KeyServer(b"") as server:
        closed = server.url
    result = run_script(tmp_path, "--repository", closed)
    assert result.returncode == 1
    assert f"cannot fetch the signing key {closed}/gpg" in result.stderr
    assert "terraform (>= 1.4) is required" in result.stderr and script.FINGERPRINT in result.stderr


def test_an_installed_terraform_is_left_alone() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
