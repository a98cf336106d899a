"""Security checks of everything the app serves and everything the pipeline writes:

- hostile strings in the configuration and in records (script tags, quotes in attributes, ``javascript:``
  URLs, bidi overrides) render inert on every page, in badges, in the API and in the feed;
- every HTML page has a Content-Security-Policy without inline script, and no inline script or ``on*``
  attribute; logos are shown only from https;
- path traversal and encoded separators in every route answer 404 (or 400/405), never a file or a 500;
- CR/LF in query values never reaches a response header;
- no secret reaches a log line, a job summary, a record or a commit message (a real ``crosscloud run``
  pushing over smart HTTP with a token, and the app with a webhook secret and tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crosscloud.config import parse_config
from crosscloud.errors import ConfigError
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.seed import init_status_repo
from crosscloud.status_repo.writer import Backoff, StatusRepoWriter
from crosscloud_app import create_app
from crosscloud_app.web.status_state import EXTENSION
from tests.helpers.app_results import ALL_GREEN, pipeline, result
from tests.helpers.fixture_project import _git
from tests.helpers.git_http_server import GitHTTPServer
from tests.helpers.status_repos import git, record_data

SCRIPT = "<script>alert(1)</script>"
BIDI = "\u202eevil\u202c"

HOSTILE_CONFIG = f"""
cncf_relations: ["Graduated <b>bold</b>"]
clouds:
  local:
    kubernetes: false
    display_name: "Local \\"><svg onload=alert(2)>"
projects:
  prometheus:
    display_name: "{SCRIPT}"
    sub_title: "it's \\"quoted\\" ' onmouseover='alert(3)"
    logo_url: "http://insecure.example.org/logo.png"
    project_url: "https://example.org/?a=1&b=2"
    repository_url: "https://github.com/prometheus/prometheus"
    stable_ref: v2.42.0
    cncf_relation: "Graduated <b>bold</b>"
  etcd:
    display_name: "etcd {BIDI}"
    logo_url: "https://example.org/etcd.png"
    stable_ref: v3.4.23
  nats:
    stable_ref: v2.9.10
"""

HOSTILE_REASON = "<script>alert(4)</script> \"double\" 'single' <img src=x onerror=alert(5)>"
HOSTILE_REF = "<img src=x onerror=alert(6)>"


def _push_file(repo: Path, work: Path, path: str, content: str) -> None:
    """Commit a file straight into the status repository, past the writer's validation (a hand edit or a
    compromised writer: the app must stay safe with whatever is in the repository)."""
    if not work.exists():
        subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    _git(work, "add", path)
    _git(work, "commit", "-q", "-m", f"hand edit of {path}")
    _git(work, "push", "-q", "origin", "HEAD:main")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, FlaskClient]]:
    root = tmp_path_factory.mktemp("hostile")
    config = root / "cross-cloud.yml"
    config.write_text(HOSTILE_CONFIG)
    repo = root / "status.git"
    init_status_repo(repo, config)
    writer = StatusRepoWriter(Remote.parse(str(repo)), backoff=Backoff(attempts=5, base=0.01, cap=0.1))
    writer.write(
        [
            *pipeline("prometheus", "stable", ALL_GREEN, run=100),
            result("etcd", "stable", "build", "success", ref=HOSTILE_REF),
            result("etcd", "stable", "provision", "success", ref=HOSTILE_REF),
            result("etcd", "stable", "deploy", "failed", ref=HOSTILE_REF, reason=HOSTILE_REASON),
        ]
    )
    # A record whose url is javascript: cannot be written through the writer; put one in by hand.
    broken = record_data(project="nats", url="javascript:alert(7)", reason=SCRIPT, ref="v2.9.10")
    _push_file(repo, root / "work", "results/nats/stable/amd64/local/host/deploy.json", json.dumps(broken))
    app = create_app({"TESTING": True, "STATUS_REPO": str(repo), "MIRROR_DIR": str(root / "mirror")})
    yield app, app.test_client()
    app.extensions[EXTENSION].close()
    shutil.rmtree(root, ignore_errors=True)


class Inert(HTMLParser):
    """Collects what would make an HTML page run code or load from where it should not."""

    URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "poster", "data")

    def __init__(self, html: str):
        super().__init__()
        self.problems: list[str] = []
        self.images: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not str(values.get("src") or "").startswith("/"):
            self.problems.append(f"inline or foreign <script> {values}")  # same-origin files only (CSP 'self')
        if tag in ("iframe", "object", "embed", "base"):
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= attribute on <{tag}>")
            if name == "style" and value and "url(" in value:
                self.problems.append(f"style with url() on <{tag}>")
            if name in self.URL_ATTRIBUTES and value:
                scheme = re.sub(r"[\s\x00-\x20]", "", value).lower()
                if scheme.startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"{name}={value!r} on <{tag}>")
            if tag == "img" and name == "src" and value:
                self.images.append(value)


PAGES = ["/", "/?kubernetes=head", "/projects/prometheus", "/projects/etcd", "/projects/nats",
         "/projects/etcd/stable/local", "/projects/nats/stable/local", "/projects/prometheus/stable/local",
         "/projects/no-such", "/no/such/page"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_hostile_strings_render_inert_on_every_page_under_a_strict_csp(
    hostile: tuple[Flask, FlaskClient], path: str
) -> None:
    _, client = hostile
    response = client.get(path)
    assert response.status_code in (200, 404), response.status_code
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    directives = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
    script_policy = directives.get("script-src", directives.get("default-src", ""))
    assert "'self'" in script_policy and "unsafe-inline" not in script_policy and "unsafe-eval" not in script_policy
    assert "frame-ancestors" in directives
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    page = Inert(html)
    assert page.problems == []
    assert all(src.startswith(("https://", "/")) for src in page.images), page.images
    for raw in (SCRIPT, "<svg onload", "<img src=x", "<b>bold</b>", '="javascript:', "='javascript:"):
        assert raw not in html, raw


def test_the_hostile_strings_are_shown_escaped_not_dropped(hostile: tuple[Flask, FlaskClient]) -> None:
    """The checks above would also pass on an empty page: the strings must be there, as text."""
    _, client = hostile
    dashboard = client.get("/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dashboard
    assert "&lt;b&gt;bold&lt;/b&gt;" in dashboard
    assert 'src="https://example.org/etcd.png"' in dashboard  # an https logo is shown ...
    assert "insecure.example.org" not in dashboard  # ... an http one is not
    cell = client.get("/projects/etcd/stable/local").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(6)&gt;" in cell
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in cell
    project = client.get("/projects/prometheus").get_data(as_text=True)
    assert "https://example.org/?a=1&amp;b=2" in project


def test_a_javascript_url_in_a_hand_edited_record_is_never_a_link(hostile: tuple[Flask, FlaskClient]) -> None:
    _, client = hostile
    for path in ("/projects/nats/stable/local", "/projects/nats", "/"):
        page = client.get(path).get_data(as_text=True)
        assert "javascript:alert(7)" in page  # named as text in the error, which is fine ...
        assert Inert(page).problems == [], path  # ... but never a link
    cells = client.get("/api/v1/cells?project=nats&release=stable&stage=deploy").get_json()["cells"]
    assert [c["url"] for c in cells] == [None] and cells[0]["status"] == "error"
    history = client.get("/api/v1/history/nats/stable/local/deploy").get_json()
    assert all(not str(e.get("url") or "").startswith("javascript:") for e in history["entries"])
    insight = client.get("/api/v1/insight?project=nats").get_data(as_text=True)  # the runs it links
    assert '"nats"' in insight and "javascript:" not in insight


@pytest.mark.parametrize("path", ["/badge/prometheus.svg", "/badge/etcd.svg", "/badge/prometheus/stable/local.svg"])
def test_badges_are_well_formed_svg_with_the_names_as_text(hostile: tuple[Flask, FlaskClient], path: str) -> None:
    _, client = hostile
    # a badge's label says what it measures, not the project's name: the hostile string comes in as ?label=
    response = client.get(path, query_string={"label": SCRIPT} if "prometheus" in path else None)
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    tree = ET.fromstring(response.data)  # noqa: S314 (our own answer under test) -- well-formed: every hostile character was escaped
    tags = {element.tag.rsplit("}", 1)[-1] for element in tree.iter()}
    assert not tags & {"script", "foreignObject", "iframe", "a"}, tags
    assert not any(k.startswith("on") for element in tree.iter() for k in element.attrib)
    if "prometheus" in path:
        assert SCRIPT in "".join(tree.itertext())
    as_json = client.get(path.replace(".svg", ".json"))
    assert as_json.mimetype == "application/json" and as_json.headers["X-Content-Type-Options"] == "nosniff"


def test_the_api_and_feed_carry_hostile_strings_as_data(hostile: tuple[Flask, FlaskClient]) -> None:
    _, client = hostile
    projects = client.get("/api/v1/projects")
    assert projects.mimetype == "application/json" and projects.headers["X-Content-Type-Options"] == "nosniff"
    assert SCRIPT in [p["display_name"] for p in projects.get_json()["projects"]]
    feed = client.get("/feed.xml")
    assert feed.status_code == 200 and feed.mimetype == "application/atom+xml"
    tree = ET.fromstring(feed.data)  # noqa: S314 (our own answer under test)
    text = "".join(tree.itertext())
    assert "alert(4)" in text  # the reason is there, as text
    for element in tree.iter():
        assert element.tag.rsplit("}", 1)[-1] not in ("script", "iframe")
        assert not str(element.attrib.get("href", "")).lower().startswith("javascript:")


@pytest.mark.parametrize(
    "field,value",
    [
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "data:image/svg+xml,<svg onload=alert(1)>"),
        ("logo_url", 'https://example.org/" onerror="alert(1)'),
        ("project_url", "javascript:alert(1)"),
        ("repository_url", "vbscript:msgbox(1)"),
    ],
)
def test_the_configuration_refuses_urls_that_are_not_http(field: str, value: str) -> None:
    text = f"clouds: {{local: {{}}}}\nprojects:\n  etcd: {{{field}: {json.dumps(value)}}}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "cross-cloud.yml")
    assert f"projects.etcd.{field}" in str(err.value)


# -- path traversal ---------------------------------------------------------------------------------
HOSTILE_SEGMENTS = [
    "..", "%2e%2e", ".%2e", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2f__init__.py", "etcd%00",
    "%00", "..%5c..%5csettings.py", "..\\..\\settings.py", "%252e%252e%252f", "etcd%2f..%2f..%2f",
    "....//....//etc", "%c0%ae%c0%ae",
]  # fmt: skip


def _hostile_paths(app: Flask) -> list[str]:
    paths: list[str] = []
    for rule in app.url_map.iter_rules():
        pattern = rule.rule
        names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", pattern)
        if not names:
            paths += [f"{pattern.rstrip('/')}/{s}" for s in HOSTILE_SEGMENTS[:6]]
            continue
        for name in names:
            for segment in HOSTILE_SEGMENTS:
                path = pattern
                for other in names:
                    value = segment if other == name else ("etcd" if other in ("project", "name") else "stable")
                    if other == "cloud":
                        value = segment if other == name else "local"
                    if other == "stage":
                        value = segment if other == name else "deploy"
                    path = re.sub(rf"<(?:[^:<>]+:)?{other}>", lambda _, v=value: v, path)
                paths.append(path)
                if pattern.startswith("/badge/") and name == "name":
                    paths.append(path + ".svg")
    return sorted(set(paths))


def test_traversal_and_encoded_separators_in_every_route_answer_4xx(hostile: tuple[Flask, FlaskClient]) -> None:
    app, client = hostile
    secret_files = [b"root:x:0:0", b"import ", b"def ", b"[extensions]", b"__pycache__"]
    paths = _hostile_paths(app)
    assert len(paths) > 100
    for path in paths:
        response = client.get(path, follow_redirects=True)  # werkzeug merges '//' with a 308 first
        assert response.status_code in (400, 404, 405), (path, response.status_code)
        assert not any(s in response.data for s in secret_files), path


def test_a_served_static_file_is_only_ever_from_the_static_folder(hostile: tuple[Flask, FlaskClient]) -> None:
    app, client = hostile
    static = Path(app.static_folder or "")
    shipped = sorted(p.name for p in static.iterdir() if p.is_file())
    served = client.get(f"/static/{shipped[0]}")
    served.close()
    assert served.status_code == 200  # the route does serve files
    for path in ("/static/../__init__.py", "/static/%2e%2e/__init__.py", "/static/..%2f__init__.py",
                 "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/..%5c__init__.py"):  # fmt: skip
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 404, path


# -- header injection -------------------------------------------------------------------------------
INJECTIONS = ["x%0d%0aX-Injected:%201", "x%0aX-Injected:%201", "x%0dX-Injected:%201", "%E5%98%8A%E5%98%8DX-Injected:1"]


def test_cr_lf_in_query_values_never_reaches_a_header(hostile: tuple[Flask, FlaskClient]) -> None:
    _, client = hostile
    targets = ["/api/v1/history?limit=1&{}", "/api/v1/cells?{}", "/api/v1/insight?{}", "/feed.xml?{}",
               "/badge/etcd.svg?{}", "/?{}", "/projects/etcd?{}",
               "/api/v1/history/etcd/stable/local/deploy?{}"]  # fmt: skip
    names = ["project", "cloud", "since", "until", "cursor", "limit", "status", "kubernetes", "arch", "style"]
    seen_link = False
    for target in targets:
        for name in names:
            for value in INJECTIONS:
                response = client.get(target.format(f"{name}={value}"))
                assert response.status_code < 500, target
                assert "X-Injected" not in response.headers
                for header, content in response.headers.items():
                    assert "\r" not in content and "\n" not in content, (target, name, header)
    # The one header built from the query, the pagination Link, keeps its values percent-encoded.
    paged = client.get("/api/v1/history?limit=1&since=2000-01-01T00:00:00%2B00:00")
    assert paged.status_code == 200
    link = paged.headers.get("Link", "")
    seen_link = link.startswith("</api/v1/history?") and "since=2000-01-01T00%3A00%3A00%2B00%3A00" in link
    assert seen_link, link


# -- secrets ----------------------------------------------------------------------------------------
PIPELINE_TOKEN = "ghs_PipelineToken0123456789abcdefXYZ"
OTHER_SECRETS = {
    "GITHUB_TOKEN": "ghp_GithubToken0123456789abcdefghijXY",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token-0123456789-secret",
    "ACTIONS_RUNTIME_TOKEN": "runtime-token-0123456789-secret-value",
}
APP_SECRETS = {
    "WEBHOOK_SECRET": "whsec-0123456789-webhook-secret-value",
    "REFRESH_TOKEN": "refresh-0123456789-bearer-token-value",
    "TOKEN": "ghs_AppGitToken0123456789abcdefghijXY",
}


def forms(secret: str) -> list[str]:
    """A secret and the ways it travels: as is, and inside the Basic credentials git sends."""
    basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    return [secret, basic, base64.b64encode(secret.encode()).decode().rstrip("=")]


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for secret in secrets for s in forms(secret) if s in text]


def _everything_in(directory: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file())


@pytest.mark.slow
def test_no_secret_reaches_any_output_of_a_real_pipeline(tmp_path: Path) -> None:
    """``crosscloud run`` of one real cell (nats stable on the local cloud: real binary, real terraform)
    pushing to a smart-HTTP remote that demands the token; then every output is searched."""
    root = tmp_path / "served"
    root.mkdir()
    init_status_repo(root / "status.git")
    summary = tmp_path / "summary.md"
    with GitHTTPServer(root, PIPELINE_TOKEN) as server:
        env = {
            **os.environ,
            **OTHER_SECRETS,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}:/usr/sbin",
            "CROSSCLOUD_TOKEN": PIPELINE_TOKEN,
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "crosscloud", "run", "--repo", f"{server.url}/status.git",
             "--project", "nats", "--release", "stable"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert any(r["authorization"] for r in server.requests)  # the token did travel, as a header
        assert all(PIPELINE_TOKEN not in r["path"] for r in server.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    history = git(root / "status.git", "log", "-p", "--all", "--format=fuller")
    assert "results/nats/stable/amd64/local/host/e2e.json" in history  # the run did record
    outputs = {
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "logs": _everything_in(tmp_path / "var") if (tmp_path / "var").exists() else "",
        "summary": summary.read_text() if summary.exists() else "",
        "history": history,
        "config": git(root / "status.git", "config", "--list", "--show-origin"),
    }
    assert outputs["logs"] and outputs["stdout"]  # there was something to search
    secrets = [PIPELINE_TOKEN, *OTHER_SECRETS.values()]
    assert {name: leaks(text, secrets) for name, text in outputs.items()} == {name: [] for name in outputs}


def test_no_secret_reaches_the_app_logs_or_answers(
    status_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The app over an http status repository that demands a token, with a webhook secret and a refresh
    token set: good and bad webhooks, refreshes and every read surface; logs and answers are searched."""
    caplog.set_level(logging.DEBUG)
    seeded_repo = status_repo
    StatusRepoWriter(Remote.parse(str(seeded_repo))).write(pipeline("etcd", "stable", ALL_GREEN))
    served_root = seeded_repo.parent
    answers: list[str] = []
    with GitHTTPServer(served_root, APP_SECRETS["TOKEN"]) as server:
        app = create_app(
            {"TESTING": True, "STATUS_REPO": f"{server.url}/{seeded_repo.name}", "MIRROR_DIR": str(tmp_path / "m"),
             "NIGHTLY_REPOSITORY": "example/cross-cloud", **APP_SECRETS}
        )  # fmt: skip
        try:
            client = app.test_client()
            assert client.get("/healthz").status_code == 200  # it did read through the token
            body = json.dumps({"zen": "hello", "hook_id": 1}).encode()
            good = "sha256=" + hmac.new(APP_SECRETS["WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
            for signature in (good, "sha256=" + "0" * 64, "", APP_SECRETS["WEBHOOK_SECRET"]):
                response = client.post(
                    "/webhooks/github", data=body,
                    headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": signature,
                             "Content-Type": "application/json"},
                )  # fmt: skip
                answers.append(response.get_data(as_text=True) + str(response.headers))
            push = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "x/y"}}).encode()
            push_sig = "sha256=" + hmac.new(APP_SECRETS["WEBHOOK_SECRET"].encode(), push, hashlib.sha256).hexdigest()
            answers.append(client.post("/webhooks/github", data=push, headers={
                "X-GitHub-Event": "push", "X-GitHub-Delivery": "d2", "X-Hub-Signature-256": push_sig,
                "Content-Type": "application/json"}).get_data(as_text=True))  # fmt: skip
            for auth in ("Bearer wrong", f"Basic {APP_SECRETS['REFRESH_TOKEN']}", ""):
                answers.append(client.post("/api/v1/refresh", headers={"Authorization": auth}).get_data(as_text=True))
            for path in ("/", "/healthz", "/metrics", "/api/v1/projects", "/api/v1/history", "/feed.xml",
                         "/badge/etcd.svg", "/alerts.json", "/api/v1/openapi.json", "/no/such"):  # fmt: skip
                response = client.get(path)
                answers.append(response.get_data(as_text=True) + str(response.headers))
            app.extensions[EXTENSION].refresh_now("test")
        finally:
            app.extensions[EXTENSION].close()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    stored = _everything_in(tmp_path / "m")
    secrets = list(APP_SECRETS.values())
    assert leaks(logged, secrets) == []
    assert leaks("\n".join(answers), secrets) == []
    assert leaks(stored, secrets) == []
    assert leaks(git(seeded_repo, "log", "-p", "--all"), secrets) == []
