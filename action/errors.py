"""How a stage fails. The class says what the cell will read; the message is the record's reason."""

from __future__ import annotations


class StageFailure(Exception):
    """A stage did not succeed. ``status`` is the record status it maps to."""

    status = "failed"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProjectFailure(StageFailure):
    """The project failed: its build, its deployment or its end-to-end checks."""

    status = "failed"


class InfraFailure(StageFailure):
    """The environment failed, not the project: a missing tool, a cloud error, a registry that is down."""

    status = "infra_failed"


class StageTimeout(StageFailure):
    """The stage ran past the project's timeout."""

    status = "timed_out"


class StageCancelled(StageFailure):
    """The run was interrupted (Ctrl-C, a cancelled workflow): the stage stopped and was torn down."""

    status = "cancelled"
