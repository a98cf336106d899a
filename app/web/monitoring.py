"""Operations endpoints: ``/healthz`` for load balancers and ``/metrics`` for Prometheus."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from flask.typing import ResponseReturnValue

from crosscloud_app.web import metrics
from crosscloud_app.web.status_state import get_state

bp = Blueprint("ops", __name__)

metrics.describe("crosscloud_mirror_age_seconds", "Seconds since the last successful refresh of the mirror.")
metrics.describe("crosscloud_index_entries", "Cell versions in the status index.")
metrics.describe("crosscloud_ready", "1 when there is a good state to serve.")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with the served commit and the mirror's age; 503 when there has never been a good state."""
    state = get_state()
    body = {"status": "ok" if state.ready else "unavailable", **state.status()}
    return jsonify(body), 200 if state.ready else 503


@bp.get("/metrics")
def prometheus() -> ResponseReturnValue:
    state = get_state()
    status = state.status()
    metrics.set_gauge("crosscloud_ready", 1.0 if state.ready else 0.0)
    if status["mirror_age_seconds"] is not None:
        metrics.set_gauge("crosscloud_mirror_age_seconds", float(status["mirror_age_seconds"]))
    metrics.set_gauge("crosscloud_index_entries", float(state.index_size()))
    return Response(metrics.render(), mimetype="text/plain", content_type="text/plain; version=0.0.4; charset=utf-8")


def register(app: Flask) -> None:
    app.register_blueprint(bp)
