"""``crosscloud_app.web.url_patterns``: a link made from a pattern is byte for byte the link ``url_for`` makes,
for ordinary names and names that need quoting, under a base path, and when a value could be mistaken for a
marker; on a small Flask app with the same kind of routes as the dashboard's and the API's."""

from __future__ import annotations

import pytest
from flask import Flask, url_for

from crosscloud_app.web.url_patterns import UrlPattern


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/history/<project>/<release>/<cloud>/<stage>", "cell", lambda **_: "")
    app.add_url_rule("/projects/<project>/<release>/<cloud>", "page", lambda **_: "")
    return app


NAMES = ["aws", "ibm-cloud-2", "a b", "ä/ö", "x+y@z", "100%", "q?r#s", "URL-PATTERN-MARKER-1-", "", "~tilde.dots"]


@pytest.mark.parametrize("script_name", ["", "/status", "/Status Page"])
def test_every_link_is_the_one_url_for_makes(app: Flask, script_name: str) -> None:
    with app.test_request_context("/", base_url=f"https://org.github.io{script_name}/"):
        history = UrlPattern("cell", ("cloud", "stage"), project="etcd", release="stable", arch="arm64")
        page = UrlPattern("page", ("cloud",), project="core dns", release="head", kubernetes="head")
        for cloud in NAMES:
            for stage in ("deploy", "URL-PATTERN-MARKER-0-", "é"):
                expected = url_for("cell", project="etcd", release="stable", arch="arm64", cloud=cloud, stage=stage)
                assert history(cloud=cloud, stage=stage) == expected
            assert page(cloud=cloud) == url_for(
                "page", project="core dns", release="head", kubernetes="head", cloud=cloud
            )


def test_a_varying_value_the_route_cannot_take_in_the_path_still_gets_url_for_s_answer(app: Flask) -> None:
    """A name that is not a path segment of the endpoint (here ``arch``, a query argument) cannot be a marker:
    the pattern asks ``url_for`` for every link instead of guessing."""
    with app.test_request_context("/"):
        by_arch = UrlPattern("page", ("arch",), project="etcd", release="stable", cloud="aws")
        assert by_arch._parts is None
        assert by_arch(arch="arm 64") == url_for("page", project="etcd", release="stable", cloud="aws", arch="arm 64")
