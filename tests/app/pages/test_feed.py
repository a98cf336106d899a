"""``/feed.xml`` over a real status repository with a known history: the entries are the status changes,
newest first, the XML parses as Atom, hostile names stay text, and the ETag gives 304."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crosscloud import layout
from crosscloud.status_repo.reader import StatusIndex
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud_app.pages import feed
from crosscloud_app.pages.feed import FEED_CACHE_SIZE, _Cache, status_changes
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import night
from tests.helpers.status_repos import make_record

A = "{http://www.w3.org/2005/Atom}"
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "status-data" / "cross-cloud.yml"
HOSTILE = "<script>alert(1)</script> & co"


@pytest.fixture
def history(status_repo: Path, writer_for: Callable[..., StatusRepoWriter]) -> Path:
    """etcd's deploy: green, red, red, green (its build green every night); prometheus' deploy red once."""
    writer = writer_for(status_repo)
    night(writer, 1, {"build": "success", "deploy": "success"})
    night(writer, 2, {"build": "success", "deploy": "failed"})
    night(writer, 3, {"build": "success", "deploy": "failed"})
    night(writer, 4, {"build": "success", "deploy": "success"})
    night(writer, 5, {"deploy": "failed"}, project="prometheus")
    return status_repo


def parse(body: bytes) -> ET.Element:
    """Our own answer, as a feed reader would read it (no DTD or entities in it to defuse)."""
    return ET.fromstring(body)  # noqa: S314


def entries(body: bytes) -> list[dict[str, Any]]:
    root = parse(body)
    out = []
    for entry in root.findall(f"{A}entry"):
        links = {link.get("rel"): link.get("href") for link in entry.findall(f"{A}link")}
        out.append(
            {
                "id": entry.findtext(f"{A}id"),
                "title": entry.findtext(f"{A}title"),
                "updated": entry.findtext(f"{A}updated"),
                "content": entry.findtext(f"{A}content"),
                "links": links,
            }
        )
    return out


def test_entries_are_the_status_changes_newest_first(make_app: Callable[..., Flask], history: Path) -> None:
    app = make_app(history, PUBLIC_URL="https://ci.example.org/")
    response = app.test_client().get("/feed.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = parse(response.data)
    assert root.tag == f"{A}feed"
    assert root.findtext(f"{A}id") == "https://ci.example.org/feed.xml"
    assert root.findtext(f"{A}title") == "Cross-Cloud CI: status changes"
    assert root.findtext(f"{A}updated") == "2026-11-05T03:00:30Z"
    self_link = [link for link in root.findall(f"{A}link") if link.get("rel") == "self"]
    assert [link.get("href") for link in self_link] == ["https://ci.example.org/feed.xml"]
    assert root.find(f"{A}author/{A}name") is not None

    found = entries(response.data)
    # night 4's build repeated success (no change) and night 3's deploy repeated failed (no change)
    assert [e["title"] for e in found] == [
        "Prometheus stable deploy on Local: failed (first result)",
        "etcd stable deploy on Local: success (was failed)",
        "etcd stable deploy on Local: failed (was success)",
        "etcd stable deploy on Local: success (first result)",
        "etcd stable build: success (first result)",
    ]
    assert [e["updated"] for e in found[:3]] == ["2026-11-05T03:00:30Z", "2026-11-04T03:01:30Z", "2026-11-02T03:01:30Z"]
    red = found[2]
    assert red["links"]["alternate"] == "https://ci.example.org/projects/etcd/stable/local?arch=amd64"
    assert red["links"]["related"] == "https://github.com/example/etcd/actions/runs/2/job/1"
    assert "Reason: deploy failed on night 2" in red["content"]
    assert found[-1]["links"]["alternate"] == "https://ci.example.org/projects/etcd"
    assert len({e["id"] for e in found}) == len(found)
    assert all(e["id"].startswith("urn:uuid:") for e in found)


def test_project_filter_and_limit(make_app: Callable[..., Flask], history: Path) -> None:
    client = make_app(history).test_client()
    only = entries(client.get("/feed.xml?project=prometheus").data)
    assert [e["title"] for e in only] == ["Prometheus stable deploy on Local: failed (first result)"]
    root = parse(client.get("/feed.xml?project=etcd").data)
    assert root.findtext(f"{A}title") == "Cross-Cloud CI: status changes of etcd"
    assert root.findtext(f"{A}id") == "http://localhost/feed.xml?project=etcd"
    assert client.get("/feed.xml?project=nope").status_code == 404
    assert client.get("/feed.xml?project=").status_code == 400

    state: StatusState = client.application.extensions[EXTENSION]
    with state.query() as index:
        assert [c.status for c in status_changes(index, "etcd", limit=2)] == ["success", "failed"]
        assert status_changes(index, "nats") == []


def test_links_never_come_from_a_hostile_host_header(make_app: Callable[..., Flask], history: Path) -> None:
    """``Host: evil.example`` must not reach the feed's links, nor grow its cache."""
    local = make_app(history).test_client()  # TESTING: loopback names only
    assert local.get("/feed.xml").status_code == 200
    refused = local.get("/feed.xml", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and b"evil.example/" not in refused.data

    public = make_app(history, PUBLIC_URL="https://ci.example.org/").test_client()
    for n in range(4000):
        answer = public.get("/feed.xml", headers={"Host": f"h{n}.evil.example"})
        assert answer.status_code == 200 and b"evil" not in answer.data
    root = parse(answer.data)
    assert root.findtext(f"{A}id") == "https://ci.example.org/feed.xml"
    cache = public.application.extensions["crosscloud.feed"]
    assert len(cache.bodies) == 1  # one feed, whatever the Host

    listed = make_app(history, ALLOWED_HOSTS=["dash.example"]).test_client()
    assert parse(listed.get("/feed.xml", headers={"Host": "dash.example"}).data).findtext(f"{A}id") == (
        "http://dash.example/feed.xml"
    )
    assert listed.get("/feed.xml", headers={"Host": "evil.example"}).status_code == 400


def test_the_feed_cache_is_bounded() -> None:
    cache = _Cache()
    for n in range(FEED_CACHE_SIZE * 3):
        cache.put("c", (f"p{n}", "https://ci.example.org"), b"x")
        assert len(cache.bodies) <= FEED_CACHE_SIZE


def test_etag_and_304_follow_the_commit(
    make_app: Callable[..., Flask], history: Path, writer_for: Callable[..., StatusRepoWriter]
) -> None:
    app = make_app(history)
    client = app.test_client()
    first = client.get("/feed.xml")
    tag = first.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = client.get("/feed.xml", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == tag
    assert client.get("/feed.xml?project=etcd", headers={"If-None-Match": tag}).status_code == 200
    assert client.get("/feed.xml", headers={"If-None-Match": f"W/{tag}"}).status_code == 200  # strong only

    night(writer_for(history), 6, {"deploy": "failed"})
    state: StatusState = app.extensions[EXTENSION]
    state.refresh_now("test")
    fresh = client.get("/feed.xml", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != tag
    assert entries(fresh.data)[0]["title"] == "etcd stable deploy on Local: failed (was success)"


def test_hostile_display_name_renders_as_text(
    tmp_path: Path, make_app: Callable[..., Flask], writer_for: Callable[..., StatusRepoWriter]
) -> None:
    config = tmp_path / "cross-cloud.yml"
    text = DEFAULT_CONFIG.read_text()
    assert "    display_name: etcd\n" in text
    config.write_text(text.replace("    display_name: etcd\n", f"    display_name: {HOSTILE!r}\n"))
    repo = tmp_path / "hostile.git"
    init_status_repo(repo, config)
    night(writer_for(repo), 1, {"deploy": "failed"})
    body = make_app(repo).test_client().get("/feed.xml?project=etcd").data
    assert b"<script>" not in body
    assert b"&lt;script&gt;" in body
    root = parse(body)
    assert root.findtext(f"{A}title") == f"Cross-Cloud CI: status changes of {HOSTILE}"
    assert entries(body)[0]["title"] == f"{HOSTILE} stable deploy on Local: failed (first result)"


def test_the_feed_shows_results_not_steps(
    make_app: Callable[..., Flask], status_repo: Path, writer_for: Callable[..., StatusRepoWriter]
) -> None:
    """Every stage writes ``running`` and then its result: the feed never announces "running", and a result is
    compared with the result before it ("success (was failed)"), never with its own start."""
    writer = writer_for(status_repo)

    def step(n: int, status: str) -> None:
        started = f"2026-11-{n:02d}T03:00:00Z"
        done = None if status == "running" else f"2026-11-{n:02d}T03:05:00Z"
        reason = "deploy failed" if status == "failed" else None
        writer.write([make_record(status=status, started_at=started, finished_at=done, reason=reason)])

    for n, status in ((1, "success"), (2, "failed"), (3, "success")):
        step(n, "running")
        step(n, status)
    step(4, "running")  # a run in progress: no result yet
    titles = [e["title"] for e in entries(make_app(status_repo).test_client().get("/feed.xml").data)]
    assert titles == [
        "etcd stable deploy on Local: success (was failed)",
        "etcd stable deploy on Local: failed (was success)",
        "etcd stable deploy on Local: success (first result)",
    ]


def test_the_walk_finds_the_changes_every_cells_whole_history_gives(
    make_app: Callable[..., Flask],
    status_repo: Path,
    writer_for: Callable[..., StatusRepoWriter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The feed walks the versions newest first and stops once the newest changes are all known; here it looks
    at whether to stop after every version, over a history with cells that change often, rarely, once long
    ago, and a project whose first results came last, and must give, for every limit, the changes each cell's
    whole history gives."""
    writer = writer_for(status_repo)
    rng = random.Random(7)
    night(writer, 1, {"build": "success", "provision": "failed"}, project="prometheus")  # provision: once
    for n in range(2, 15):
        night(writer, n, {s: rng.choice(["success", "success", "failed"]) for s in ("build", "deploy", "e2e")})
        night(writer, n, {"deploy": rng.choice(["success", "timed_out"])}, project="prometheus")
    night(writer, 15, {"build": "success", "deploy": "failed"}, project="nats")
    monkeypatch.setattr(feed, "CHECK_EVERY", 1)
    state: StatusState = make_app(status_repo).extensions[EXTENSION]
    with state.query() as index:
        for project in (None, "etcd", "prometheus", "nats"):
            expected = _changes_from_whole_histories(index, project)
            assert len(expected) > 8 or project in ("nats", "prometheus")
            for limit in range(1, len(expected) + 2):
                found = [(c.entry.seq, c.status, c.previous) for c in status_changes(index, project, limit)]
                assert found == expected[:limit], (project, limit)


def _changes_from_whole_histories(index: StatusIndex, project: str | None) -> list[tuple[int, str, str | None]]:
    changes = []
    for path in index.current_paths():
        key = layout.parse_cell_path(path)
        assert key is not None
        if project not in (None, key.project):
            continue
        results = [e for e in index.cell_history(key) if e.status != "running"]
        shown = [e.status or "error" for e in results]
        for i, entry in enumerate(results):
            if i + 1 == len(results) or shown[i + 1] != shown[i]:
                changes.append((entry.seq, shown[i], shown[i + 1] if i + 1 < len(results) else None))
    return sorted(changes, reverse=True)
