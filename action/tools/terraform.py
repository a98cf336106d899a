"""terraform for the provision stage: apply a cloud's module with the shared inputs, read its outputs,
and destroy it. Each cell works on its own copy of the module, so parallel cells never share state."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from crosscloud import packaged
from crosscloud_action.errors import InfraFailure
from crosscloud_action.model import Target
from crosscloud_action.runtimes.interface import StageContext
from crosscloud_action.tools import process

ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
DESTROY_BUDGET = 600.0
"""Seconds destroy may take, counted from when it starts: teardown gets its own time, even after a timeout."""


def modules_root() -> Path:
    """``terraform/``: ``$CROSSCLOUD_TERRAFORM_DIR`` when set, else the modules the installed package
    carries (``crosscloud.packaged``)."""
    return packaged.terraform_modules()


class Terraform:
    """One environment: ``apply()`` once, then ``destroy()`` always (safe to call when apply failed)."""

    def __init__(self, ctx: StageContext, module: Path, inputs: Mapping[str, Any]):
        if not (module / "main.tf").is_file():
            raise InfraFailure(f"no terraform module at {module}")
        self.ctx = ctx
        self.dir = ctx.workdir / "terraform"
        self.inputs = dict(inputs)
        self.applied = False
        if self.dir.exists():
            shutil.rmtree(self.dir)
        # The provider lock file comes along (init then installs exactly the committed providers); a
        # developer's .terraform/ and state do not.
        shutil.copytree(module, self.dir, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        (self.dir / "inputs.auto.tfvars.json").write_text(json.dumps(self.inputs, indent=2))

    def _run(self, ctx: StageContext, *args: str, log_stdout: bool = True) -> str:
        result = process.run(
            ctx, ["terraform", *args, "-no-color"], cwd=self.dir, env=ENV, failure=InfraFailure, log_stdout=log_stdout
        )
        return result.stdout

    def apply(self) -> Target:
        """init + apply; the outputs become the ``Target``. Any failure here is the cloud's, not the project's."""
        self._run(self.ctx, "init", "-input=false")
        self.applied = True  # from here on a partial apply may have created something: destroy must run
        self._run(self.ctx, "apply", "-auto-approve", "-input=false")
        # `output -json` prints sensitive outputs (the kubeconfig) in clear text: never into the log.
        raw = json.loads(self._run(self.ctx, "output", "-json", log_stdout=False) or "{}")
        outputs = {name: value.get("value") for name, value in raw.items()}
        for name in ("endpoint", "cloud"):
            if not outputs.get(name):
                raise InfraFailure(f"terraform module gave no '{name}' output")
        sandbox = outputs.get("sandbox")
        return Target(
            cloud=str(outputs["cloud"]),
            endpoint=str(outputs["endpoint"]),
            kubernetes_version=outputs.get("kubernetes_version"),
            kubeconfig=outputs.get("kubeconfig"),
            sandbox=Path(sandbox) if sandbox else None,
            outputs=outputs,
        )

    def destroy(self) -> None:
        """Destroy whatever apply created, with a fresh time budget and ignoring a cancellation (a
        cancelled run must still not leave resources behind)."""
        if not self.applied:
            return
        ctx = replace(self.ctx, deadline=time.monotonic() + DESTROY_BUDGET)
        ctx.cancel = type(self.ctx.cancel)()  # a fresh, unset event
        self._run(ctx, "destroy", "-auto-approve", "-input=false")
        self.applied = False
