"""The December 2018 cncf.ci configuration (7 projects, 8 clouds) with a week of results that covers every status a
cell can show, written with the real writer into a real status repository: what the browser tests and
``tests/helpers/dashboard_screenshots.py`` (the README's screenshots) look at.

What each row shows (hours are before now; every stage writes ``running`` first, then its result, as the action
does, so histories have steps to leave out):

- Kubernetes stable: provisioned on every cloud, except Packet, where ``kubeadm init`` failed on an unknown flag
  (the project's failure, not the cloud's); head: a new build is running, so its provisionings from 30 h ago show
  as stale (not N/A).
- Prometheus stable: all green; head: the build failed, so every cloud is N/A by cascade.
- CoreDNS stable: Azure's provisioning ran out of quota (infra failed; deploy N/A), the OCI deploy timed out;
  head: rebuilt 2 h ago, the clouds not run since show their older results, stale.
- Fluentd stable: the Azure deploy failed (the Summary says failed, not success); head: the AWS deploy is
  running now.
- Linkerd stable: GCE cancelled, every result 80 h old (stale by age); head: nothing ran yet.
- ONAP stable: green on three clouds, nothing elsewhere; Envoy stable and head: green.

``twenty_clouds`` writes the same file with 12 more active clouds, for the grid that must scroll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from crosscloud.records import Record, format_time
from crosscloud.status_repo.writer import StatusRepoWriter
from tests.helpers.status_repos import make_record

CLOUDS: Final = ("aws", "azure", "gce", "ibmcloud", "packet", "openstack", "vsphere", "oci")
"""The active clouds of the December 2018 file, in its order."""
REFS: Final = {
    "kubernetes": ("v1.13.0", "ddeb"), "prometheus": ("v2.5.0", "67dc"), "coredns": ("v1.2.6", "756a"),
    "fluentd": ("v1.2.6", "f1c3"), "linkerd": ("stable-2.0.0", "1e2b"), "so": ("v1.1.0", "0a9f"),
    "envoy": ("v1.8.0", "e8d0"),
}  # fmt: skip
EXTRA_CLOUDS: Final = tuple(f"cloud{n:02d}" for n in range(1, 13))


class Night:
    """Records of one night, written in two commits per batch: every stage's ``running``, then its result."""

    def __init__(self, now: datetime):
        self.now = now
        self.started: list[Record] = []
        self.finished: list[Record] = []

    def add(
        self,
        project: str,
        release: str,
        stage: str,
        status: str,
        *,
        cloud: str | None = None,
        hours: float,
        reason: str | None = None,
        steps: bool = True,
    ) -> None:
        start = self.now - timedelta(hours=hours)
        ref, letter = REFS[project]
        fields: dict[str, Any] = {
            "project": project,
            "release": release,
            "ref": ref if release == "stable" else "master",
            "sha": (letter if release == "stable" else letter[::-1]) * 10,
            "stage": stage,
            "cloud": cloud,
            "kubernetes": {"release": "stable"} if cloud else None,
            "status": status,
            "reason": reason
            if reason is not None
            else (None if status in ("success", "running") else f"{stage} {status}"),
            "started_at": format_time(start),
            "finished_at": None if status == "running" else format_time(start + timedelta(minutes=6)),
            "url": f"https://github.com/cncf/{project}/actions/runs/{int(hours * 10)}/job/{len(self.finished)}",
        }
        if status != "running" and steps:
            self.started.append(make_record(**{**fields, "status": "running", "reason": None, "finished_at": None}))
        self.finished.append(make_record(**fields))

    def pipeline(
        self, project: str, release: str, clouds: tuple[str, ...], statuses: dict[str, str], *, hours: float
    ) -> None:
        """Build, then per cloud provision, deploy and e2e (later stages a few minutes later)."""
        self.add(project, release, "build", statuses.get("build", "success"), hours=hours)
        for cloud in clouds:
            for i, stage in enumerate(("provision", "deploy", "e2e"), start=1):
                status = statuses.get(stage, "success")
                self.add(project, release, stage, status, cloud=cloud, hours=hours - 0.1 * i)
                if status != "success":
                    break

    def write(self, writer: StatusRepoWriter) -> None:
        if self.started:
            writer.write(self.started)
        writer.write(self.finished)


def seed(writer: StatusRepoWriter, now: datetime | None = None, clouds: tuple[str, ...] = CLOUDS) -> None:
    """Write the results of the module doc (``clouds``: the active clouds of the configuration)."""
    now = now or datetime.now(UTC)
    older = Night(now)  # a day and more ago
    for project in ("kubernetes", "coredns", "prometheus"):
        older.pipeline(project, "head", clouds, {}, hours=30)
    older.pipeline("linkerd", "stable", clouds, {}, hours=80)
    older.add("linkerd", "stable", "deploy", "cancelled", cloud="gce", hours=79.7, reason="cancelled by a maintainer")
    older.write(writer)

    night = Night(now)
    for cloud in clouds:
        if cloud == "packet":
            night.add("kubernetes", "stable", "provision", "failed", cloud=cloud, hours=3,
                      reason="kubeadm init: unknown flag: --experimental-upload-certs")  # fmt: skip
        else:
            night.add("kubernetes", "stable", "provision", "success", cloud=cloud, hours=3)
    night.add("kubernetes", "stable", "build", "success", hours=3.5)
    night.add("kubernetes", "head", "build", "running", hours=0.2)
    night.pipeline("prometheus", "stable", clouds, {}, hours=3)
    night.add("prometheus", "head", "build", "failed", hours=2, reason="compile error: undefined: labels.Selector")
    night.add("coredns", "stable", "build", "success", hours=3)
    for cloud in clouds:
        if cloud == "azure":
            night.add("coredns", "stable", "provision", "infra_failed", cloud=cloud, hours=2.9,
                      reason="Azure: QuotaExceeded: cores quota exceeded in westeurope")  # fmt: skip
            continue
        night.add("coredns", "stable", "provision", "success", cloud=cloud, hours=2.9)
        if cloud == "oci":
            night.add(
                "coredns",
                "stable",
                "deploy",
                "timed_out",
                cloud=cloud,
                hours=2.8,
                reason="deploy timed out after 600 s",
            )
            continue
        night.add("coredns", "stable", "deploy", "success", cloud=cloud, hours=2.8)
        night.add("coredns", "stable", "e2e", "success", cloud=cloud, hours=2.7)
    night.add("coredns", "head", "build", "success", hours=2)
    for cloud in clouds[:2]:  # re-run on two clouds since the new build
        for i, stage in enumerate(("provision", "deploy", "e2e"), start=1):
            night.add("coredns", "head", stage, "success", cloud=cloud, hours=2 - 0.1 * i)
    night.add("fluentd", "stable", "build", "success", hours=4)
    for cloud in clouds:
        night.add("fluentd", "stable", "provision", "success", cloud=cloud, hours=3.9)
        if cloud == "azure":
            night.add("fluentd", "stable", "deploy", "failed", cloud=cloud, hours=3.8,
                      reason="pods not ready after 300 s: fluentd-0 CrashLoopBackOff")  # fmt: skip
            continue
        night.add("fluentd", "stable", "deploy", "success", cloud=cloud, hours=3.8)
        night.add("fluentd", "stable", "e2e", "success", cloud=cloud, hours=3.7)
    night.pipeline("fluentd", "head", tuple(c for c in clouds if c != "aws"), {}, hours=5)
    night.add("fluentd", "head", "provision", "success", cloud="aws", hours=0.5)
    night.add("fluentd", "head", "deploy", "running", cloud="aws", hours=0.3)
    night.pipeline("so", "stable", clouds[:3], {}, hours=6)
    night.pipeline("envoy", "stable", clouds, {}, hours=5)
    night.pipeline("envoy", "head", clouds, {}, hours=5)
    night.write(writer)


def twenty_clouds(source: Path, target: Path) -> Path:
    """``source`` (the December 2018 file) with ``EXTRA_CLOUDS`` added: 20 active clouds."""
    data = yaml.safe_load(source.read_text())
    order = max(int(c.get("order", 0)) for c in data["clouds"].values())
    for n, name in enumerate(EXTRA_CLOUDS, start=1):
        data["clouds"][name] = {"active": True, "display_name": f"Community Cloud {n}", "order": order + n}
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
