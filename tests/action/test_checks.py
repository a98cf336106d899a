"""The built-in e2e checks as the runtime runs them: ``python -m crosscloud_action.checks.<module>``
against real servers, exit 0 on a pass, exit non-zero and exactly one line on stderr on a failure."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from crosscloud_action.build.reuse import pin_reused
from crosscloud_action.checks import CHECKS, module_of
from crosscloud_action.runtimes.host import HostRuntime, free_ports
from crosscloud_action.runtimes.interface import Deployment, StageContext
from tests.helpers.stages import CONFIG, local_target, stage_context

Server = Callable[[str], str]
"""Deploys a project of the default configuration once per module; returns its ``127.0.0.1:PORT``."""


def run_check(check: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module_of(check), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def one_line_failure(result: subprocess.CompletedProcess[str], check: str) -> str:
    """The single stderr line of a failed check (asserting that it failed and said so in one line)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{check}: FAILED: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    runtime = HostRuntime()
    started: list[tuple[StageContext, Deployment]] = []
    addresses: dict[str, str] = {}

    def deploy(project: str) -> str:
        if project not in addresses:
            tmp = tmp_path_factory.mktemp(project)
            config = CONFIG.project(project)
            ctx = stage_context(config, "stable", tmp / "cell", timeout=30)
            pinned = pin_reused(ctx, config.build.for_release("stable"), config.ref("stable") or "main")
            deployment = runtime.deploy(ctx, local_target(tmp), pinned)
            started.append((ctx, deployment))
            addresses[project] = deployment.endpoints["port"]
        return addresses[project]

    yield deploy
    for ctx, deployment in started:
        runtime.teardown(ctx, deployment)


@pytest.fixture
def dead_address() -> str:
    """A 127.0.0.1 port nothing listens on."""
    (port,) = free_ports(1)
    return f"127.0.0.1:{port}"


def test_every_check_name_maps_to_a_module_with_a_main() -> None:
    assert set(CHECKS) == {"prometheus-query", "etcd-roundtrip", "nats-pubsub"}
    for name in CHECKS:
        module = importlib.import_module(module_of(name))
        assert name == module.NAME and callable(module.main)


def test_prometheus_query_passes_once_the_self_scrape_has_data(server: Server) -> None:
    result = run_check("prometheus-query", "--url", f"http://{server('prometheus')}", "--query", "up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("prometheus-query: passed: 'up' returned 1 series, e.g. up{instance=")


def test_prometheus_query_fails_on_a_bad_query_at_once_and_on_no_data_at_the_timeout(server: Server) -> None:
    url = f"http://{server('prometheus')}"
    started = time.monotonic()
    bad = one_line_failure(
        run_check("prometheus-query", "--url", url, "--query", "up{", "--timeout", "10"), "prometheus-query"
    )
    assert "query 'up{' rejected: invalid parameter \"query\"" in bad
    assert time.monotonic() - started < 5
    empty = run_check("prometheus-query", "--url", url, "--query", "no_such_metric_xyz", "--timeout", "1")
    assert "query 'no_such_metric_xyz' returned no series within 1 s (last: no series yet)" in one_line_failure(
        empty, "prometheus-query"
    )


def test_etcd_roundtrip_puts_gets_and_deletes_a_key(server: Server) -> None:
    result = run_check("etcd-roundtrip", "--endpoint", f"http://{server('etcd')}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("etcd-roundtrip: passed: put, get and delete of 'crosscloud-e2e/")


def test_etcd_roundtrip_against_something_that_is_not_etcd(server: Server) -> None:
    result = run_check("etcd-roundtrip", "--endpoint", f"http://{server('prometheus')}", "--timeout", "1")
    assert "(last: put: HTTP 404: 404 page not found)" in one_line_failure(result, "etcd-roundtrip")


def test_nats_pubsub_delivers_a_message_between_two_connections(server: Server) -> None:
    result = run_check("nats-pubsub", "--server", server("nats"))
    assert result.returncode == 0, result.stderr
    assert "-byte message on crosscloud.e2e." in result.stdout and "server 2.9.10" in result.stdout


CHECK_ARGS = {
    "prometheus-query": ("--url", "http://{address}"),
    "etcd-roundtrip": ("--endpoint", "http://{address}"),
    "nats-pubsub": ("--server", "{address}"),
}


@pytest.mark.parametrize("check", CHECK_ARGS)
def test_a_check_against_a_dead_endpoint_fails_with_one_clear_line(check: str, dead_address: str) -> None:
    option, value = CHECK_ARGS[check]
    started = time.monotonic()
    result = run_check(check, option, value.format(address=dead_address), "--timeout", "1")
    line = one_line_failure(result, check)
    assert line.endswith("within 1 s (last: connection refused)") and dead_address in line
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("check", CHECK_ARGS)
def test_bad_arguments_are_one_line_too(check: str) -> None:
    result = run_check(check, "--timeout", "soon")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{check}: bad arguments: ")


def test_nats_pubsub_refuses_a_server_that_wants_credentials() -> None:
    """A minimal NATS server that asks for authentication: the check says so instead of hanging."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            with listener.accept()[0] as conn:
                conn.sendall(b'INFO {"server_id":"fake","version":"0.0.1","auth_required":true}\r\n')
                conn.settimeout(5)
                while conn.recv(4096):
                    pass

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            result = run_check("nats-pubsub", "--server", f"127.0.0.1:{listener.getsockname()[1]}", "--timeout", "3")
        finally:
            thread.join(timeout=10)
    assert "requires authentication or TLS" in one_line_failure(result, "nats-pubsub")
