"""The app on a year of history and on a configuration ten times as broad: warm dashboard render, badge
and 304 latency in-process (Flask's test client), peak RSS, then badge throughput under the production server
(``crosscloud serve --workers 2``: granian) beside nginx serving the badge ``crosscloud publish`` wrote, and
the peak RSS of the production server with 4 workers.

Repositories: the year of ``generate_history.generate`` (7 projects x 8 clouds, 365 nights), and a
breadth configuration derived from the same 2018 file (130 projects x 20 active clouds, copies of its
projects and clouds under numbered names) with ``--breadth-nights`` nights of results. Each is measured in
a fresh interpreter (``--child``), so its peak RSS is the app's own.

In-process figures (per repository):
- ``dashboard_p50_s``: ``GET /`` after warm-up (the snapshot's grid cache is warm, as in production);
- ``badge_p50_s``: ``GET /badge/...svg`` over a random mix of project, release and cloud badges, with the
  badge answer cache emptied before each request (aggregation, rendering from the SVG cache, the request);
- ``badge_cached_p50_s``: the same requests answered from the answer cache;
- ``not_modified_p50_s``: the same with a matching ``If-None-Match`` (the 304 path).

Throughput (the year only): ``crosscloud serve --workers 2`` (granian, the documented production command)
and nginx with 2 workers serving the published site (``crosscloud publish``: the same badge, byte for byte,
as a file), both on 127.0.0.1, each loaded for ``--load-seconds`` (at most 15) by ``wrk`` (Debian's; a small
multi-process Python load generator when wrk is missing) with the same connections, one badge URL. The
published site served by nginx is the 1.0 line. ``--gunicorn`` adds gunicorn's figure (sync workers) when it
is installed, for comparison.

Memory (the year only): ``crosscloud serve --workers 4`` after every page, badge and API answer of the site
was asked once: the peak RSS (``VmHWM``) of each process, summed.

Targets: dashboard p50 <= 50 ms, badge p50 <= 2 ms, production server / nginx requests per second >= 0.5.
Prints one JSON object."""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from generate_history import CONFIG_2018, exit_on_sigterm, generate, log, percentile

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"dashboard_p50_s": 0.05, "badge_p50_s": 0.002}
RATIO_TARGET = 0.5
MAX_LOAD_SECONDS = 15.0
BREADTH_PROJECTS = 130
BREADTH_CLOUDS = 20


# -- the breadth configuration -----------------------------------------------------------------------------
def breadth_config(source: Path, target: Path, projects: int, clouds: int) -> Path:
    """``source`` widened to ``projects`` active projects and ``clouds`` active clouds: the original
    entries first, then numbered copies (``aws-2``, ``prometheus-2``, ...) in the same order."""
    data = yaml.safe_load(source.read_text())
    active_clouds = {name: c for name, c in data["clouds"].items() if c.get("active", True)}
    widened_clouds: dict[str, Any] = {}
    for copy in range(1, clouds + 1):
        for name, cloud in active_clouds.items():
            if len(widened_clouds) == clouds:
                break
            suffix = "" if copy == 1 else f"-{copy}"
            widened_clouds[name + suffix] = {
                **cloud,
                "display_name": f"{cloud.get('display_name', name)}{suffix}",
                "order": len(widened_clouds) + 1,
            }
    app_projects = {n: p for n, p in data["projects"].items() if p.get("active", True) and p.get("app_layer", True)}
    widened_projects = {n: {**p, "order": 0} for n, p in data["projects"].items() if p.get("app_layer", True) is False}
    copy = 1
    while len(widened_projects) < projects:
        for name, project in app_projects.items():
            if len(widened_projects) == projects:
                break
            suffix = "" if copy == 1 else f"-{copy}"
            widened_projects[name + suffix] = {
                **project,
                "display_name": f"{project.get('display_name', name)}{suffix}",
                "order": len(widened_projects) + 1,
            }
        copy += 1
    data["clouds"] = widened_clouds
    data["projects"] = widened_projects
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


# -- in-process measurements (the child) -------------------------------------------------------------------
def child(repo: Path, mirror: Path, requests: int, seed: int) -> dict[str, Any]:
    from crosscloud_app import create_app
    from crosscloud_app.badges import routes as badges

    rss_at_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    app = create_app({"STATUS_REPO": str(repo), "MIRROR_DIR": str(mirror), "REFRESH_SECONDS": 0, "LOCAL": True})
    startup_s = time.perf_counter() - began
    client = app.test_client()
    snapshot = app.extensions["crosscloud"].snapshot()
    config = snapshot.config

    def timed(path: str, expect: int, headers: dict[str, str] | None = None) -> float:
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - start
        if response.status_code != expect:
            raise RuntimeError(f"GET {path}: {response.status_code}, expected {expect}")
        return elapsed

    first_dashboard_s = timed("/", 200)
    for _ in range(3):
        timed("/", 200)
    dashboard = [timed("/", 200) for _ in range(max(10, requests // 10))]
    page_bytes = len(client.get("/").data)

    paths = []
    for project in config.active_projects():
        paths.append(f"/badge/{project.name}.svg")
        for release in project.releases:
            paths.append(f"/badge/{project.name}/{release}.svg")
            paths += [f"/badge/{project.name}/{release}/{c.name}.svg" for c in config.active_clouds()]
    rng = random.Random(seed)
    sample = [rng.choice(paths) for _ in range(requests)]
    uncached = []
    for path in sample:
        badges._answers.clear()
        uncached.append(timed(path, 200))
    cached = [timed(path, 200) for path in sample]
    not_modified = []
    for path in sample:
        etag = client.get(path).headers["ETag"]
        not_modified.append(timed(path, 304, {"If-None-Match": etag}))
    statuses: dict[str, int] = {}
    for path in paths[:200]:
        label = client.get(path.replace(".svg", ".json")).get_json()["message"]
        statuses[label] = statuses.get(label, 0) + 1

    def ms(values: list[float], pct: float) -> float:
        return round(percentile(values, pct), 5)

    return {
        "projects": len(config.active_projects()),
        "clouds": len(config.active_clouds()),
        "current_cells": len(snapshot.current),
        "startup_s": round(startup_s, 2),
        "first_dashboard_s": round(first_dashboard_s, 4),
        "dashboard_bytes": page_bytes,
        "dashboard_p50_s": ms(dashboard, 50),
        "dashboard_p90_s": ms(dashboard, 90),
        "badge_paths": len(paths),
        "badge_requests": len(sample),
        "badge_p50_s": ms(uncached, 50),
        "badge_p99_s": ms(uncached, 99),
        "badge_cached_p50_s": ms(cached, 50),
        "not_modified_p50_s": ms(not_modified, 50),
        "badge_messages_seen": statuses,
        "rss_at_start_mib": round(rss_at_start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure(repo: Path, mirror: Path, requests: int, seed: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--repo", str(repo)]
    command += ["--mirror", str(mirror), "--requests", str(requests), "--seed", str(seed)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, check=True)
    figures: dict[str, Any] = json.loads(proc.stdout)
    return figures


# -- throughput --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, seconds: float, proc: subprocess.Popen[bytes], ok_in_a_row: int = 10) -> bytes:
    """The body of ``url`` once it answered 200 ``ok_in_a_row`` times (every worker is up)."""
    deadline = time.monotonic() + seconds
    streak, body = 0, b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a 127.0.0.1 URL we built
                body = response.read()
                streak = streak + 1 if response.status == 200 else 0
        except OSError:
            streak = 0
        if streak >= ok_in_a_row:
            return body
        time.sleep(0.05 if streak else 0.3)
    raise RuntimeError(f"{url} did not answer 200 within {seconds} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _hammer(host: str, port: int, path: str, until: float, counts: Any, index: int) -> None:
    """One load process: keep-alive requests on one connection until ``until`` (reconnecting on errors)."""
    done = errors = 0
    conn = http.client.HTTPConnection(host, port, timeout=10)
    while time.monotonic() < until:
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            done += response.status == 200
            errors += response.status != 200
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.close()
    counts[index] = (done, errors)


def load(url: str, seconds: float, connections: int) -> dict[str, Any]:
    """Requests per second on ``url`` for ``seconds`` over ``connections`` connections."""
    wrk = shutil.which("wrk")
    if wrk:
        threads = min(2, connections)
        out = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency", url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = re.search(r"Socket errors:.*", out)
        p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
        return {
            "tool": "wrk",
            "requests_per_s": round(rps, 1),
            "latency_p50": p50.group(1) if p50 else None,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else None,
        }
    host, rest = url.removeprefix("http://").split("/", 1)
    name, port = host.split(":")
    manager = multiprocessing.Manager()
    counts = manager.dict()
    until = time.monotonic() + seconds
    procs = [
        multiprocessing.Process(target=_hammer, args=(name, int(port), "/" + rest, until, counts, i))
        for i in range(connections)
    ]
    began = time.monotonic()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(seconds + 30)
    elapsed = time.monotonic() - began
    done = sum(c[0] for c in counts.values())
    return {
        "tool": "python",
        "requests_per_s": round(done / elapsed, 1),
        "non_2xx": sum(c[1] for c in counts.values()),
    }


NGINX_CONF = """
worker_processes 2;
{user}
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    types {{ image/svg+xml svg; }}
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        add_header Cache-Control no-cache;
    }}
}}
"""


def _published(repo: Path, scratch: Path) -> Path:
    """The site of ``repo`` as ``crosscloud publish`` writes it (what nginx serves)."""
    out = scratch / "nginx" / "www"
    subprocess.run(
        [sys.executable, "-m", "crosscloud", "publish", "--repo", str(repo), "--out", str(out), "--mirror-dir",
         str(scratch / "mirror-publish"), "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def production(repo: Path, mirror: Path, port: int, workers: int, log_file: Path) -> subprocess.Popen[bytes]:
    """``crosscloud serve --workers N`` (the documented production command) in its own session, with the commit
    clock: the generated year ends in 2018, and on the wall clock every badge would read stale, where the
    published one (as of the commit) does not; so both serve the same bytes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSCLOUD_")}
    env["CROSSCLOUD_CLOCK"] = "commit"
    with log_file.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "crosscloud", "serve", "--repo", str(repo), "--mirror-dir", str(mirror),
             "--port", str(port), "--workers", str(workers)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _group_hwm_mib(leader: int) -> tuple[float, int]:
    """(sum of VmHWM, processes) of every live process in ``leader``'s session."""
    total, count = 0, 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) != leader:
                continue
            status = (proc / "status").read_text()
        except (OSError, ProcessLookupError):
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if found:
            total += int(found.group(1))
            count += 1
    return round(total / 1024, 1), count


def four_workers_rss(repo: Path, scratch: Path, site: Path) -> dict[str, Any]:
    """The production server with 4 workers after every path of the published site was asked once."""
    paths = [str(f["path"]) for f in json.loads((site / "manifest.json").read_text())["files"].values()]
    port = free_port()
    server = production(repo, scratch / "mirror-rss", port, 4, scratch / "rss.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 120, server, ok_in_a_row=20)
        for _ in range(4):  # each worker answers some of them
            for path in paths:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
                    answer.read()
        rss, processes = _group_hwm_mib(server.pid)
    finally:
        stop_group(server)
    return {"workers": 4, "processes": processes, "paths_asked": 4 * len(paths), "peak_rss_mib": rss}


def throughput(repo: Path, scratch: Path, seconds: float, connections: int, with_gunicorn: bool) -> dict[str, Any]:
    """The production server (2 workers) and nginx (2 workers, the published file) serving the same badge."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return {"skipped": "needs nginx"}
    config = yaml.safe_load(subprocess.run(
        ["git", "--git-dir", str(repo), "show", "main:cross-cloud.yml"], capture_output=True, text=True, check=True
    ).stdout)  # fmt: skip
    project = next(n for n, p in config["projects"].items() if p.get("active", True))
    path = f"/badge/{project}.svg"
    site = _published(repo, scratch)
    published = (site / path.lstrip("/")).read_bytes()
    figures: dict[str, Any] = {"url_path": path, "connections": connections, "seconds": seconds}

    port = free_port()
    server = production(repo, scratch / "mirror-production", port, 2, scratch / "production.log")
    try:
        body = wait_for(f"http://127.0.0.1:{port}{path}", 120, server, ok_in_a_row=20)
        log(f"load: crosscloud serve --workers 2 (granian) for {seconds:g} s")
        figures["production"] = load(f"http://127.0.0.1:{port}{path}", seconds, connections)
    finally:
        stop_group(server)
    figures["production"]["server"] = "crosscloud serve --workers 2 (granian)"
    figures["same_body_as_published"] = body == published

    gunicorn = Path(sys.executable).with_name("gunicorn")
    if with_gunicorn and gunicorn.exists():
        port = free_port()
        env = {**os.environ, "CROSSCLOUD_STATUS_REPO": str(repo), "CROSSCLOUD_MIRROR_DIR": str(scratch / "m-gu")}
        env["CROSSCLOUD_REFRESH_SECONDS"] = "5"
        env["CROSSCLOUD_CLOCK"] = "commit"
        env["CROSSCLOUD_PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # production needs it (crosscloud_app.web.public_url)
        # one mirror per worker: two gunicorn workers over one mirror race on its index ("database is locked")
        env["CROSSCLOUD_MIRROR_PER_WORKER"] = "true"
        with (scratch / "gunicorn.log").open("wb") as app_log:
            guni = subprocess.Popen(
                [str(gunicorn), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                 "crosscloud_app:create_app()"],
                env=env, cwd=ROOT, stdout=app_log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for(f"http://127.0.0.1:{port}{path}", 60, guni)
            log(f"load: gunicorn for {seconds:g} s")
            figures["gunicorn"] = load(f"http://127.0.0.1:{port}{path}", seconds, connections)
        except RuntimeError as exc:  # a comparison only: say why it is missing
            tail = (scratch / "gunicorn.log").read_text(errors="replace")[-600:]
            figures["gunicorn"] = {"skipped": f"{exc}: {tail}"}
        finally:
            stop(guni)

    nginx_dir = scratch / "nginx"
    nginx_port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the private temporary directory
    (nginx_dir / "nginx.conf").write_text(NGINX_CONF.format(dir=nginx_dir, port=nginx_port, user=user))
    static = subprocess.Popen(
        [nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"), "-e", str(nginx_dir / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        same = wait_for(f"http://127.0.0.1:{nginx_port}{path}", 30, static, ok_in_a_row=1)
        log(f"load: nginx (the published file) for {seconds:g} s")
        figures["nginx"] = load(f"http://127.0.0.1:{nginx_port}{path}", seconds, connections)
    finally:
        stop(static)
    figures["nginx_same_body"] = same == body
    rate = figures["nginx"]["requests_per_s"]
    figures["ratio"] = round(figures["production"]["requests_per_s"] / rate, 3) if rate else 0
    if "requests_per_s" in figures.get("gunicorn", {}) and rate:
        figures["gunicorn_ratio"] = round(figures["gunicorn"]["requests_per_s"] / rate, 3)
    figures["memory"] = four_workers_rss(repo, scratch, site)
    return figures


# -- main --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=365, help="nights of history in the year repository")
    parser.add_argument("--breadth-nights", type=int, default=3, help="nights of results in the 10x repository")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--requests", type=int, default=300, help="badge requests timed per repository")
    parser.add_argument(
        "--load-seconds", type=float, default=10.0, help=f"each load phase (at most {MAX_LOAD_SECONDS:g})"
    )
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections of the load phases")
    parser.add_argument("--gunicorn", action="store_true", help="also load gunicorn (sync workers), to compare")
    parser.add_argument("--no-breadth", action="store_true", help="skip the 10x breadth repository")
    parser.add_argument("--no-load", action="store_true", help="skip the throughput and 4-worker memory phase")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mirror", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.repo, args.mirror, args.requests, args.seed)))
        return 0
    if args.nights < 1 or args.breadth_nights < 1 or args.requests < 10:
        parser.error("--nights and --breadth-nights must be at least 1, --requests at least 10")
    seconds = min(args.load_seconds, MAX_LOAD_SECONDS)

    exit_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-app-"))
    result: dict[str, Any] = {"benchmark": "app"}
    try:
        year = scratch / "year.git"
        log(f"generating {args.nights} nights of the 2018 configuration")
        generated = generate(year, nights=args.nights, seed=args.seed)
        result["year"] = {"nights": args.nights, "records": generated["records"], "commits": generated["commits"]}
        log("measuring the year in a child process")
        result["year"].update(measure(year, scratch / "mirror-year", args.requests, args.seed))

        if not args.no_breadth:
            wide = breadth_config(CONFIG_2018, scratch / "breadth.yml", BREADTH_PROJECTS, BREADTH_CLOUDS)
            log(f"generating {args.breadth_nights} nights of {BREADTH_PROJECTS} projects x {BREADTH_CLOUDS} clouds")
            broad = generate(scratch / "breadth.git", nights=args.breadth_nights, seed=args.seed, config_file=wide)
            result["breadth"] = {"nights": args.breadth_nights, "records": broad["records"]}
            log("measuring the breadth repository in a child process")
            result["breadth"].update(measure(scratch / "breadth.git", scratch / "mirror-breadth", args.requests,
                                             args.seed))  # fmt: skip

        if not args.no_load:
            result["throughput"] = throughput(year, scratch, seconds, args.connections, args.gunicorn)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    checks: dict[str, dict[str, Any]] = {}
    for repo_name in ("year", "breadth"):
        for name, target in TARGETS.items():
            if repo_name in result:
                value = result[repo_name][name]
                checks[f"{repo_name}.{name}"] = {"target": target, "value": value, "pass": value <= target}
    ratio = result.get("throughput", {}).get("ratio")
    if ratio is not None:
        checks["throughput.ratio"] = {"target": RATIO_TARGET, "value": ratio, "pass": ratio >= RATIO_TARGET}
    result["targets"] = checks
    result["pass"] = all(c["pass"] for c in checks.values())
    result["load_avg_1m_before"] = round(load_before, 2)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
