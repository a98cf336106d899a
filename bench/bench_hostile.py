"""The app under hostile input: the memory and time cases of issue 12, each against a baseline of the same run.

Every scenario serves the app in a process of its own (``crosscloud serve`` on 127.0.0.1, or the production
server, ``crosscloud serve --workers 1``: granian with one worker process; a ``--source`` tree older than it
runs gunicorn with one worker and four threads, as its production command was) and drives it over HTTP from
this process, so the figures are the server's alone, read from ``/proc/<pid>/status`` (``VmHWM``: peak RSS;
``VmRSS``: now).

- ``huge_blob``: a 150 MB record file committed by hand; the server's peak RSS after its first refresh, and
  the size and time of the history answer, the project page and the feed. Baseline: the same repository
  without it.
- ``hosts``: 4,000 ``/feed.xml`` requests, each with its own ``Host``; how many answers link to that host, and
  the server's RSS before and after. Baseline: the RSS before.
- ``unsigned_bodies``: 16 concurrent 25 MiB webhook bodies with a wrong signature; the server's peak RSS.
  Baseline: its RSS before.
- ``issuer``: under the production server, 8 forged OIDC tokens at once against an issuer stand-in answering in 3 s, and
  a badge requested meanwhile (its latency; baseline: the badge alone); then 100 forged tokens against an
  issuer that fails, and how many fetches it saw.

``--source DIR`` serves another tree of the project (with ``crosscloud_app`` and ``crosscloud_action``
linked to its ``app`` and ``action``), so that the figures before a fix come from the same script: the tree
is put first on the server's ``PYTHONPATH``. Prints one JSON object; progress goes to stderr."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crosscloud.records import Record  # noqa: E402
from crosscloud.status_repo.git import Git, Remote  # noqa: E402
from crosscloud.status_repo.seed import init_status_repo  # noqa: E402
from crosscloud.status_repo.writer import StatusRepoWriter  # noqa: E402
from tests.helpers.servers import JsonServer  # noqa: E402

MIB = 1024 * 1024


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM and VmRSS of ``pid`` in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return found


def record(**fields: Any) -> Record:
    data: dict[str, Any] = {
        "schema_version": 1, "project": "etcd", "release": "stable", "ref": "v3.4.23", "sha": "a" * 40,
        "stage": "deploy", "cloud": "local", "arch": "amd64", "kubernetes": None, "status": "success",
        "reason": None, "started_at": "2026-11-01T08:00:00Z", "finished_at": "2026-11-01T08:05:00Z",
        "url": "https://github.com/etcd-io/etcd/actions/runs/100/job/200",
    }  # fmt: skip
    data.update(fields)
    if data["stage"] == "build":
        data["cloud"] = None
    return Record.from_dict(data)


def seeded(root: Path, huge_mb: int = 0) -> Path:
    repo = root / "status.git"
    init_status_repo(repo)
    writer = StatusRepoWriter(Remote.parse(str(repo)))
    for day in range(1, 11):
        stamp = {"started_at": f"2026-11-{day:02d}T08:00:00Z", "finished_at": f"2026-11-{day:02d}T08:05:00Z"}
        writer.write([record(status="failed" if day % 3 else "success", **stamp), record(stage="build", **stamp),
                      record(project="nats", **stamp)])  # fmt: skip
    if huge_mb:
        text = json.dumps(record(status="failed").data | {"reason": "x" * (huge_mb * 1000 * 1000)}).encode()
        git = Git(repo)
        git.commit_files("refs/heads/main", {"results/etcd/stable/amd64/local/host/deploy.json": text},
                         message="by hand\n", identity=("A", "a@b"), when=1_800_000_000,
                         parent=git.text("rev-parse", "main"))  # fmt: skip
    return repo


class Server:
    """The app in a process of its own on 127.0.0.1 (``crosscloud serve``, or the production server)."""

    def __init__(self, source: Path, repo: Path, mirror: Path, env: dict[str, str], *, production: bool = False):
        path = [str(source), str(source / "build" / "typecheck"), os.environ.get("PYTHONPATH", "")]
        full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        if production:
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            serve_command = source / "app" / "serve_command.py"
            if serve_command.exists() and "--workers" in serve_command.read_text():
                command = [sys.executable, "-m", "crosscloud", "serve", "--repo", str(repo), "--mirror-dir",
                           str(mirror), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]  # fmt: skip
            else:  # a tree from before the production server: its production command, gunicorn
                full.update(CROSSCLOUD_STATUS_REPO=str(repo), CROSSCLOUD_MIRROR_DIR=str(mirror))
                command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4", "--worker-class",
                           "gthread", "--bind", f"127.0.0.1:{self.port}", "crosscloud_app:create_app()"]  # fmt: skip
            self.process = subprocess.Popen(command, env=full, cwd=source, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        else:
            command = [sys.executable, "-m", "crosscloud", "serve", "--repo", str(repo), "--port", "0",
                       "--mirror-dir", str(mirror)]  # fmt: skip
            # cwd: ``python -m`` puts it first on the path, before PYTHONPATH
            self.process = subprocess.Popen(command, env=full, cwd=source, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL)  # fmt: skip
            assert self.process.stdout is not None
            banner = self.process.stdout.readline().decode()
            self.port = int(banner.rsplit(":", 1)[1].strip().rstrip("/"))
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=120):  # noqa: S310 - 127.0.0.1
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the server did not start ({command[:4]})") from None
                time.sleep(0.2)
        # the production server's worker is the child that serves
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        kids = children.read_text().split() if production and children.exists() else []
        self.pid = int(kids[0]) if kids else self.process.pid

    def status(self) -> dict[str, float]:
        return proc_status(self.pid)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, int, float]:
        """(status, body bytes, seconds)."""
        began = time.perf_counter()
        request = urllib.request.Request(self.base + path, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
                size = len(answer.read())
                return answer.status, size, round(time.perf_counter() - began, 3)
        except urllib.error.HTTPError as refused:
            return refused.code, len(refused.read()), round(time.perf_counter() - began, 3)

    def stop(self) -> None:
        if self.pid != self.process.pid:  # the production server: its workers too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        self.process.terminate()
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def huge_blob(source: Path, scratch: Path, megabytes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, size in (("baseline", 0), ("huge", megabytes)):
        root = scratch / f"blob-{name}"
        root.mkdir()
        repo = seeded(root, size)
        log(f"huge_blob: {name} ({size} MB file)")
        began = time.perf_counter()
        server = Server(source, repo, root / "mirror", {})
        started = round(time.perf_counter() - began, 2)
        try:
            figures: dict[str, Any] = {"start_and_first_refresh_s": started, **server.status()}
            for path in ("/api/v1/history?project=etcd", "/api/v1/history/etcd/stable/local/deploy",
                         "/projects/etcd", "/projects/etcd/stable/local", "/feed.xml"):  # fmt: skip
                status, body, seconds = server.get(path)
                figures[path] = {"status": status, "bytes": body, "seconds": seconds}
            figures["peak_rss_mib"] = server.status()["VmHWM"]
        finally:
            server.stop()
        out[name] = figures
        shutil.rmtree(root, ignore_errors=True)
    return out


def hosts(source: Path, scratch: Path, count: int) -> dict[str, Any]:
    root = scratch / "hosts"
    root.mkdir()
    server = Server(source, seeded(root), root / "mirror", {})
    try:
        before = server.status()
        linked = statuses = 0
        answers: dict[int, int] = {}
        for n in range(count):
            host = f"h{n}.evil.example"
            request = urllib.request.Request(f"{server.base}/feed.xml", headers={"Host": host})  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                    body, code = answer.read(), answer.status
            except urllib.error.HTTPError as refused:
                body, code = refused.read(), refused.code
            answers[code] = answers.get(code, 0) + 1
            linked += f"http://{host}/".encode() in body
            statuses += 1
        after = server.status()
    finally:
        server.stop()
    return {"requests": statuses, "answers": answers, "answers_linking_the_host": linked,
            "rss_before_mib": before["VmRSS"], "rss_after_mib": after["VmRSS"],
            "peak_rss_mib": after["VmHWM"]}  # fmt: skip


def unsigned_bodies(source: Path, scratch: Path, count: int, megabytes: int) -> dict[str, Any]:
    root = scratch / "bodies"
    root.mkdir()
    server = Server(source, seeded(root), root / "mirror", {"CROSSCLOUD_WEBHOOK_SECRET": "bench-secret"})
    body = b" " * (megabytes * MIB)
    try:
        before = server.status()

        def send(n: int) -> int:
            request = urllib.request.Request(f"{server.base}/webhooks/github", data=body, method="POST", headers={  # noqa: S310
                "X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{n}", "Content-Type": "application/json",
                "X-Hub-Signature-256": "sha256=" + "0" * 64})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=300) as answer:  # noqa: S310
                    return int(answer.status)
            except urllib.error.HTTPError as refused:
                return int(refused.code)

        began = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            codes = list(pool.map(send, range(count)))
        seconds = round(time.perf_counter() - began, 2)
        after = server.status()
    finally:
        server.stop()
    return {"bodies": count, "mib_each": megabytes, "answers": sorted(set(codes)), "seconds": seconds,
            "rss_before_mib": before["VmRSS"], "peak_rss_mib": after["VmHWM"]}  # fmt: skip


class Issuer:
    """An OIDC issuer stand-in on 127.0.0.1: ``delay`` seconds per answer, or 500 when ``failing``."""

    def __init__(self, delay: float = 0.0, failing: bool = False):
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.requests = 0
        published = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(published.public_key())), "kid": "key-1",
               "use": "sig", "alg": "RS256"}  # fmt: skip

        def answer(path: str, headers: Mapping[str, str]) -> tuple[int, Any]:
            self.requests += 1
            time.sleep(delay)
            if failing:
                return 500, None
            return 200, {"jwks_uri": f"{self.url}/jwks"} if "openid" in path else {"keys": [jwk]}

        self.http = JsonServer(answer)
        self.url = self.http.url

    def forged(self) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.url, "aud": "cross-cloud-ci", "iat": now, "exp": now + 300, "repository": "etcd-io/etcd",
                  "repository_id": "1", "run_id": "1", "run_attempt": "1"}  # fmt: skip
        return jwt.encode(claims, self.forger, algorithm="RS256", headers={"kid": "key-1"})

    def close(self) -> None:
        self.http.close()


def issuer(source: Path, scratch: Path, tokens: int, delay: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, stand_in, count in (("slow", Issuer(delay=delay), tokens), ("failing", Issuer(failing=True), 100)):
        root = scratch / f"issuer-{name}"
        root.mkdir()
        env = {"CROSSCLOUD_OIDC_ISSUER": stand_in.url, "CROSSCLOUD_PUBLIC_URL": "https://ci.example.org",
               "CROSSCLOUD_REFRESH_SECONDS": "0"}  # fmt: skip
        server = Server(source, seeded(root), root / "mirror", env, production=True)
        try:
            alone = server.get("/badge/etcd/stable/local.svg")[2]
            body = json.dumps([record().data]).encode()
            token = stand_in.forged()

            def submit(_: int, base: str = server.base, body: bytes = body, token: str = token) -> tuple[int, float]:
                began = time.perf_counter()
                request = urllib.request.Request(f"{base}/api/v1/results", data=body, method="POST", headers={  # noqa: S310
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=300) as answer:  # noqa: S310
                        code = answer.status
                except urllib.error.HTTPError as refused:
                    code = refused.code
                return int(code), round(time.perf_counter() - began, 2)

            with ThreadPoolExecutor(min(count, 8)) as pool:
                submitted = [pool.submit(submit, n) for n in range(count)]
                time.sleep(0.5)
                badge = server.get("/badge/etcd/stable/local.svg")
                answers = [f.result() for f in submitted]
            codes: dict[int, int] = {}
            for code, _ in answers:
                codes[code] = codes.get(code, 0) + 1
            out[name] = {"forged_tokens": count, "answers": codes, "slowest_token_s": max(s for _, s in answers),
                         "badge_alone_s": alone, "badge_meanwhile_s": badge[2], "badge_status": badge[0],
                         "issuer_requests": stand_in.requests}  # fmt: skip
        finally:
            server.stop()
            stand_in.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree of the project to serve")
    parser.add_argument("--scenario", action="append", choices=["huge_blob", "hosts", "unsigned_bodies", "issuer"])
    parser.add_argument("--blob-mb", type=int, default=150)
    parser.add_argument("--hosts", type=int, default=4000)
    parser.add_argument("--bodies", type=int, default=16)
    parser.add_argument("--body-mb", type=int, default=25)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--issuer-delay", type=float, default=3.0)
    args = parser.parse_args()
    chosen = args.scenario or ["huge_blob", "hosts", "unsigned_bodies", "issuer"]
    result: dict[str, Any] = {"source": "this tree" if args.source == ROOT else "another tree",
                              "load_average_before": os.getloadavg()}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        scratch = Path(tmp)
        source = args.source.resolve()
        if "huge_blob" in chosen:
            result["huge_blob"] = huge_blob(source, scratch, args.blob_mb)
        if "hosts" in chosen:
            log("hosts")
            result["hosts"] = hosts(source, scratch, args.hosts)
        if "unsigned_bodies" in chosen:
            log("unsigned_bodies")
            result["unsigned_bodies"] = unsigned_bodies(source, scratch, args.bodies, args.body_mb)
        if "issuer" in chosen:
            log("issuer")
            result["issuer"] = issuer(source, scratch, args.tokens, args.issuer_delay)
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
