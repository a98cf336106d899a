"""``POST /webhooks/github`` with GitHub's real example payloads (octokit/webhooks), signed here with the
test secret. The status repository is a real bare repository; GitHub's API (for the release bump) is
replayed from a betamax cassette standing in for github.com. Size limits and the burst go through a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import EnvironBuilder

from crosscloud.errors import ConfigError
from crosscloud.records import CellKey
from crosscloud_app.github_app.delivery_store import CLAIM_TIMEOUT, DeliveryStore
from crosscloud_app.github_app.stable_ref_bump import branch_name, bump_stable_ref
from crosscloud_app.github_app.webhooks import EXTENSION, MAX_PAYLOAD_BYTES, WorkerPool, signature_ok
from crosscloud_app.web.status_state import EXTENSION as STATE
from crosscloud_app.web.status_state import REFRESH_REASONS, StatusState
from tests.helpers.app_results import hours_ago, result
from tests.helpers.github_keys import make_key
from tests.helpers.github_replay import replaying
from tests.helpers.paths import CNCF_2018, FIXTURES
from tests.helpers.status_repos import git

SECRET = "webhook secret for the tests"
STATUS_REPOSITORY = "octo-org/cross-cloud-status"
CONFIG_REPOSITORY = "octo-org/cross-cloud-config"
PAYLOADS = FIXTURES / "github-webhooks"


def payload(event: str, name: str = "payload", **repository: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / event / f"{name}.json").read_text())
    if repository:
        data["repository"].update(repository)
    return data


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(event: str, body: bytes, delivery: str | None = None, secret: str | None = SECRET) -> dict[str, str]:
    out = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if secret is not None:
        out["X-Hub-Signature-256"] = signed(body, secret)
    return out


def deliver(client: FlaskClient, event: str, data: Any, delivery: str | None = None, **kwargs: Any) -> Any:
    body = json.dumps(data).encode()
    return client.post("/webhooks/github", data=body, headers=headers(event, body, delivery, **kwargs))


@pytest.fixture(scope="module")
def app_key() -> str:
    return make_key()[0]


@pytest.fixture
def app_settings(tmp_path: Path, app_key: str) -> dict[str, Any]:
    return {
        "WEBHOOK_SECRET": SECRET,
        "REFRESH_SECONDS": 0,
        "MIRROR_DIR": str(tmp_path / "mirror"),
        "STATUS_REPOSITORY": STATUS_REPOSITORY,
        "CONFIG_REPOSITORY": CONFIG_REPOSITORY,
        "APP_ID": 4242,
        "PRIVATE_KEY": app_key,
        "GITHUB_CLIENT_OPTIONS": {"seconds_between_requests": None, "seconds_between_writes": None},
        "CI_WORKFLOWS": {"etcd": "release.yml"},
    }


@pytest.fixture
def hook_app(make_app: Callable[..., Flask], status_repo: Path, app_settings: dict[str, Any]) -> Flask:
    return make_app(status_repo, **app_settings)


@pytest.fixture
def hooks(hook_app: Flask) -> FlaskClient:
    return hook_app.test_client()


def workers(app: Flask) -> WorkerPool:
    pool: WorkerPool = app.extensions[EXTENSION]
    return pool


def store(app: Flask) -> DeliveryStore:
    return workers(app).store


@pytest.fixture
def served(hook_app: Flask) -> Iterator[str]:
    """The app behind werkzeug's threaded server on 127.0.0.1 (host:port)."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, hook_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- the signature --------------------------------------------------------------------------------------


def test_github_published_test_vector() -> None:
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_ok("It's a Secret to Everybody", b"Hello, World!", f"sha256={digest}")
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World?", f"sha256={digest}")
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World!", f"sha1={digest}")


def test_signed_ping_answers_the_zen(hooks: FlaskClient) -> None:
    response = deliver(hooks, "ping", payload("ping"))
    assert response.status_code == 200
    assert response.json["zen"] == "Anything added dilutes everything else."


@pytest.mark.parametrize("secret", [None, "not the secret"], ids=["missing", "wrong"])
def test_unsigned_or_wrongly_signed_is_401(hooks: FlaskClient, secret: str | None) -> None:
    response = deliver(hooks, "ping", payload("ping"), secret=secret)
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json["error"]["message"]


def test_tampered_body_is_401(hooks: FlaskClient) -> None:
    body = json.dumps(payload("ping")).encode()
    sent = headers("ping", body)
    response = hooks.post("/webhooks/github", data=body.replace(b"Anything", b"Something"), headers=sent)
    assert response.status_code == 401


def test_no_secret_configured_refuses_everything(make_app: Callable[..., Flask], status_repo: Path) -> None:
    client = make_app(status_repo, REFRESH_SECONDS=0).test_client()
    response = deliver(client, "ping", payload("ping"))
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in response.json["error"]["message"]


# -- size -----------------------------------------------------------------------------------------------


def test_too_large_by_content_length_is_refused_before_reading(served: str) -> None:
    connection = http.client.HTTPConnection(served, timeout=10)
    connection.putrequest("POST", "/webhooks/github")
    connection.putheader("Content-Length", str(MAX_PAYLOAD_BYTES + 1))
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("X-GitHub-Delivery", str(uuid.uuid4()))
    connection.endheaders(b"{}")  # 2 bytes of the announced 25 MB: the answer must not wait for the rest
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


def test_too_large_by_streamed_size_is_refused(served: str) -> None:
    """Chunked, so no Content-Length: the read itself stops one byte past the limit. (Signed, wrongly: a body
    without any signature is refused before it is read.)"""
    connection = http.client.HTTPConnection(served, timeout=30)
    connection.putrequest("POST", "/webhooks/github")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("X-Hub-Signature-256", "sha256=" + "0" * 64)
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("X-GitHub-Delivery", str(uuid.uuid4()))
    connection.endheaders()
    chunk = b" " * (1024 * 1024)
    try:
        for _ in range(MAX_PAYLOAD_BYTES // len(chunk) + 2):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: that is the point
    response = connection.getresponse()
    assert response.status == 413
    connection.close()


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, None], ids=["wrongly-signed", "unsigned"])
def test_an_unverified_body_is_never_held_whole_in_memory(hooks: FlaskClient, signature: str | None) -> None:
    """An 8 MiB body whose signature is wrong (or missing) is spooled and hashed as it arrives: the request
    allocates a small fraction of it (``bench/bench_hostile.py`` measures 16 concurrent 25 MiB bodies)."""
    body = b" " * (8 << 20)
    sent = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"}
    if signature:
        sent["X-Hub-Signature-256"] = signature
    environ = EnvironBuilder(path="/webhooks/github", method="POST", data=body, headers=sent).get_environ()
    tracemalloc.start()
    try:
        response = hooks.open(environ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 401
    assert peak < 2 << 20, f"{peak} bytes allocated for an unverified 8 MiB body"


def test_chunked_delivery_within_the_limit_is_read(served: str) -> None:
    body = json.dumps(payload("ping")).encode()
    connection = http.client.HTTPConnection(served, timeout=10)
    connection.request("POST", "/webhooks/github", body=iter([body[:100], body[100:]]), headers=headers("ping", body))
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["hook_id"] == 109948940
    connection.close()


# -- deliveries -----------------------------------------------------------------------------------------


def test_duplicate_delivery_is_handled_once_also_after_a_restart(
    make_app: Callable[..., Flask], status_repo: Path, app_settings: dict[str, Any]
) -> None:
    first = make_app(status_repo, **app_settings)
    delivery = str(uuid.uuid4())
    data = payload("installation", "created.payload")
    assert deliver(first.test_client(), "installation", data, delivery).status_code == 200
    again = deliver(first.test_client(), "installation", data, delivery)
    assert again.status_code == 200 and again.json["duplicate"] is True
    store(first).close()

    restarted = make_app(status_repo, **app_settings)  # same MIRROR_DIR: the deliveries database persists
    after = deliver(restarted.test_client(), "installation", data, delivery)
    assert after.json.get("duplicate") is True
    assert len(store(restarted).installations()) == 1
    other = deliver(restarted.test_client(), "installation", data)
    assert other.status_code == 200 and "duplicate" not in other.json
    assert len(store(restarted).installations()) == 2


def test_a_delivery_claimed_by_a_process_that_died_is_handled_on_redelivery(
    make_app: Callable[..., Flask], status_repo: Path, app_settings: dict[str, Any]
) -> None:
    """The app died with the delivery queued: its claim stays ``claimed``. The redelivery must be handled,
    not answered "already handled". The dead app is a real process that claimed and exited."""
    app = make_app(status_repo, **app_settings)
    delivery = str(uuid.uuid4())
    claimer = f"from pathlib import Path; from crosscloud_app.github_app.delivery_store import DeliveryStore; " \
              f"assert DeliveryStore(Path({str(store(app).path)!r})).claim({delivery!r}, 'installation')"  # fmt: skip
    subprocess.run([sys.executable, "-c", claimer], check=True, timeout=60)
    assert store(app).get(delivery).state == "claimed"  # type: ignore[union-attr]
    redelivered = deliver(app.test_client(), "installation", payload("installation", "created.payload"), delivery)
    assert redelivered.status_code == 200 and "duplicate" not in redelivered.json, redelivered.json
    assert store(app).get(delivery).state == "done"  # type: ignore[union-attr]
    assert len(store(app).installations()) == 1
    again = deliver(app.test_client(), "installation", payload("installation", "created.payload"), delivery)
    assert again.json["duplicate"] is True  # finished now: only a finished delivery is a duplicate


def test_a_claim_is_a_duplicate_while_it_runs_and_claimable_again_after_the_timeout(tmp_path: Path) -> None:
    now = [1_000_000.0]
    deliveries = DeliveryStore(tmp_path / "d.sqlite3", clock=lambda: now[0])
    assert deliveries.claim("d-1", "push")
    assert not deliveries.claim("d-1", "push")  # being handled, by this very process
    now[0] += CLAIM_TIMEOUT - 1
    assert not deliveries.claim("d-1", "push")
    now[0] += 2
    assert deliveries.claim("d-1", "push")  # lost: older than the timeout
    deliveries.finish("d-1", "done")
    now[0] += CLAIM_TIMEOUT * 10
    assert not deliveries.claim("d-1", "push")  # finished: a duplicate for ever


def test_claims_of_a_database_made_before_claims_had_owners_can_be_taken(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT, "
        "received_at TEXT NOT NULL, finished_at TEXT);"
        "INSERT INTO deliveries VALUES ('left', 'push', 'claimed', NULL, '2026-01-01T00:00:00+00:00', NULL);"
        "INSERT INTO deliveries VALUES ('over', 'push', 'done', 'ok', '2026-01-01T00:00:00+00:00', NULL);"
    )
    old.commit()
    old.close()
    deliveries = DeliveryStore(path)
    assert deliveries.claim("left", "push") and not deliveries.claim("over", "push")


def test_installation_events_are_recorded(hooks: FlaskClient, hook_app: Flask) -> None:
    assert deliver(hooks, "installation", payload("installation", "created.payload")).status_code == 200
    added = deliver(hooks, "installation_repositories", payload("installation_repositories", "added.payload"))
    assert added.status_code == 200
    deleted = deliver(hooks, "installation", payload("installation", "deleted.payload"))
    assert deleted.status_code == 200
    created, repos, gone = store(hook_app).installations()
    assert (created.action, created.installation_id, created.account) == ("created", 957387, "Codertocat")
    assert created.repositories_added == ("Codertocat/Hello-World",)
    assert (repos.event, repos.repositories_added) == ("installation_repositories", ("Codertocat/Space",))
    assert gone.action == "deleted" and gone.repositories_removed and not gone.repositories_added


def test_unknown_event_is_acknowledged(hooks: FlaskClient) -> None:
    response = deliver(hooks, "check_run", payload("check_run", "rerequested.payload"))
    assert response.status_code == 202
    assert response.json["message"].startswith("ignored")


def test_invalid_json_is_400(hooks: FlaskClient) -> None:
    body = b"{not json"
    response = hooks.post("/webhooks/github", data=body, headers=headers("push", body))
    assert response.status_code == 400


def test_form_encoded_delivery_is_read(hooks: FlaskClient) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(payload("ping"))}).encode()
    sent = {**headers("ping", body), "Content-Type": "application/x-www-form-urlencoded"}
    assert hooks.post("/webhooks/github", data=body, headers=sent).json["hook_id"] == 109948940


# -- push: refresh ---------------------------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_push_to_the_status_repository_refreshes(
    hooks: FlaskClient, hook_app: Flask, status_repo: Path, writer_for: Callable[..., Any]
) -> None:
    state: StatusState = hook_app.extensions[STATE]
    before = state.snapshot().commit
    landed = writer_for(status_repo).write([result("etcd", "stable", "e2e", "success", at=0.01, run=200)]).commit
    assert state.snapshot().commit == before  # the timer is off: nothing refreshes by itself

    elsewhere = deliver(hooks, "push", payload("push", full_name="someone/else") | {"ref": "refs/heads/main"})
    assert elsewhere.status_code == 202 and elsewhere.json["message"].startswith("ignored")
    pushed = payload("push", full_name=STATUS_REPOSITORY) | {"ref": "refs/heads/main", "after": landed}
    response = deliver(hooks, "push", pushed)
    assert response.status_code == 202
    assert wait_for(lambda: state.snapshot().commit == landed)


def test_refresh_metrics_take_a_small_fixed_set_of_labels(hooks: FlaskClient, hook_app: Flask) -> None:
    """Each push names its own commit; the refresh counter must not gain a series per delivery."""
    state: StatusState = hook_app.extensions[STATE]
    for n in range(5):
        pushed = payload("push", full_name=STATUS_REPOSITORY) | {"ref": "refs/heads/main", "after": f"{n:040x}"}
        assert deliver(hooks, "push", pushed).status_code == 202
        state.refresh_now("push", f"{n:040x}")
    text = hooks.get("/metrics").get_data(as_text=True)
    reasons = set(re.findall(r'^crosscloud_refreshes_total\{reason="([^"]*)"\}', text, re.M))
    assert reasons <= set(REFRESH_REASONS) | {"other"}, reasons
    assert "push" in reasons


# -- release: the stable_ref bump -----------------------------------------------------------------------


def release_payload(tag: str = "v3.4.24", **release: Any) -> dict[str, Any]:
    data = payload("release", "published.payload", full_name="etcd-io/etcd")
    data["release"].update(tag_name=tag, html_url=f"https://github.com/etcd-io/etcd/releases/tag/{tag}", **release)
    return data


def test_release_opens_one_pull_request(hooks: FlaskClient, hook_app: Flask) -> None:
    delivery = str(uuid.uuid4())
    with replaying("release_bump") as github:
        assert deliver(hooks, "release", release_payload(), delivery).status_code == 202
        assert workers(hook_app).drain(30)
        done = store(hook_app).get(delivery)
        assert done is not None and done.state == "done", done
        assert done.outcome == f"opened https://github.com/{CONFIG_REPOSITORY}/pull/7"

        assert deliver(hooks, "release", release_payload(), delivery).json["duplicate"] is True
        second = str(uuid.uuid4())
        assert deliver(hooks, "release", release_payload(), second).status_code == 202
        assert workers(hook_app).drain(30)
        again = store(hook_app).get(second)
        assert again is not None and again.outcome == f"exists https://github.com/{CONFIG_REPOSITORY}/pull/7"
    # every recorded answer was used; a second pull request or branch would have had no answer
    assert github.paths().count(f"POST /repos/{CONFIG_REPOSITORY}/pulls") == 1
    assert github.paths().count(f"POST /repos/{CONFIG_REPOSITORY}/git/refs") == 1


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (release_payload(prerelease=True), "non-prereleases"),
        (payload("release", "published.payload"), "not the repository of an active project"),
        (payload("release", "deleted.payload", full_name="etcd-io/etcd"), "only published"),
    ],
    ids=["prerelease", "other-repository", "deleted"],
)
def test_releases_that_move_nothing(hooks: FlaskClient, data: dict[str, Any], why: str) -> None:
    with replaying("empty"):  # no GitHub call at all
        response = deliver(hooks, "release", data)
    assert response.status_code == 202
    assert why in response.json["message"]


# -- workflow_run: the project's own CI as its build ----------------------------------------------------


def ci_run(run_id: int = 289782451, conclusion: str = "failure", **run: Any) -> dict[str, Any]:
    data = copy.deepcopy(payload("workflow_run", "completed.payload", full_name="etcd-io/etcd"))
    data["workflow_run"].update(
        {
            "id": run_id,
            "run_started_at": hours_ago(0.2),
            "updated_at": hours_ago(0.1),
            "conclusion": conclusion,
            "head_branch": "v3.4.23",
            "event": "push",
            "head_repository": {**data["workflow_run"]["head_repository"], "full_name": "etcd-io/etcd"},
            "repository": {**data["workflow_run"]["repository"], "full_name": "etcd-io/etcd"},
            "path": ".github/workflows/release.yml",
            "html_url": f"https://github.com/etcd-io/etcd/actions/runs/{run_id}",
            **run,
        }
    )
    return data


def test_workflow_run_records_the_build(hooks: FlaskClient, hook_app: Flask, status_repo: Path) -> None:
    delivery = str(uuid.uuid4())
    assert deliver(hooks, "workflow_run", ci_run(), delivery).status_code == 202
    assert workers(hook_app).drain(30)
    outcome = store(hook_app).get(delivery)
    assert outcome is not None and outcome.outcome is not None
    assert outcome.outcome.startswith("recorded etcd stable v3.4.23 build: failed"), outcome
    record = json.loads(git(status_repo, "show", "main:results/etcd/stable/amd64/build.json"))
    assert record["status"] == "failed"
    assert record["url"] == "https://github.com/etcd-io/etcd/actions/runs/289782451"
    assert record["sha"] == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert record["run"] == {
        "repository": "etcd-io/etcd",
        "id": 289782451,
        "attempt": 1,
        "workflow": "test",
        "url": "https://github.com/etcd-io/etcd/actions/runs/289782451",
    }
    assert "etcd stable v3.4.23 build: failed" in git(status_repo, "log", "-1", "--format=%s", "main")
    state: StatusState = hook_app.extensions[STATE]  # the app asked for a refresh after writing
    assert wait_for(lambda: CellKey("etcd", "stable", "amd64", "build") in state.snapshot().current)


@pytest.mark.parametrize(
    ("run", "why"),
    [
        ({"path": ".github/workflows/other.yml"}, "no project builds"),
        ({"head_branch": "feature/x", "head_sha": "1" * 40}, "no project builds"),
        ({"conclusion": "action_required"}, "not a result"),
        (
            {"event": "pull_request", "head_repository": {"full_name": "mallory/etcd-fork"}},
            "ran on 'pull_request'",
        ),
        ({"event": "pull_request"}, "ran on 'pull_request'"),
        ({"event": "pull_request_target"}, "ran on 'pull_request_target'"),
        ({"event": "repository_dispatch"}, "ran on 'repository_dispatch'"),
        ({"head_repository": {"full_name": "mallory/etcd-fork"}}, "ran on the code of mallory/etcd-fork"),
        ({"head_repository": None}, "ran on the code of an unnamed repository"),
        ({"head_repository": "etcd-io/etcd"}, "ran on the code of an unnamed repository"),
        ({"head_branch": "feature/x", "head_sha": "v3.4.23"}, "no project builds"),
    ],
    ids=[
        "other-workflow", "not-a-release-ref", "no-result", "fork-pull-request", "own-pull-request",
        "pull-request-target", "repository-dispatch", "fork-head", "no-head-repository", "head-repository-a-string",
        "sha-named-like-the-tag",
    ],
)  # fmt: skip
def test_workflow_runs_that_are_not_builds(
    hooks: FlaskClient, hook_app: Flask, status_repo: Path, run: dict[str, Any], why: str
) -> None:
    """A signed ``workflow_run`` of the project's repository that is not its own release build (a fork's pull
    request on a branch named like ``stable_ref``, ...) is acknowledged and ignored, and writes nothing."""
    tip = git(status_repo, "rev-parse", "main")
    response = deliver(hooks, "workflow_run", ci_run(**run))
    assert response.status_code == 202
    assert why in response.json["message"], response.json
    assert workers(hook_app).drain(10)
    assert git(status_repo, "rev-parse", "main") == tip


# -- a burst ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_burst_is_bounded_and_answered_in_time(
    make_app: Callable[..., Flask], status_repo: Path, app_settings: dict[str, Any]
) -> None:
    app = make_app(status_repo, **app_settings, WEBHOOK_WORKERS=2, WEBHOOK_QUEUE=8)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def one(n: int) -> tuple[str, int, float]:
        body = json.dumps(ci_run(run_id=1000 + n, conclusion="success", run_attempt=1)).encode()
        delivery = f"burst-{n}"
        started = time.monotonic()
        connection = http.client.HTTPConnection(f"127.0.0.1:{server.server_port}", timeout=15)
        connection.request("POST", "/webhooks/github", body=body, headers=headers("workflow_run", body, delivery))
        status = connection.getresponse().status
        connection.close()
        return delivery, status, time.monotonic() - started

    try:
        with ThreadPoolExecutor(max_workers=20) as clients:
            answers = list(clients.map(one, range(200)))
        assert workers(app).drain(120)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    statuses = [status for _, status, _ in answers]
    assert set(statuses) <= {202, 503}
    assert statuses.count(503) > 0 and statuses.count(202) > 0
    assert max(seconds for _, _, seconds in answers) < 10
    for delivery, status, _ in answers:
        handled = store(app).get(delivery)
        if status == 503:
            assert handled is None  # the claim was given back: a redelivery will be handled
        else:
            assert handled is not None and handled.state == "done", handled
    assert json.loads(git(status_repo, "show", "main:results/etcd/stable/amd64/build.json"))["status"] == "success"


# -- the textual stable_ref edit --------------------------------------------------------------------------

SMALL = """\
# the matrix
clouds:
  local: {kubernetes: false}   # host only
projects:
  etcd:
    # moved by release PRs
    stable_ref: {value}  # keep me
    head_ref: main
"""


@pytest.mark.parametrize(
    ("before", "after"),
    [('"v3.4.23"', '"v3.4.24"'), ("'v3.4.23'", "'v3.4.24'"), ("v3.4.23", "v3.4.24")],
    ids=["double-quoted", "single-quoted", "plain"],
)
def test_bump_changes_only_the_value(before: str, after: str) -> None:
    text = SMALL.replace("{value}", before)
    assert bump_stable_ref(text, "etcd", "v3.4.24") == SMALL.replace("{value}", after)


def test_bump_quotes_a_plain_value_that_would_change_type() -> None:
    assert 'stable_ref: "1.10"  # keep me' in bump_stable_ref(SMALL.replace("{value}", "v1"), "etcd", "1.10")


def test_bump_adds_a_missing_stable_ref() -> None:
    text = SMALL.replace("    stable_ref: {value}  # keep me\n", "")
    bumped = bump_stable_ref(text, "etcd", "v3.4.24")
    assert bumped == text.replace(
        "    # moved by release PRs\n", '    # moved by release PRs\n    stable_ref: "v3.4.24"\n'
    )


def test_bump_of_the_original_cncf_configuration_keeps_every_other_line() -> None:
    text = CNCF_2018.read_text()
    bumped = bump_stable_ref(text, "coredns", "v1.3.0")
    changed = [(a, b) for a, b in zip(text.splitlines(), bumped.splitlines(), strict=True) if a != b]
    assert changed == [('    stable_ref: "v1.2.6"', '    stable_ref: "v1.3.0"')]
    assert bump_stable_ref(bumped, "coredns", "v1.3.0") == bumped


def test_bump_of_an_unknown_project_names_it() -> None:
    with pytest.raises(ConfigError, match="no project 'linkerd'"):
        bump_stable_ref(SMALL.replace("{value}", "v1"), "linkerd", "v2")


def test_branch_names_are_ref_safe() -> None:
    assert branch_name("etcd", "v3.4.24") == "crosscloud/bump-etcd-v3.4.24"
    assert branch_name("onap", "casablanca 3.0~rc1") == "crosscloud/bump-onap-casablanca-3.0-rc1"
