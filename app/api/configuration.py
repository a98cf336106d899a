"""``/api/v1/projects``, ``/api/v1/projects/{project}`` and ``/api/v1/clouds``: the projects and clouds of the
served snapshot's ``cross-cloud.yml``, with links to where the API says more about each project."""

from __future__ import annotations

from typing import Any

from flask import url_for
from werkzeug.wrappers import Response

from crosscloud.config import Cloud, Project
from crosscloud.vocabulary import RELEASES
from crosscloud_app.api import answers
from crosscloud_app.api.query import path_project, query_args
from crosscloud_app.web.status_state import get_state


def project_json(project: Project) -> dict[str, Any]:
    name = project.name
    return {
        "name": name,
        "display_name": project.display_name,
        "sub_title": project.sub_title,
        "cncf_relation": project.cncf_relation,
        "active": project.active,
        "app_layer": project.app_layer,
        "arch": list(project.arch),
        "releases": list(project.releases),
        "refs": {release: project.ref(release) for release in RELEASES},
        "repository_url": project.repository_url,
        "links": {
            "self": url_for("api.project", project=name),
            "cells": url_for("api.cells", project=name),
            "history": url_for("api.history", project=name),
        },
    }


def cloud_json(cloud: Cloud) -> dict[str, Any]:
    return {
        "name": cloud.name,
        "display_name": cloud.display_name,
        "active": cloud.active,
        "order": cloud.order,
        "kubernetes": cloud.kubernetes,
        "arch": list(cloud.arch),
        "region": cloud.region,
    }


def projects() -> Response:
    query_args()
    snap = get_state().snapshot()
    body = {"commit": snap.commit, "projects": [project_json(p) for p in snap.config.projects.values()]}
    return answers.serve(snap.commit, body)


def project(project: str) -> Response:
    query_args()
    snap = get_state().snapshot()
    body = {"commit": snap.commit, "project": project_json(path_project(snap.config, project))}
    return answers.serve(snap.commit, body)


def clouds() -> Response:
    query_args()
    snap = get_state().snapshot()
    return answers.serve(
        snap.commit, {"commit": snap.commit, "clouds": [cloud_json(c) for c in snap.config.clouds.values()]}
    )
