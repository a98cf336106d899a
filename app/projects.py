"""Per-project pages: ``/projects/<project>`` and ``/projects/<project>/<release>/<cloud>``."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template
from flask.typing import ResponseReturnValue

from crosscloud_app.state import get_state

bp = Blueprint("projects", __name__)


@bp.get("/projects/<project>")
def project_page(project: str) -> ResponseReturnValue:
    snapshot = get_state().snapshot()
    if project not in snapshot.config.projects:
        abort(404, f"no project {project!r} in the configuration")
    return render_template("project.html", snapshot=snapshot, project=snapshot.config.projects[project])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
