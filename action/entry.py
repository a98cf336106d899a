"""What ``action.yml`` runs. Inputs arrive as ``CROSSCLOUD_*`` environment variables (never interpolated
into a shell); everything is checked before any stage runs; results are recorded directly or left as
files for the fan-in recorder; the job gets outputs, a summary and annotations that say what to fix."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from crosscloud.config import Config, load_config
from crosscloud.errors import BadInputError, CrossCloudError, UnknownNameError
from crosscloud.provenance import job_url, run_provenance
from crosscloud.records import Record
from crosscloud.status_repo.git import Remote
from crosscloud.status_repo.writer import StatusRepoWriter
from crosscloud.vocabulary import ARCHES, RELEASES, check_choice, check_name
from crosscloud_action import gha
from crosscloud_action.junit_report import records_to_junit
from crosscloud_action.model import Pinned
from crosscloud_action.pipeline import JobResult, Pipeline
from crosscloud_action.recording import DirectRecorder, FanInRecorder, OidcRecorder, Recorder

STAGES = ("build", "cloud", "all")
MODES = ("direct", "fan-in", "oidc")


@dataclass(frozen=True)
class Inputs:
    stage: str
    project: str
    release: str
    cloud: str | None
    arch: str | None
    kubernetes: str
    config: Path | None
    status_repo: str
    token: str | None
    mode: str
    results_dir: Path
    output_dir: Path
    pinned: Path | None
    job_id: str | None
    app_url: str | None = None
    """Mode oidc: the app whose ``POST /api/v1/results`` records the results."""
    audience: str | None = None
    """Mode oidc: the OIDC token's audience (the app's ``OIDC_AUDIENCE``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(f"CROSSCLOUD_{name.upper().replace('-', '_')}", "").strip()
            return value or default

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                raise BadInputError(f"input '{name}' is required")
            return value

        stage = check_choice("stage", get("stage", "all") or "all", STAGES)
        mode = check_choice("mode", get("mode", "direct") or "direct", MODES)
        release = check_choice("release", need("release"), RELEASES)
        arch = get("arch")
        if arch is not None:
            check_choice("arch", arch, ARCHES)
        cloud = get("cloud")
        if stage != "build" and cloud is None:
            raise BadInputError(f"input 'cloud' is required for stage '{stage}'")
        temp = Path(env.get("RUNNER_TEMP") or "/tmp")  # noqa: S108 - the runner's temp when there is one
        return cls(
            stage=stage,
            project=check_name("project", need("project")),
            release=release,
            cloud=check_name("cloud", cloud) if cloud else None,
            arch=arch,
            kubernetes=check_choice("kubernetes", get("kubernetes", "stable") or "stable", RELEASES),
            config=Path(c) if (c := get("config")) else None,
            status_repo=need("status-repo"),
            token=get("token"),
            mode=mode,
            results_dir=Path(get("results-dir") or temp / "crosscloud-results"),
            output_dir=Path(get("output-dir") or temp / "crosscloud-output"),
            pinned=Path(p) if (p := get("pinned")) else None,
            job_id=get("job-id"),
            app_url=get("app-url"),
            audience=get("audience"),
        )


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        inputs = Inputs.from_env(env)
    except CrossCloudError as exc:
        gha.annotate("error", f"{exc}", title="Cross-Cloud CI: bad input")
        return 2
    if inputs.token:
        gha.mask(inputs.token)
    try:
        return _run(inputs, env)
    except CrossCloudError as exc:
        gha.annotate("error", str(exc), title="Cross-Cloud CI")
        return exc.exit_code


def _check(config: Config, inputs: Inputs) -> None:
    """Names against the configuration, before anything runs; errors list the allowed values."""
    project = config.project(inputs.project)
    if inputs.release not in project.releases:
        raise UnknownNameError("release", inputs.release, project.releases, where=f"project {project.name}")
    if inputs.arch and inputs.arch not in project.arch:
        raise UnknownNameError("arch", inputs.arch, project.arch, where=f"project {project.name}")
    if inputs.cloud:
        config.cloud(inputs.cloud)


def _run(inputs: Inputs, env: Mapping[str, str]) -> int:
    remote = Remote.parse(inputs.status_repo, inputs.token)
    if inputs.mode == "direct" and remote.url.startswith(("https://", "http://")) and not remote.token:
        raise BadInputError(f"status-repo {remote} needs a token (input 'token') to record results")
    writer = StatusRepoWriter(remote)
    recorder: Recorder
    if inputs.mode == "oidc":  # checked before the config is read: a missing permission fails at once
        recorder = OidcRecorder.from_env(inputs.app_url, inputs.audience, env)
    elif inputs.mode == "fan-in":
        recorder = FanInRecorder(inputs.results_dir)
    else:
        recorder = DirectRecorder(writer)
    config = load_config(inputs.config) if inputs.config else writer.config()
    _check(config, inputs)
    project = config.project(inputs.project)
    arch = inputs.arch or project.arch[0]
    work = Path(env.get("RUNNER_TEMP") or "/tmp") / "crosscloud-work"  # noqa: S108
    pipeline = Pipeline(
        config,
        recorder,
        workroot=work,
        log_dir=inputs.output_dir / "logs",
        run=run_provenance(env),
        job_url=job_url(env, inputs.job_id),
        env={"CROSSCLOUD_KUBERNETES": inputs.kubernetes},
    )
    inputs.output_dir.mkdir(parents=True, exist_ok=True)
    results: list[JobResult] = []
    pinned: Pinned | None = None
    outputs: dict[str, str] = {}
    if inputs.stage in ("build", "all"):
        build = pipeline.build(project, inputs.release, arch)
        results.append(build)
        pinned = build.pinned
        if pinned is not None:
            pinned_path = inputs.output_dir / "pinned.json"
            pinned_path.write_text(pinned.to_json(), encoding="utf-8")
            release_env = inputs.output_dir / "release.env"
            release_env.write_text(pinned.release_env(), encoding="utf-8")
            outputs.update({"pinned": str(pinned_path), "release-env": str(release_env)})
    if inputs.stage in ("cloud", "all"):
        assert inputs.cloud is not None
        if inputs.stage == "cloud":
            pinned = _read_pinned(inputs.pinned) if inputs.pinned else None
        results.append(pipeline.cloud(project, inputs.release, arch, config.cloud(inputs.cloud), pinned,
                                      kubernetes=inputs.kubernetes))  # fmt: skip
    records = [r for result in results for r in result.records]
    status = next((result.status for result in results if result.status != "success"), "success")
    teardown = [e for result in results for e in result.teardown_errors]
    # The stages as JUnit XML too, for TestGrid-style tools and CI test reporters.
    junit = inputs.output_dir / "junit.xml"
    junit.write_text(records_to_junit(records), encoding="utf-8")
    outputs.update(
        {
            "junit": str(junit),
            "status": status,
            "records": json.dumps([r.data for r in records]),
            "results-dir": str(inputs.results_dir) if inputs.mode == "fan-in" else "",
            "logs": str(inputs.output_dir / "logs"),
        }
    )
    gha.set_outputs(outputs)
    title = f"Cross-Cloud CI: {project.display_name} {inputs.release}" + (f" on {inputs.cloud}" if inputs.cloud else "")
    gha.write_summary(
        gha.summary_markdown(records, title=title, log_hint=f"Stage logs: `{inputs.output_dir / 'logs'}`")
    )
    _annotate_failures(records)
    for error in teardown:
        gha.annotate("error", f"teardown: {error}; cloud resources may be left behind", title="Cross-Cloud CI teardown")
    for record in records:
        print(f"{record.summary()}" + (f" ({record.reason})" if record.reason else ""))
    return 0 if status == "success" and not teardown else 1


def _read_pinned(path: Path) -> Pinned:
    try:
        return Pinned.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"input 'pinned': cannot read {path}: {exc}") from None


def _annotate_failures(records: list[Record]) -> None:
    for record in records:
        hint = gha.HINTS.get(record.status)
        if hint:
            reason = record.reason or record.status
            gha.annotate("error", f"{reason}. What to do: {hint}.", title=f"{record.summary()}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
