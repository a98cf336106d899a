"""A real CNCF Distribution registry (Debian's docker-registry) on 127.0.0.1 for the build tests."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers.required_tools import path_of
from tests.helpers.servers import free_port

MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
REGISTRY = path_of("docker-registry")


def http_get(url: str, accept: str | None = None) -> tuple[dict[str, str], bytes]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return dict(response.headers.items()), response.read()


class Registry:
    """``docker-registry serve`` on a free port of 127.0.0.1, its config and storage in a temp dir."""

    def __init__(self, root: Path):
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> None:
        for _ in range(5):  # another process may take the free port between the probe and the bind
            port = free_port()
            config = self.root / "config.yml"
            config.write_text(
                "version: 0.1\n"
                "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
            )
            with (self.root / "registry.log").open("ab") as out:
                self.proc = subprocess.Popen(
                    [str(REGISTRY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.address = f"127.0.0.1:{port}"
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"docker-registry did not start: {(self.root / 'registry.log').read_text()[-2000:]}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                headers, _ = http_get(f"http://{self.address}/v2/")
                return headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def manifest(self, name: str, reference: str) -> tuple[str, dict[str, Any]]:
        """The manifest's digest as the registry states it (``Docker-Content-Digest``), checked against the
        bytes it sent, and the manifest."""
        headers, body = http_get(f"http://{self.address}/v2/{name}/manifests/{reference}", MANIFEST_TYPES)
        digest = headers["Docker-Content-Digest"]
        assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
        return digest, json.loads(body)

    def blob(self, name: str, digest: str) -> bytes:
        _, body = http_get(f"http://{self.address}/v2/{name}/blobs/{digest}")
        assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
        return body
