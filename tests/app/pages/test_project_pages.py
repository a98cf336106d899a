"""Project pages over a real seeded status repository: history strips, failing since, last green (the rollback
target), flakiness and failure kind from the insight, cell detail."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from crosscloud_app.web.status_state import EXTENSION, StatusState
from tests.helpers.app_results import ALL_GREEN, Writer, pipeline, result


def html_of(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    return response.get_data(as_text=True)


def rows(html: str, cloud: str, stage: str) -> str:
    match = re.search(rf'<tr data-cloud="{cloud}" data-stage="{stage}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no row for {cloud} {stage}"
    return match.group(1)


def test_history_strips_oldest_first_with_links(client: FlaskClient) -> None:
    html = html_of(client, "/projects/prometheus")
    deploy = rows(html, "local", "deploy")
    squares = re.findall(r'class="square status-(\w+)" href="([^"]+)"', deploy)
    assert [s for s, _ in squares] == ["failed", "success"]  # the older night failed its deploy
    assert squares[0][1].endswith("/runs/90/job/906")
    assert "failing since" not in deploy and "data-failure-kind" not in deploy
    assert 'title="' in deploy and "deploy failed in the test" in deploy


def test_failing_since_flakiness_and_the_last_green_release(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    red = {**ALL_GREEN, "deploy": "failed"}
    del red["e2e"]
    writer = writer_for(seeded_repo)
    writer.write(pipeline("prometheus", "stable", red, at=0.5, run=102, sha="d" * 40))
    writer.write(pipeline("prometheus", "stable", red, at=0.3, run=103, sha="e" * 40))
    state: StatusState = app.extensions[EXTENSION]
    state.refresh_now()
    html = html_of(client, "/projects/prometheus")
    deploy = rows(html, "local", "deploy")
    with state.query() as index:
        failures = index.history(project="prometheus", stage="deploy", status="failed", limit=2)
    since = re.search(r'failing since <time datetime="([^"]+)"', deploy)
    assert since is not None
    assert since.group(1) == failures[1].finished_at  # the first of the two latest failures, not the old one
    assert re.findall(r"square status-(\w+)", deploy) == ["failed", "success", "failed", "failed"]
    # "deploy failed in the test" names no cause: a failed deploy is the project's
    assert re.search(r'data-failure-kind="project" title="the project failed[^"]*">project</span>', deploy)
    # F S F F, oldest first: one flip to failure (the third run) over four runs
    assert re.search(r'class="flakiness" data-flakiness="0.2500"[^>]*>25%<', deploy)
    green = re.search(r'<tr class="last-green" data-cloud="local">(.*?)</tr>', html, re.S)
    assert green is not None
    assert "v2.42.0" in green.group(1) and ">aaaaaaa</a>" in green.group(1)  # the rollback target
    never = re.search(r'<tr class="last-green" data-cloud="local">(.*?)</tr>', html_of(client, "/projects/etcd"), re.S)
    assert never is not None and "never green" in never.group(1)


def test_the_cell_page_shows_every_stage_with_times_links_and_pinned_artifacts(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    pinned = {"binaries": [{"name": "prometheus", "version": "2.42.0+ds-5", "sha256": "f" * 64, "source": "debian"}]}
    writer_for(seeded_repo).write(
        [result("prometheus", "stable", "build", "success", at=0.5, run=103, artifacts=pinned)]
    )
    app.extensions[EXTENSION].refresh_now()
    html = html_of(client, "/projects/prometheus/stable/local")
    assert [m for m in re.findall(r'<section class="stage" data-stage="(\w+)">', html)] == [
        "build",
        "provision",
        "deploy",
        "e2e",
    ]
    assert "binary <code>prometheus</code> 2.42.0+ds-5" in html
    assert "https://github.com/example/prometheus/actions/runs/103" in html  # the run of the new build
    # the deploy happened before the newer build: it keeps its result, marked stale, saying how old it is
    deploy = html.split('<section class="stage" data-stage="deploy">')[1].split("</section>")[0]
    assert 'data-status="success"' in deploy and "stale" in deploy
    assert re.search(r"not run since the newer build; this result is from \d+ minutes ago \(\d{4}-", deploy)
    assert "results/prometheus/stable/amd64/local/host/deploy.json" in deploy
    # the pinned artifacts are listed once, not once per stage
    assert html.count("Pinned artifacts") == 1 and html.count("binary <code>prometheus</code>") == 1


def test_unknown_names_answer_404_pages(client: FlaskClient) -> None:
    assert "no project 'nope'" in html_of(client, "/projects/nope", 404).replace("&#39;", "'")
    assert "no cloud 'mars'" in html_of(client, "/projects/etcd/stable/mars", 404).replace("&#39;", "'")
    assert "no release" in html_of(client, "/projects/etcd/head/local", 404)  # etcd tests stable only
    assert "<html" in html_of(client, "/projects/etcd/stable/local?arch=s390x", 400)


def test_the_insight_of_a_history_whose_answers_are_known(
    app: Flask, client: FlaskClient, seeded_repo: Path, writer_for: Writer
) -> None:
    """prometheus stable deploy on local: F (run 90) S (run 100) from the seed, then F F F for lack of quota:
    failing since the first of the new F, the rollback target is the S, an infrastructure failure, and no
    flakiness (a streak of three failures is broken, not flaky; the oldest F has no run before it)."""
    writer = writer_for(seeded_repo)
    for run, at in ((201, 0.8), (202, 0.6), (203, 0.4)):
        writer.write([result("prometheus", "stable", "deploy", "failed", at=at, run=run, reason="CPU quota exceeded")])
    state: StatusState = app.extensions[EXTENSION]
    state.refresh_now()
    html = html_of(client, "/projects/prometheus")
    deploy = rows(html, "local", "deploy")
    assert re.findall(r"square status-(\w+)", deploy) == ["failed", "success", "failed", "failed", "failed"]
    since = re.search(r'failing since <time datetime="([^"]+)"[^<]*</time> \(<a href="([^"]+)">first failure', deploy)
    assert since is not None and since.group(2).endswith("/runs/201/job/2016")
    assert 'class="failure-kind kind-infrastructure" data-failure-kind="infrastructure"' in deploy
    assert ">infra</span>" in deploy
    assert re.search(r'data-flakiness="0.0000"[^>]*>0%<', deploy)
    green = re.search(r'<tr class="last-green" data-cloud="local">(.*?)</tr>', html, re.S)
    assert green is not None
    assert 'href="https://github.com/example/prometheus/actions/runs/100/job/1006">job</a>' in green.group(1)
    assert "runs/90/" not in green.group(1)
    cell = html_of(client, "/projects/prometheus/stable/local")
    deploy_section = cell.split('<section class="stage" data-stage="deploy">')[1].split("</section>")[0]
    assert "<dt>failing since</dt>" in deploy_section and "3 in a row" in deploy_section
    assert "/runs/100/job/1006" in deploy_section.split("<dt>last success</dt>")[1]


def test_projects_lists_every_project_and_pages_carry_the_footer(client: FlaskClient) -> None:
    html = html_of(client, "/projects")
    assert re.findall(r'<li data-project="([\w-]+)"><a href="/projects/\1">', html) == ["prometheus", "etcd", "nats"]
    footer = html.split('<footer class="site">')[1]
    for link in ('href="/"', 'href="/projects"', 'href="/feed.xml"', 'href="/api/v1/"',
                 'href="https://github.com/crosscloudci/cross-cloud-ci"'):  # fmt: skip
        assert link in footer
    assert "git -C &lt;status repository&gt; log --stat -- results/" in footer  # a local path is not shown
    for path in ("/", "/projects/etcd", "/projects/etcd/stable/local", "/api/v1/"):
        assert '<footer class="site">' in html_of(client, path), path
    assert '<footer class="site">' in html_of(client, "/projects/nope", 404)


def test_the_footer_links_a_status_repository_on_github(make_app: Callable[..., Flask], seeded_repo: Path) -> None:
    client = make_app(seeded_repo, STATUS_REPOSITORY="cncf/cross-cloud-status").test_client()
    footer = html_of(client, "/").split('<footer class="site">')[1]
    assert 'href="https://github.com/cncf/cross-cloud-status"' in footer
    assert "git clone https://github.com/cncf/cross-cloud-status.git status &amp;&amp; git -C status log" in footer


def test_the_api_index_is_generated_from_the_openapi_document(client: FlaskClient) -> None:
    from crosscloud_app.api.openapi import document

    html = html_of(client, "/api/v1/")
    assert 'href="/api/v1/openapi.json"' in html
    operations = [(method, path) for path, ops in document()["paths"].items() for method in ops]
    shown = re.findall(r'<span class="method method-(\w+)">\w+</span> (?:<a href="[^"]+">)?<code>([^<]+)</code>', html)
    assert shown == operations
    # a read without path parameters links its <path>.json, which the app and the published site both answer
    links = re.findall(r'<a href="([^"]+)"><code>([^<]+)</code></a>', html)
    assert ("/api/v1/cells.json", "/api/v1/cells") in links and len(links) == 5, links
    for href, _ in links:
        answer = client.get(href)
        assert answer.status_code == 200 and answer.is_json, href
    assert "<code>/alerts.json</code></a>" not in html  # an operator's route, not published: shown, not linked
    assert "<script" not in html.split("</head>")[1]  # no third-party assets (Swagger UI)
    assert 'src="https://' not in html and 'href="https://cdn' not in html


def test_the_project_page_offers_badge_snippets(client: FlaskClient) -> None:
    html = html_of(client, "/projects/nats")
    base = "http://localhost"
    markdown = re.findall(r"<dt>Markdown</dt><dd><pre><code>([^<]+)</code>", html)
    assert markdown == [
        f"[![cross-cloud]({base}/badge/nats.svg)]({base}/projects/nats)",
        f"[![cross-cloud stable]({base}/badge/nats/stable.svg)]({base}/projects/nats#release-stable)",
        f"[![cross-cloud head]({base}/badge/nats/head.svg)]({base}/projects/nats#release-head)",
        f"[![local stable]({base}/badge/nats/stable/local.svg)]({base}/projects/nats/stable/local)",
    ]
    assert f"&lt;a href=&#34;{base}/projects/nats&#34;&gt;&lt;img src=&#34;{base}/badge/nats.svg&#34;" in html
    assert f".. image:: {base}/badge/nats.svg\n   :target: {base}/projects/nats\n   :alt: cross-cloud" in html
    assert 'id="release-stable"' in html and 'id="release-head"' in html  # the anchors the snippets link
    assert client.get("/badge/nats/stable/local.svg").status_code == 200
