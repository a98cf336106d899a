"""The contract between the pipeline and a runtime. A cloud's config says which runtime it uses
(``kubernetes: false`` is the host runtime); the pipeline calls deploy, then e2e, then always teardown."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from crosscloud.config import Cloud, Project
from crosscloud_action.model import Pinned, Target

REASON_LIMIT = 450
"""Characters of a stage failure's reason a runtime writes: a record's reason holds 500, which leaves room
for the message and, on the host, the end of the process's log."""


@dataclass
class StageContext:
    """Everything a stage may use. ``deadline`` is a ``time.monotonic()`` value: work past it must stop
    and raise ``StageTimeout``. ``cancel`` is set on Ctrl-C or workflow cancellation: stop and raise
    ``StageCancelled``."""

    project: Project
    release: str
    arch: str
    cloud: Cloud | None
    workdir: Path
    """A directory of this cell's own (logs, downloads, state); removed by the caller."""
    log: IO[str]
    """The cell's log: everything a person needs to see why it failed."""
    deadline: float
    cancel: threading.Event = field(default_factory=threading.Event)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    """What deploy started, for e2e and teardown. ``endpoints`` name what e2e talks to
    (e.g. ``{"http": "http://127.0.0.1:41234"}``); ``handles`` are the runtime's own."""

    target: Target
    pinned: Pinned
    endpoints: dict[str, str] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)


class Runtime(Protocol):
    def deploy(self, ctx: StageContext, target: Target, pinned: Pinned) -> Deployment:
        """Install the pinned artifacts onto the target and wait until ready; raise a ``StageFailure``."""
        ...

    def e2e(self, ctx: StageContext, deployment: Deployment) -> None:
        """Run the project's end-to-end checks against the deployment; raise a ``StageFailure``."""
        ...

    def teardown(self, ctx: StageContext, deployment: Deployment) -> None:
        """Stop and remove everything deploy started. Called always, also after a failure; never raises
        for something already gone."""
        ...
