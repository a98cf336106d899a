"""The bad-input corpus (``tests/hostile/bad_inputs/``): every case gets a clear answer naming what is at fault,
and nothing stored changes (the status repository's refs, the configuration file's bytes).

Each case is a data file; see ``tests/hostile/bad_inputs/README.md`` for the format."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud import layout
from crosscloud.cli import main
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION
from tests.helpers.app_results import ALL_GREEN, pipeline, result
from tests.helpers.status_repos import record_data, snapshot

CORPUS = Path(__file__).parent / "bad_inputs"
SECRET = "corpus-webhook-secret"
REFRESH_TOKEN = "corpus-refresh-token"


@dataclass(frozen=True)
class Case:
    path: Path
    headers: dict[str, str]
    payload: bytes

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def load(path: Path) -> Case:
    """Header lines ``#! key: value`` at the top, then the input byte for byte."""
    raw = path.read_bytes()
    headers: dict[str, str] = {}
    while raw.startswith(b"#! "):
        line, _, raw = raw.partition(b"\n")
        key, _, value = line[3:].decode().partition(": ")
        headers[key] = value
    return Case(path, headers, raw)


def cases(kind: str) -> list[Any]:
    found = sorted((CORPUS / kind).iterdir())
    return [pytest.param(load(p), id=p.stem) for p in found]


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_the_corpus_is_big_and_every_case_says_what_to_expect() -> None:
    every = [load(p) for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(every) >= 100
    kinds = {c.path.parent.name for c in every}
    assert kinds == {"config", "record", "cli", "http", "body", "webhook", "repo"}
    for case in every:
        assert case.headers, f"{case.name} states no expected outcome"


# -- files and arguments of the CLI -------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("config"))
def test_bad_configuration(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cross-cloud.yml"
    config.write_bytes(case.payload)
    code, err = run(capsys, ["validate", str(config)])
    assert code == 2, err
    assert err.startswith("crosscloud: error: ") and str(config) in err and case.headers["message"] in err, err
    target = tmp_path / "new.git"
    code, err = run(capsys, ["init", "--repo", str(target), "--config", str(config)])
    assert code == 2 and case.headers["message"] in err, err
    assert not target.exists()
    assert config.read_bytes() == case.payload


@pytest.mark.parametrize("case", cases("record"))
def test_bad_record_file(case: Case, status_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record_data(project="nats")))
    bad = tmp_path / case.path.name
    bad.write_bytes(case.payload)
    before = snapshot(status_repo)
    code, err = run(capsys, ["record", "--repo", str(status_repo), str(good), str(bad)])
    assert code == 2, err
    assert err.startswith("crosscloud: error: ") and case.headers["message"] in err, err
    assert bad.name in err  # the file at fault, even when it is judged against the repository's configuration
    assert len(err) < 2000
    assert snapshot(status_repo) == before  # the good file of the same call did not land either


@pytest.mark.parametrize("case", cases("cli"))
def test_bad_arguments(case: Case, status_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("{repo}", str(status_repo)).replace("{tmp}", str(tmp_path)) for a in json.loads(case.payload)]
    before = snapshot(status_repo)
    code, err = run(capsys, args)
    assert code == int(case.headers["exit"]), err
    assert case.headers.get("message", "") in err, err
    assert snapshot(status_repo) == before
    assert not (tmp_path / "pwned").exists()


# -- the app ------------------------------------------------------------------------------------------
@dataclass
class Served:
    repo: Path
    app: Flask
    client: FlaskClient


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app over one seeded repository for every HTTP case (each case checks the repository did not move)."""
    root = tmp_path_factory.mktemp("corpus")
    repo = root / "status.git"
    init_status_repo(repo)
    writer = StatusRepoWriter(Remote.parse(str(repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))
    writer.write(
        pipeline("prometheus", "stable", ALL_GREEN, run=100)
        + pipeline("etcd", "stable", {"build": "success", "provision": "success", "deploy": "failed"})
        + [result("nats", "head", "build", "running", at=0.1, ref="v2.15.1", run=101)]
    )
    app = create_app(
        {
            "TESTING": True,
            "STATUS_REPO": str(repo),
            "MIRROR_DIR": str(root / "mirror"),
            "WEBHOOK_SECRET": SECRET,
            "STATUS_REPOSITORY": "example/status",
            "REFRESH_TOKEN": REFRESH_TOKEN,
            "SUBMIT_TOKEN": REFRESH_TOKEN,
            "NIGHTLY_REPOSITORY": "example/cross-cloud",
        }
    )
    yield Served(repo, app, app.test_client())
    app.extensions[EXTENSION].close()
    shutil.rmtree(root, ignore_errors=True)


def _error_of(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json", response.data[:200]
    error = response.get_json()["error"]
    assert isinstance(error, dict) and error["message"]
    return error


@pytest.mark.parametrize("case", cases("http"))
def test_bad_request(case: Case, served: Served) -> None:
    method, target = case.payload.decode().strip().split(" ", 1)
    before = snapshot(served.repo)
    response = served.client.open(target, method=method)
    assert response.status_code == int(case.headers["status"]), response.data[:300]
    path = target.split("?")[0]
    if path.startswith("/api/"):
        error = _error_of(response)
        if "parameter" in case.headers:
            assert case.headers["parameter"] in (error.get("parameter") or "") + error["message"], error
    elif path.startswith("/badge/"):
        assert response.mimetype == "image/svg+xml"  # an "unknown" badge, whatever follows /badge/
    else:
        assert response.mimetype == "text/html"
    for value in response.headers.values():
        assert "\r" not in value and "\n" not in value
    assert snapshot(served.repo) == before


@pytest.mark.parametrize("case", cases("body"))
def test_bad_body(case: Case, served: Served) -> None:
    before = snapshot(served.repo)
    response = served.client.post(
        case.headers["path"],
        data=case.payload,
        headers={"Content-Type": case.headers["content-type"], "Authorization": f"Bearer {REFRESH_TOKEN}"},
    )
    assert response.status_code == int(case.headers["status"]), response.data[:300]
    assert case.headers["message"] in _error_of(response)["message"]
    assert snapshot(served.repo) == before


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("case", cases("webhook"))
def test_bad_webhook_payload(case: Case, served: Served) -> None:
    """Signed correctly, so the payload itself is what is judged."""
    before = snapshot(served.repo)
    delivery = "corpus-" + re.sub(r"[^a-z0-9-]", "-", case.path.stem)
    response = served.client.post(
        "/webhooks/github",
        data=case.payload,
        headers={
            "Content-Type": case.headers["content-type"],
            "X-GitHub-Event": case.headers["event"],
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(case.payload),
        },
    )
    status = int(case.headers["status"])
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    message = body["error"]["message"] if status >= 400 else body["message"]
    assert case.headers["message"] in message, message
    assert served.app.extensions["crosscloud.webhooks"].drain(10)
    assert snapshot(served.repo) == before


# -- a hostile file committed straight into the status repository ---------------------------------------
def commit_by_hand(repo: Path, work: Path, files: dict[str, bytes]) -> str:
    """Commit ``files`` (path -> content) onto main through a clone, as anyone with push access could;
    returns the new tip. Any file name git accepts goes (a newline, a trailing space, any letters)."""
    from tests.helpers.fixture_project import _git

    if not work.exists():
        subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    _git(work, "pull", "-q", "origin", "main")
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        _git(work, "add", "--", path)
    _git(work, "commit", "-q", "-m", "by hand")
    _git(work, "push", "-q", "origin", "HEAD:main")
    return _git(work, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("case", cases("repo"))
def test_a_hostile_file_in_the_status_repository(
    case: Case, status_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file is committed straight into the status repository, bypassing the writer. A path that is not a
    cell's is ignored (and counted); a cell file that is not a good record is one error cell. Either way the
    rest is served: the CLI reads, a running app moves to the new commit, a freshly started app is ready."""
    from crosscloud.records import CellKey
    from crosscloud.status_repo.reader import StatusIndex
    from crosscloud_app.web import metrics

    writer = StatusRepoWriter(Remote.parse(str(status_repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))
    writer.write(pipeline("nats", "stable", {"build": "success"}, run=100))
    config = {"TESTING": True, "STATUS_REPO": str(status_repo), "REFRESH_SECONDS": 0}
    running = create_app({**config, "MIRROR_DIR": str(tmp_path / "running")})
    state = running.extensions[EXTENSION]
    ignored_before = metrics.value("crosscloud_ignored_paths_total") or 0.0
    path = json.loads(case.headers["path"])
    tip = commit_by_hand(status_repo, tmp_path / "work", {path: case.payload})
    try:
        assert state.refresh_now("request").commit == tip  # the running app moves on
        assert running.test_client().get("/").status_code == 200
        fresh = create_app({**config, "MIRROR_DIR": str(tmp_path / "fresh")})
        try:
            assert fresh.test_client().get("/healthz").status_code == 200
            assert fresh.test_client().get("/").status_code == 200
        finally:
            fresh.extensions[EXTENSION].close()
        for args in (["status", "--json"], ["history", "--project", "nats"]):
            code, err = run(capsys, [*args, "--repo", str(status_repo)])
            assert code == 0, err
        index = StatusIndex(status_repo)
        stats = index.refresh()
        current = index.current()
        nats = current[CellKey("nats", "stable", "amd64", "build")]
        assert nats.status == "success" and nats.error is None
        if case.headers["expect"] == "ignored":
            assert stats.ignored == 1 and stats.ignored_paths == (path,)
            assert list(current) == [nats.key]
            assert (metrics.value("crosscloud_ignored_paths_total") or 0.0) - ignored_before >= 1
            assert "not a cell" not in capsys.readouterr().err
        else:
            key = layout.parse_cell_path(path)
            assert key is not None and current[key].status is None
            assert case.headers["message"] in (current[key].error or ""), current[key].error
    finally:
        state.close()


def test_a_huge_file_is_an_error_cell_never_read_nor_echoed(
    status_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record file far over ``MAX_RECORD_BYTES`` (here 4 MiB, mostly ``reason``; ``bench/bench_hostile.py``
    measures 150 MB): its size is checked with ``cat-file --batch-check`` and its content is never read by
    the reader, the writer or the app, so no answer (history, cell history, pages, feed) carries it."""
    from crosscloud.records import MAX_RECORD_BYTES
    from crosscloud.status_repo.git import Git

    batches: list[bytes] = []
    real_run = Git.run

    def watched(self: Git, *args: str, input: bytes | None = None, check: bool = True) -> Any:
        if args[:2] == ("cat-file", "--batch"):
            batches.append(input or b"")
        return real_run(self, *args, input=input, check=check)

    monkeypatch.setattr(Git, "run", watched)
    writer = StatusRepoWriter(Remote.parse(str(status_repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))
    writer.write(pipeline("nats", "stable", {"build": "success"}, run=100))
    huge = json.dumps(record_data(status="failed", reason="x" * (4 << 20))).encode()
    path = "results/etcd/stable/amd64/local/host/deploy.json"
    commit_by_hand(status_repo, tmp_path / "work", {path: huge})
    blob = subprocess.run(["git", "--git-dir", str(status_repo), "rev-parse", f"main:{path}"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    app = create_app({"TESTING": True, "STATUS_REPO": str(status_repo), "MIRROR_DIR": str(tmp_path / "m")})
    try:
        client = app.test_client()
        answers = {
            target: client.get(target)
            for target in (
                "/", "/projects/etcd", "/projects/etcd/stable/local", "/feed.xml", "/feed.xml?project=etcd",
                "/api/v1/history", "/api/v1/history?project=etcd", "/api/v1/history/etcd/stable/local/deploy",
                "/api/v1/cells", "/badge/etcd/stable/local.svg",
            )
        }  # fmt: skip
        for target, answer in answers.items():
            assert answer.status_code == 200, target
            assert len(answer.data) < MAX_RECORD_BYTES and b"xxxxxxxxxxxxxxxx" not in answer.data, target
        cells = answers["/api/v1/cells"].get_json()
        assert "too large" in json.dumps(cells)
        history = answers["/api/v1/history/etcd/stable/local/deploy"].get_json()
        assert "too large" in json.dumps(history)
        assert b"too large" in answers["/projects/etcd/stable/local"].data
        assert batches and not any(blob.encode() in batch or f":{path}".encode() in batch for batch in batches)
        # the next genuine result repairs the cell, and the writer never read the huge file either
        genuine = writer.write(pipeline("etcd", "stable", {"deploy": "success"}, run=200))
        assert genuine.written and not genuine.superseded
    finally:
        app.extensions[EXTENSION].close()
    assert not any(blob.encode() in batch for batch in batches)


def test_a_file_nested_too_deeply_breaks_only_its_own_cell(status_repo: Path, tmp_path: Path) -> None:
    """40 kB of nested arrays exhaust Python's stack in ``json.loads``: the reader must index it as one
    broken cell instead of failing the whole refresh (which would freeze every page on the old state)."""
    from crosscloud.status_repo.reader import StatusIndex
    from tests.helpers.fixture_project import _git

    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(status_repo), str(work)], check=True, capture_output=True)
    cell = work / "results" / "etcd" / "stable" / "amd64" / "local" / "host" / "deploy.json"
    cell.parent.mkdir(parents=True)
    cell.write_text("[" * 20_000 + "]" * 20_000)
    good = work / "results" / "nats" / "stable" / "amd64" / "local" / "host" / "deploy.json"
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps(record_data(project="nats"), indent=2))
    _git(work, "add", "results")
    _git(work, "commit", "-q", "-m", "hostile file")
    _git(work, "push", "-q", "origin", "HEAD:main")

    index = StatusIndex(status_repo)
    index.refresh()
    current = {str(key.project): entry for key, entry in index.current().items()}
    assert "nested too deeply" in (current["etcd"].error or "")
    assert current["nats"].error is None and current["nats"].status == "success"
