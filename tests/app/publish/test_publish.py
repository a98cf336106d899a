"""``crosscloud publish``: every file of the site is the answer the app gives for its path (the app running as
``crosscloud serve`` over HTTP, with the commit clock; badges also against the app on the wall clock), a commit
publishes the same bytes twice (in worker processes or in one), an incremental publish after a new commit
equals a full one, files that left the site are deleted and no other file is touched, and bad input is refused
naming what is wrong."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import cast

import pytest
import yaml
from flask import Flask

from crosscloud import clock
from crosscloud_app.publish.site_files import file_of
from tests.helpers.app_results import Writer, pipeline
from tests.helpers.servers import Served
from tests.helpers.status_repos import git

ALL_GREEN = {"build": "success", "provision": "success", "deploy": "success", "e2e": "success"}


def publish(repo: Path, out: Path, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "crosscloud", "publish", "--repo", str(repo), "--out", str(out),
         "--mirror-dir", str(out.parent / f"mirror-{out.name}"), "--quiet", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def manifest(out: Path) -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = json.loads((out / "manifest.json").read_text())["files"]
    return files


def tree(out: Path) -> dict[str, str]:
    """Every file under ``out`` (but the mirror) and the sha256 of its bytes."""
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - a 127.0.0.1 URL of the test
        return answer.status, answer.headers["Content-Type"], answer.read()


def test_every_published_file_is_the_apps_answer_for_its_path(
    seeded_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app as ``crosscloud serve`` (a real process over HTTP) with ``CROSSCLOUD_CLOCK=commit`` answers every
    path of the manifest with exactly the published bytes; the badges equal the app's on the wall clock too."""
    monkeypatch.setenv("CROSSCLOUD_CLOCK", "commit")
    served = Served(seeded_repo, tmp_path / "served-mirror")
    try:
        out = tmp_path / "site"
        summary = publish(seeded_repo, out, "--public-url", served.url)
        files = manifest(out)
        assert summary.startswith(f"published {git(seeded_repo, 'rev-parse', 'main')[:12]} (full): {len(files)} files")
        assert {"index.html", "views/build/head/arm64/index.html", "projects/etcd/index.html",
                "projects/etcd/stable/local/index.html", "badge/etcd.svg", "badge/etcd/stable/local.json",
                "api/v1/cells.json", "api/v1/history/etcd/stable/local/deploy.json", "feed.xml",
                "static/style.css"} <= set(files)  # fmt: skip
        for name, described in files.items():
            status, content_type, body = fetch(served.url.rstrip("/") + str(described["path"]))
            assert status == 200, name
            assert file_of(str(described["path"]), content_type) == name
            assert (out / name).read_bytes() == body, f"{name}: the published file differs from the app's answer"
            assert hashlib.sha256(body).hexdigest() == described["sha256"] and len(body) == described["size"]
    finally:
        served.stop()

    monkeypatch.delenv("CROSSCLOUD_CLOCK")
    wall = Served(seeded_repo, tmp_path / "wall-mirror")
    try:
        badges = [name for name in files if name.startswith("badge/")]
        assert {"badge/nats/head.svg", "badge/nats/head/local.json", "badge/prometheus.json"} <= set(badges)
        for name in badges:
            assert fetch(wall.url + name)[2] == (out / name).read_bytes(), name
    finally:
        wall.stop()


def test_a_commit_publishes_the_same_bytes_and_an_incremental_publish_equals_a_full_one(
    seeded_repo: Path, tmp_path: Path, writer_for: Writer
) -> None:
    first, again = tmp_path / "first", tmp_path / "again"
    publish(seeded_repo, first, "--jobs", "2")
    publish(seeded_repo, again, "--jobs", "1")  # in worker processes or in one: the same bytes
    assert tree(first) == tree(again)

    (first / "CNAME").write_text("status.example.org\n")  # a file of the site's owner: never touched
    unchanged = publish(seeded_repo, first, "--since-manifest")
    assert "(incremental)" in unchanged and "rendered 0, wrote 0, deleted 0" in unchanged

    previous_commit = git(seeded_repo, "rev-parse", "main")
    writer_for(seeded_repo).write(pipeline("etcd", "stable", ALL_GREEN, at=0.5, run=200))
    tip = git(seeded_repo, "rev-parse", "main")
    before = tree(first)
    line = publish(seeded_repo, first, "--since-manifest")
    assert "(incremental)" in line
    full = tmp_path / "full"
    publish(seeded_repo, full)
    # Every file is the app's answer at the commit its manifest entry names: the tip for what was rendered
    # again (what etcd's results show, and what every result shows), the previous commit for the rest.
    after, at_tip, at_previous = tree(first), tree(full), tree(again)
    assert after.pop("CNAME")
    files = manifest(first)
    assert set(after) - {"manifest.json"} == set(files) == set(manifest(full))
    for name, described in files.items():
        expected = at_tip if described["commit"] == tip else at_previous
        assert described["commit"] in (tip, previous_commit)
        assert after[name] == expected[name], f"{name} is not the app's answer at {described['commit']}"
    assert files["badge/etcd/stable/local.svg"]["commit"] == tip
    assert files["index.html"]["commit"] == files["api/v1/cells.json"]["commit"] == tip
    assert files["projects/prometheus/index.html"]["commit"] == previous_commit
    assert files["badge/prometheus/stable/local.svg"]["commit"] == previous_commit
    rendered = int(line.split("rendered ")[1].split(",")[0])
    assert rendered == sum(1 for f in files.values() if f["commit"] == tip) < len(files)
    changed = {name for name in after if before.get(name) != after[name]}
    assert {"badge/etcd/stable/local.svg", "projects/etcd/index.html", "index.html"} <= changed
    assert not any(name.startswith(("badge/prometheus", "projects/prometheus")) for name in changed)


def test_files_that_leave_the_site_are_deleted(seeded_repo: Path, tmp_path: Path, writer_for: Writer) -> None:
    """A project taken out of the configuration: its pages, badges and API answers go (a full publish, as the
    configuration changed); what the manifest never listed stays."""
    out = tmp_path / "site"
    publish(seeded_repo, out)
    (out / "keep.txt").write_text("mine")
    assert (out / "badge/nats/head.svg").exists()
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(seeded_repo), str(work)], check=True)
    config = yaml.safe_load((work / "cross-cloud.yml").read_text())
    del config["projects"]["nats"]
    (work / "cross-cloud.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for command in (["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "Drop nats"],
                    ["push", "-q", "origin", "HEAD:main"]):  # fmt: skip
        subprocess.run(["git", "-C", str(work), *command], check=True)

    line = publish(seeded_repo, out, "--since-manifest")
    assert "(full)" in line and "deleted 0" not in line
    assert not (out / "badge/nats/head.svg").exists() and not (out / "projects/nats").exists()
    assert not any(name.startswith(("badge/nats", "projects/nats/")) for name in manifest(out))
    assert (out / "keep.txt").read_text() == "mine"
    assert (out / "badge/etcd.svg").exists()


def test_bad_input_is_refused_naming_what_is_wrong(seeded_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(seeded_repo, out)
    before = tree(out)

    def refused(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "crosscloud", "publish", *args], capture_output=True, text=True)
        assert proc.returncode != 0
        return proc.stderr

    base = ["--repo", str(seeded_repo), "--out", str(out), "--mirror-dir", str(tmp_path / "m")]
    assert "--base-path 'status'" in refused(*base, "--base-path", "status")
    assert "--public-url 'ftp://x'" in refused(*base, "--public-url", "ftp://x")
    assert "name different paths" in refused(*base, "--base-path", "/a/", "--public-url", "https://o.github.io/b/")
    assert "--jobs: '0': use a whole number of processes" in refused(*base, "--jobs", "0")
    (out / "manifest.json").write_text('{"version": 1, "files": {"../../etc/passwd": {}}}')
    assert "manifest.json: not a manifest of crosscloud publish" in refused(*base, "--since-manifest")
    (out / "manifest.json").write_text("{not json")
    assert "manifest.json: not a manifest of crosscloud publish" in refused(*base, "--since-manifest")
    del before["manifest.json"]
    after = tree(out)
    del after["manifest.json"]
    assert after == before  # nothing written or deleted
    missing = refused("--repo", str(tmp_path / "nothing.git"), "--out", str(tmp_path / "o"))
    assert f"cannot publish {tmp_path / 'nothing.git'}" in missing and "no status repository at" in missing
    assert not (tmp_path / "o").exists()


def test_pages_on_the_commit_clock_do_not_move_with_the_wall_clock(
    make_app: Callable[..., Flask], seeded_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``CLOCK=commit`` (what ``crosscloud publish`` renders with) every relative time of every page is
    computed at the commit's time, including the times a template shows without naming the instant: three
    days later on the wall clock, the pages are the same bytes (a publish in the next minute once differed)."""
    app = make_app(seeded_repo, CLOCK="commit")
    client = app.test_client()
    paths = ["/", "/projects", "/projects/etcd", "/projects/etcd/stable/local", "/projects/nats/head/local",
             "/feed.xml", "/badge/etcd.svg"]  # fmt: skip
    before = {path: client.get(path).data for path in paths}
    assert b"ago" in before["/projects/etcd/stable/local"]

    class ThreeDaysLater(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> ThreeDaysLater:
            return cast(ThreeDaysLater, datetime.now(tz) + timedelta(days=3))

    monkeypatch.setattr(clock, "datetime", ThreeDaysLater)
    for path in paths:
        assert client.get(path).data == before[path], path
