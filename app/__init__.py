"""The Cross-Cloud CI GitHub App (package ``crosscloud_app``): dashboard, badges, history API and webhooks,
served from the status repository. It never runs a stage.

Its packages, each registered by name in ``create_app``:

- ``web``: the infrastructure the others build on (settings, the served state of the status repository, the
  one HTTP error path, request bodies and bearer tokens, the one path that writes the status repository,
  metrics, ``/healthz`` and ``/metrics``); it imports none of the others;
- ``pages``: the dashboard, the project and cell pages and the Atom feed (templates in ``templates/``,
  the stylesheet in ``static/``);
- ``badges``: README badges, drawn like shields.io's;
- ``api``: the machine API (``/api/v1``, ``/alerts.json`` and ``/check-runs.json``), registered and
  documented from one table;
- ``github_app``: webhooks, talking to GitHub as the App, failure issues, check runs, ``crosscloud trigger``.

Beside them, ``create_app`` here wires the packages into one app, ``serve_command`` serves it
(``crosscloud serve``) and ``cli`` adds the app's commands to ``crosscloud``. The sixth package, ``publish``
(``crosscloud publish``), is not registered in the app: it drives the whole app from outside, asking it for
every path of the static site (one renderer, two outputs).

How a status looks on every face is ``crosscloud.presentation``'s."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app, serving the status repository named by ``CROSSCLOUD_STATUS_REPO`` (or ``test_config``).

    The first refresh runs here, synchronously; when it fails the app still starts and answers 503
    until a later refresh succeeds. (The imports are here, not at the top, so that the ``crosscloud`` command,
    which loads ``crosscloud_app.serve_command``, does not load Flask and every surface to start.)"""
    from flask import Flask

    from crosscloud.status_repo.git import Remote
    from crosscloud_app import api, badges, pages
    from crosscloud_app.github_app import check_runs, failure_issues, webhooks
    from crosscloud_app.web import http_errors, monitoring, public_url, response_headers, settings, worker_slots
    from crosscloud_app.web.status_state import EXTENSION, NotReadyError, StatusState

    app = Flask(__name__)
    app.config.from_prefixed_env(settings.ENV_PREFIX)
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings.apply_defaults(app)

    remote = Remote.parse(settings.status_repo(app), app.config.get("TOKEN") or None)
    public_url.check(app)
    mirror_dir, shared_tip = settings.mirror_dir(app), None
    if app.config.get("MIRROR_PER_WORKER"):  # one of several worker processes (see web.worker_slots)
        slot = worker_slots.claim(mirror_dir)
        app.extensions[worker_slots.EXTENSION] = slot
        mirror_dir, shared_tip = slot.path, settings.mirror_dir(app) / worker_slots.TIP_FILE
    state = StatusState(
        remote,
        mirror_dir,
        refresh_seconds=settings.refresh_seconds(app),
        history_days=settings.history_days(app),
        clock=settings.clock(app),
        shared_tip=shared_tip,
    )
    app.extensions[EXTENSION] = state
    with contextlib.suppress(NotReadyError):  # served as 503 (/healthz says why) until a refresh succeeds
        state.refresh_now("startup")
    state.start()

    http_errors.register(app)
    response_headers.register(app)
    pages.register(app)
    badges.register(app)
    api.register(app)
    monitoring.register(app)
    webhooks.register(app)
    failure_issues.register(app)
    check_runs.register(app)
    return app
