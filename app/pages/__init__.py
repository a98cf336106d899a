"""The pages people read: the dashboard grid (``dashboard``, its rows in ``dashboard_rows``), a project's and a
cell's history (``project_pages``, with ``/projects``, the list) and the Atom feed of status changes (``feed``),
with what their templates call in ``template_helpers`` (statuses look as ``crosscloud.presentation`` says) and
the footer every page carries (``site_links``). The templates and the stylesheet live where Flask finds them,
``app/templates`` and ``app/static``. It builds on ``crosscloud_app.web``."""

from __future__ import annotations

from flask import Flask

from crosscloud_app.pages import dashboard, feed, project_pages, site_links, template_helpers


def register(app: Flask) -> None:
    """The three blueprints and the templates' globals."""
    for blueprint in (dashboard.bp, project_pages.bp, feed.bp):
        app.register_blueprint(blueprint)
    app.jinja_env.globals.update(template_helpers.GLOBALS)
    app.context_processor(site_links.footer_context)
