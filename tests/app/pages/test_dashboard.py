"""The dashboard over a real seeded status repository: cells, sections, links, staleness, errors, banner."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from crosscloud import clock
from crosscloud.status_repo.git import Git
from crosscloud.status_repo.seed import default_config_text
from crosscloud.status_repo.writer import DEFAULT_EMAIL, DEFAULT_NAME
from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import Writer, result
from tests.helpers.html_cells import Cells
from tests.helpers.status_repos import git


def page(client: FlaskClient, url: str = "/") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def state_of(app: Flask) -> StatusState:
    state: StatusState = app.extensions[EXTENSION]
    return state


def test_every_cell_opens_its_deployment_page_which_links_the_job(client: FlaskClient) -> None:
    cells = Cells(page(client))
    green = cells[("prometheus", "stable", "deploy", "local")]
    assert green["data-status"] == "success"
    assert green["href"] == "/projects/prometheus/stable/local"
    assert green["aria-label"] == "Prometheus stable deploy on Local: success"
    assert re.fullmatch(r"success; finished \d+ minutes ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", green["title"])
    deployment = page(client, green["href"])
    assert 'href="https://github.com/example/prometheus/actions/runs/100/job/1006"' in deployment
    assert cells[("prometheus", "stable", "build", "")]["href"] == "/projects/prometheus#release-stable"
    assert cells[("prometheus", "stable", "summary", "")]["data-status"] == "success"
    assert cells[("etcd", "stable", "deploy", "local")]["data-status"] == "failed"
    assert cells[("etcd", "stable", "deploy", "local")]["title"].startswith("failed; reason: deploy failed in the test")
    # the summary says failed (the e2e never ran after the failed deploy: the old Test column said N/A)
    summary = cells[("etcd", "stable", "summary", "")]
    assert summary["data-status"] == "failed" and summary["title"].startswith("failed; decided by deploy on local")
    assert cells[("nats", "head", "build", "")]["data-status"] == "running"
    head_deploy = cells[("nats", "head", "deploy", "local")]
    assert head_deploy["data-status"] == "n/a"
    assert head_deploy["title"] == "N/A; build is running"
    assert head_deploy["href"] == "/projects/nats/head/local"  # every cell opens its page, N/A included
    assert cells[("nats", "head", "summary", "")]["data-status"] == "running"
    assert len(cells.cells) == 4 * 3  # four rows (nats has two releases): build, one cloud, summary


def test_sections_follow_cncf_relations_and_releases_link_to_their_commit(client: FlaskClient) -> None:
    html = page(client)
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert headings == ["Graduated", "Incubating", "Legend"]
    graduated, incubating = html.split("<h2")[1:3]
    assert 'data-project="etcd"' in graduated and 'data-project="nats"' not in graduated
    assert 'data-project="nats"' in incubating
    assert f'href="https://github.com/prometheus/prometheus/commit/{"a" * 40}"' in html
    assert ">v2.42.0</a>" in html
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" title="[^"]+" data-relative>just now</time>', html
    )


def test_stale_results_look_stale_in_words_too(client: FlaskClient) -> None:
    cells = Cells(page(client))
    stale = cells[("nats", "stable", "deploy", "local")]
    assert stale["data-status"] == "success"
    assert "stale" in stale["class"].split()
    assert stale["text"] == "success stale"
    assert stale["aria-label"].endswith("(stale)")
    fresh = cells[("prometheus", "stable", "deploy", "local")]
    assert "stale" not in fresh["class"].split() and "stale" not in fresh["text"]


def test_infrastructure_failures_look_different_in_words_too_and_say_since_when(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    """prometheus stable deploy: F (run 90) S (run 100) from the seed, then F F for lack of quota; etcd's
    deploy failed once, its own fault ("deploy failed in the test"), and never passed."""
    writer = writer_for(seeded_repo)
    for run, at in ((201, 0.8), (202, 0.6)):
        writer.write([result("prometheus", "stable", "deploy", "failed", at=at, run=run, reason="CPU quota exceeded")])
    state = state_of(app)
    state.refresh_now()
    with state.query() as index:
        first = next(e for e in index.history(project="prometheus", stage="deploy") if "/runs/201/" in (e.url or ""))
        green = next(e for e in index.history(project="prometheus", stage="deploy", status="success"))
    html, now = page(client), datetime.now(UTC)  # the same minute: the ages read the same
    cells = Cells(html)
    infra = cells[("prometheus", "stable", "deploy", "local")]
    assert infra["data-status"] == "failed" and infra["data-failure-kind"] == "infrastructure"
    assert "failure-infrastructure" in infra["class"].split()
    assert infra["text"] == "failed infra"  # in words, not colour only
    assert infra["aria-label"].endswith("(the cloud or the test environment failed, not the project)")
    title = infra["title"]
    assert title.startswith("failed; reason: CPU quota exceeded; finished ")
    assert f"failing since {clock.age(first.finished_at, now)} (2 runs in a row, infra)" in title
    assert title.endswith(f"last green v2.42.0 (aaaaaaa) {clock.age(green.finished_at, now)}")
    project = cells[("etcd", "stable", "deploy", "local")]
    assert project["data-failure-kind"] == "project" and "failure-project" in project["class"].split()
    assert project["text"] == "failed" and project["title"].endswith("(1 run, project); never green")
    assert cells[("etcd", "stable", "summary", "")]["data-failure-kind"] == "project"  # decided by that deploy
    for key in [("prometheus", "stable", "build", ""), ("nats", "head", "summary", ""), ("nats", "head", "build", "")]:
        assert "data-failure-kind" not in cells[key] and "failing since" not in (cells[key]["title"] or "")
    # the other stages' views say the same
    build_view = Cells(page(client, "/?stage=provision"))
    assert "data-failure-kind" not in build_view[("prometheus", "stable", "provision", "local")]


def test_a_broken_record_shows_error_in_its_own_cell_only(app: Flask, client: FlaskClient, seeded_repo: Path) -> None:
    tip = git(seeded_repo, "rev-parse", "main")
    Git(seeded_repo).commit_files(
        "refs/heads/main",
        {"results/prometheus/stable/amd64/build.json": b"{not json"},
        message="A broken file\n",
        identity=(DEFAULT_NAME, DEFAULT_EMAIL),
        when=int(time.time()),
        parent=tip,
    )
    state_of(app).refresh_now()
    cells = Cells(page(client))
    assert cells[("prometheus", "stable", "build", "")]["data-status"] == "error"
    assert "not JSON" in cells[("prometheus", "stable", "build", "")]["title"]
    assert cells[("prometheus", "stable", "deploy", "local")]["data-status"] == "success"
    assert cells[("etcd", "stable", "build", "")]["data-status"] == "success"


def test_a_vanished_remote_keeps_the_last_good_grid_under_a_banner(
    app: Flask, client: FlaskClient, seeded_repo: Path
) -> None:
    before = page(client)
    assert 'role="alert"' not in before
    seeded_repo.rename(seeded_repo.with_name("moved.git"))
    snapshot = state_of(app).refresh_now()
    assert snapshot.error
    html = page(client)
    banner = re.search(r'<div class="banner" role="alert">(.*?)</div>', html, re.S)
    assert banner is not None
    assert "Showing results as of" in banner.group(1)
    assert "is not there any more" in banner.group(1)
    assert Cells(html)[("prometheus", "stable", "deploy", "local")]["data-status"] == "success"
    # Badges keep answering from the last good state too (README embeds never break).
    badge = client.get("/badge/prometheus/stable/local.svg")
    assert badge.status_code == 200 and badge.headers["Content-Type"].startswith("image/svg+xml")
    assert client.get("/api/v1/cells?project=prometheus").status_code == 200
    seeded_repo.with_name("moved.git").rename(seeded_repo)
    state_of(app).refresh_now()
    assert 'role="alert"' not in page(client)


def test_a_configuration_change_changes_the_page_without_code(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    text = default_config_text().decode()
    text = text.replace("display_name: Prometheus", "display_name: Prometheus TSDB")
    text = text.replace(
        "    sub_title: Monitoring\n", '    sub_title: Monitoring\n    logo_url: "https://example.org/p.svg"\n'
    )
    text = text.replace(
        "    sub_title: Key/Value Store\n", '    sub_title: Key/Value Store\n    logo_url: "http://example.org/e.svg"\n'
    )
    text = text.replace("  kind:\n    active: false", "  kind:\n    active: true")
    writer_for(seeded_repo).update_config(text.encode(), "cross-cloud.yml")
    state_of(app).refresh_now()
    html = page(client)
    assert "Prometheus TSDB" in html
    assert '<abbr title="kind">KIND</abbr>' in html  # the short heading, the full name on hover
    cells = Cells(html)
    assert cells[("etcd", "stable", "deploy", "kind")]["data-status"] == "n/a"
    assert '<img class="logo" src="https://example.org/p.svg" alt="" width="28" height="28" loading="lazy"' in html
    assert "http://example.org/e.svg" not in html  # not https: the text fallback instead


def test_stage_views_and_the_test_environment_selector(client: FlaskClient) -> None:
    provision = Cells(page(client, "/?stage=provision"))
    assert provision[("etcd", "stable", "provision", "local")]["data-status"] == "success"
    assert ("etcd", "stable", "deploy", "local") not in provision.cells
    build = page(client, "/?stage=build")
    assert {key[2] for key in Cells(build).cells} == {"build", "summary"}  # no cloud columns
    assert "Build view: one build per project and release" in build and "cloud columns show" not in build
    assert '<th scope="col">Built</th>' in build
    head = page(client, "/?kubernetes=head&arch=amd64")
    assert '<a href="/views/deploy/head/amd64/" data-kubernetes="head" aria-current="page" class="current">' in head
    assert '<a href="/views/deploy/head/amd64/" data-arch="amd64" aria-current="page" class="current">' in head
    assert 'href="/views/provision/head/amd64/"' in head  # the stage links keep the choice
    assert 'href="/views/deploy/stable/amd64/" data-kubernetes="stable"' in head
    assert 'href="/views/deploy/head/any/" data-arch="any"' in head
    assert page(client, "/views/deploy/head/amd64/") == head  # the path names the same view as the query
    assert page(client, "/views/deploy/stable/any/") == page(client, "/")
    for bad in ("/views/e2e/stable/any/", "/views/deploy/latest/any/", "/views/deploy/stable/sparc/"):
        assert client.get(bad).status_code == 404


def test_bad_view_parameters_answer_400_pages(client: FlaskClient) -> None:
    for query in ("stage=e2e", "kubernetes=latest", "arch=sparc"):
        response = client.get(f"/?{query}")
        assert response.status_code == 400
        assert "<html" in response.get_data(as_text=True)
        assert query.split("=")[0] in response.get_data(as_text=True)


def test_the_page_keeps_its_css_and_javascript_in_static_files(client: FlaskClient) -> None:
    first = page(client)
    assert "<script" in first and 'src="/static/relative-time.js"' in first
    assert "<style" not in first and " style=" not in first and "onclick" not in first  # all CSS/JS in static/
    with client.get("/static/style.css") as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"


def test_pages_point_feed_readers_at_the_atom_feed(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="alternate" type="application/atom+xml"' in page and 'href="/feed.xml"' in page
    assert client.get("/feed.xml").status_code == 200
