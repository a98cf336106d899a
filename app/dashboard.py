"""The dashboard ``/``: the grid of the original cncf.ci, one section per ``cncf_relation``."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask.typing import ResponseReturnValue

from crosscloud_app.state import get_state

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    snapshot = get_state().snapshot()
    return render_template("dashboard.html", snapshot=snapshot, grid=snapshot.grid())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
