"""``crosscloud onboard``: a CNCF project adds itself to Cross-Cloud CI in one command.

The original asked maintainers to follow a page of manual GitLab steps (ADDAPROJECT.md). Here the
cookiecutter template ``workflows-templates/onboard/`` generates what a project needs, from a few answers:

- its entry for the status repository's ``cross-cloud.yml`` (``cross-cloud-entry.yml``), or, with
  ``--config FILE``, that entry inserted into FILE as text, so that its comments and order survive;
- ``.github/workflows/cross-cloud.yml``, the per-project workflow of ``workflows-templates/project.yml``
  with the project's name and a matrix over its clouds and architectures;
- ``helm/<chart>/``, a chart skeleton the deploy and e2e stages install, with a ``helm test`` hook.

Answers are checked here, before anything is generated or written (the template's pre-generation hook
runs the same checks for a plain ``cookiecutter`` run); a bad one exits 2 with a line naming the field."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosscloud import packaged, schemas
from crosscloud.config import DEFAULT_ORDER, Config
from crosscloud.errors import BadInputError, CrossCloudError
from crosscloud.vocabulary import ARCHES, check_name

ENTRY_FILE = "cross-cloud-entry.yml"
"""The generated entry for ``cross-cloud.yml`` (not copied to the output with ``--config``)."""

CHART_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$"
"""Helm's rule for chart names, short enough that ``<release>-<chart>`` stays a DNS label."""

RUNNERS: Mapping[str, str] = {"amd64": "ubuntu-latest", "arm64": "ubuntu-24.04-arm"}
"""GitHub-hosted runners per arch (the workflow template has the same table); other arches get a
self-hosted runner labelled with the arch."""

_config_defs = schemas.load(schemas.CONFIG)["$defs"]
_REPOSITORY_RE = re.compile(_config_defs["project"]["properties"]["repository"]["pattern"])
_REF_RE = re.compile(_config_defs["ref"]["pattern"])
_TEXT_RE = re.compile(_config_defs["text"]["pattern"])
_TEXT_MAX = int(_config_defs["text"]["maxLength"])
_CHART_RE = re.compile(CHART_NAME_PATTERN)


@dataclass(frozen=True)
class Answers:
    """What a project answered, checked; ``context()`` is what the template is rendered with."""

    name: str
    display_name: str
    repository: str
    stable_ref: str
    head_ref: str
    chart: str
    cncf_relation: str
    arches: tuple[str, ...]
    clouds: tuple[str, ...]
    binary: str = ""
    run: str = ""
    e2e: str = ""

    def context(self) -> dict[str, str]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "repository": self.repository,
            "stable_ref": self.stable_ref,
            "head_ref": self.head_ref,
            "chart": self.chart,
            "cncf_relation": self.cncf_relation,
            "arches": ",".join(self.arches),
            "clouds": ",".join(self.clouds),
            "binary": self.binary,
            "run": self.run,
            "e2e": self.e2e,
        }


# -- the checks -------------------------------------------------------------------------------------------


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > _TEXT_MAX or not _TEXT_RE.fullmatch(value):
        raise ValueError(f"{value[:80]!r} must be at most {_TEXT_MAX} characters without control characters")
    return value


def _name(value: str) -> str:
    return check_name("project", value.strip())


def _repository(value: str) -> str:
    value = value.strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not _REPOSITORY_RE.fullmatch(value) or any(part in {".", ".."} for part in value.split("/")):
        raise ValueError(f"{value[:80]!r} is not a GitHub repository: use owner/name, e.g. nats-io/nats-server")
    return value


def _ref(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty (a tag, a branch or a commit)")
    if not _REF_RE.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a git ref: no spaces, control characters or ~^:?*[\\")
    return value


def _chart(value: str) -> str:
    value = value.strip()
    if not _CHART_RE.fullmatch(value):
        raise ValueError(
            f"invalid chart name {value[:80]!r}: use at most 53 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _words(value: str | list[str] | tuple[str, ...]) -> list[str]:
    text = value if isinstance(value, str) else ",".join(value)
    return text.replace(",", " ").split()


def _arches(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    arches = _words(value)
    if not arches:
        raise ValueError(f"name at least one of {', '.join(ARCHES)}")
    for arch in arches:
        if arch not in ARCHES:
            raise ValueError(f"unknown arch {arch!r}; allowed: {', '.join(ARCHES)}")
    if len(set(arches)) != len(arches):
        raise ValueError(f"{', '.join(arches)} names an arch twice")
    return tuple(arches)


def _clouds(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    clouds = _words(value)
    if not clouds:
        raise ValueError("name at least one cloud, e.g. kind")
    for cloud in clouds:
        check_name("cloud", cloud)
    if len(set(clouds)) != len(clouds):
        raise ValueError(f"{', '.join(clouds)} names a cloud twice")
    return tuple(clouds)


_BINARY_RE = re.compile(_config_defs["binary"]["properties"]["name"]["pattern"])
_ARG_MAX = 2000


def _binary(value: str) -> str:
    value = value.strip()
    if value and not _BINARY_RE.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a binary's name (letters, digits, '.', '_', '+', '-')")
    return value


def _command(value: str | list[str] | tuple[str, ...]) -> str:
    """A command line for the host clouds: words separated by spaces (no quoting), placeholders such as
    ``{port}``, ``{dir}`` and ``{binary.NAME}`` allowed. Empty: none."""
    words = value.split() if isinstance(value, str) else [str(word) for word in value]
    for word in words:
        if len(word) > _ARG_MAX or not _TEXT_RE.fullmatch(word):
            raise ValueError(f"{word[:80]!r} must be at most {_ARG_MAX} characters without control characters")
    return " ".join(words)


CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "name": _name,
    "display_name": _text,
    "repository": _repository,
    "stable_ref": _ref,
    "head_ref": _ref,
    "chart": _chart,
    "cncf_relation": _text,
    "arches": _arches,
    "clouds": _clouds,
    "binary": _binary,
    "run": _command,
    "e2e": _command,
}
"""One check per answer, in the order of ``cookiecutter.json``; each returns the cleaned value."""

HOST_ONLY = ("binary", "run", "e2e")
"""Answers that only a cloud without Kubernetes (the ``local`` cloud) uses: asked only when one is chosen."""


def check_field(field: str, value: Any) -> Any:
    """The cleaned ``value`` of ``field``, or a ``BadInputError`` whose message starts with the field."""
    if not isinstance(value, str | list | tuple):
        raise BadInputError(f"{field}: expected text, got {type(value).__name__}")
    try:
        return CHECKS[field](value)
    except (ValueError, BadInputError) as exc:
        raise BadInputError(f"{field}: {exc}") from None


def check_answers(raw: Mapping[str, Any]) -> Answers:
    """Every answer checked, in order; the first bad one is reported. Also run by the template's hook."""
    missing = [field for field in CHECKS if field not in raw and field not in HOST_ONLY]
    if missing:
        raise BadInputError(f"{missing[0]}: no answer")
    return Answers(**{field: check_field(field, raw[field]) for field in CHECKS if field in raw})


# -- the template -----------------------------------------------------------------------------------------


def template_dir() -> Path:
    """``workflows-templates/onboard/``, as the package carries it (``crosscloud.packaged``)."""
    return packaged.onboard_template()


def _context(template: Path) -> dict[str, Any]:
    from cookiecutter.generate import generate_context  # type: ignore[import-untyped]

    context: dict[str, Any] = generate_context(str(template / "cookiecutter.json"))
    return context


@dataclass(frozen=True)
class Target:
    """What the ``cross-cloud.yml`` an onboarding goes into offers: its clouds (and which run on the host),
    its sections, the next free ``order``. Without a file: the clouds Cross-Cloud CI has modules for."""

    clouds: tuple[str, ...]
    host_clouds: frozenset[str]
    relations: tuple[str, ...] = ()
    order: int = 1
    source: str | None = None

    @classmethod
    def of(cls, config: Config | None, source: str | None = None) -> Target:
        if config is None:
            return cls(known_modules(), frozenset({"local"}))
        orders = [p.order for p in config.projects.values() if p.order != DEFAULT_ORDER]
        return cls(
            tuple(config.clouds),
            frozenset(name for name, cloud in config.clouds.items() if not cloud.kubernetes),
            tuple(config.cncf_relations),
            max(orders, default=0) + 1,
            source,
        )

    def default_clouds(self, config: Config | None) -> str:
        """kind, else local when the file has it active (they need no account), else kind (added)."""
        if config is not None:
            for name in ("kind", "local"):
                if name in config.clouds and config.clouds[name].active:
                    return name
        return "kind"

    def is_host(self, cloud: str) -> bool:
        return cloud in self.host_clouds or (cloud not in self.clouds and cloud in HOST_MODULES)


HOST_MODULES = frozenset({"local"})
"""Terraform modules of clouds that run projects on the host (no Kubernetes)."""


def known_modules() -> tuple[str, ...]:
    """The clouds Cross-Cloud CI has a terraform module for (``terraform/<cloud>/``), sorted."""
    root = packaged.terraform_modules()
    return tuple(sorted(p.name for p in root.iterdir() if (p / "main.tf").is_file()))


def ask(
    given: Mapping[str, str],
    *,
    no_input: bool,
    template: Path | None = None,
    target: Target | None = None,
    config: Config | None = None,
) -> Answers:
    """The answers: ``given`` ones as they are, the others from cookiecutter's prompts (or, with
    ``no_input``, the defaults of ``cookiecutter.json``, which may refer to earlier answers).

    With a ``target`` configuration the prompts offer its clouds and its sections only. Each answer is
    checked as soon as it is known, so a typo in the first question is not reported after the last one;
    at a prompt, a bad answer is explained and asked again. The questions for a host cloud (``binary``,
    ``run``, ``e2e``) are asked only when one of the clouds runs on the host."""
    from cookiecutter.prompt import read_user_choice, read_user_variable, render_variable  # type: ignore[import-untyped]
    from cookiecutter.utils import create_env_with_context  # type: ignore[import-untyped]

    template = template or template_dir()
    target = target or Target.of(config)
    context = _context(template)
    variables: dict[str, Any] = context["cookiecutter"]
    prompts = dict(variables.get("__prompts__", {}))
    if target.source is not None:
        variables["clouds"] = target.default_clouds(config)
        prompts["clouds"] = (
            f"Clouds, comma-separated: of {target.source}: {', '.join(target.clouds)}; "
            f"or one of {', '.join(m for m in known_modules() if m not in target.clouds)} (added to the file)"
        )
        if target.relations:
            variables["cncf_relation"] = list(target.relations)
    env = create_env_with_context(context)
    answers: dict[str, Any] = {}
    for key, raw in variables.items():
        if key.startswith("_"):
            continue
        if key not in CHECKS:
            raise CrossCloudError(f"{template}/cookiecutter.json: variable {key!r} has no check in crosscloud.onboard")
        if key in given:
            answers[key] = check_field(key, given[key])
            continue
        if key in HOST_ONLY and not any(target.is_host(c) for c in answers.get("clouds", ())):
            answers[key] = ""
            continue
        options = [render_variable(env, option, answers) for option in raw] if isinstance(raw, list) else None
        default = options[0] if options else render_variable(env, raw, answers)
        while True:
            if no_input:
                value = default
            else:
                try:
                    value = (
                        read_user_choice(key, options, prompts)
                        if options
                        else read_user_variable(key, default, prompts)
                    )
                except EOFError:
                    raise BadInputError(f"{key}: no answer (end of input)") from None
            try:
                answers[key] = check_field(key, value)
                break
            except BadInputError as exc:
                if no_input:
                    raise
                print(f"  {exc}; try again")
    missing = [field for field in CHECKS if field not in answers]
    if missing:
        raise CrossCloudError(f"cookiecutter.json of the template has no variable {missing[0]!r}")
    return Answers(**answers)


def render(answers: Answers, workdir: Path, template: Path | None = None, *, order: int = 1) -> Path:
    """Generate the project's files under ``workdir``; returns the generated directory. ``order`` is the
    project's row on the dashboard (the next free one of the target file)."""
    from cookiecutter.exceptions import CookiecutterException  # type: ignore[import-untyped]
    from cookiecutter.generate import generate_files

    template = template or template_dir()
    context = _context(template)
    context["cookiecutter"].update(answers.context())  # a choice becomes the chosen value
    context["cookiecutter"]["__order"] = str(order)
    try:
        generated = generate_files(repo_dir=str(template), context=context, output_dir=str(workdir))
    except CookiecutterException as exc:
        raise BadInputError(f"the template refused the answers: {exc}") from exc
    return Path(generated)


# -- the workflow's cloud credentials ---------------------------------------------------------------------

CREDENTIALS_START = "# ---- cloud credentials:"
CREDENTIALS_END = "# ---- end of cloud credentials"
OIDC_CLOUDS = ("aws", "gcp", "azure")
"""Clouds whose credentials step trades the job's GitHub OIDC token: their jobs need ``id-token: write``."""
_STEP_RE = re.compile(r"^(\s*)# - name: credentials for (\S+)")
_ID_TOKEN_RE = re.compile(r"^(\s*)# (id-token: write\b.*)$")


def credential_steps(text: str) -> dict[str, tuple[int, int]]:
    """Cloud -> (first, end) line index of its commented step in the credentials block of a workflow
    (``workflows-templates/project.yml``): the block is between ``CREDENTIALS_START`` and ``CREDENTIALS_END``."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(CREDENTIALS_START)), None)
    end = next((i for i, line in enumerate(lines) if line.strip().startswith(CREDENTIALS_END)), None)
    if start is None or end is None or end < start:
        return {}
    steps: dict[str, tuple[int, int]] = {}
    current: str | None = None
    for index in range(start + 1, end):
        match = _STEP_RE.match(lines[index])
        if match:
            current = match.group(2)
            steps[current] = (index, index + 1)
        elif current is not None:
            steps[current] = (steps[current][0], index + 1)
    return steps


def enable_cloud_credentials(text: str, clouds: Sequence[str] | None) -> str:
    """``text`` with the credentials steps of ``clouds`` uncommented (None: every step), and the job's
    commented ``id-token: write`` too when one of them trades an OIDC token. Clouds without a step (kind,
    local) need none."""
    lines = text.splitlines(keepends=True)
    steps = credential_steps(text)
    wanted = list(steps) if clouds is None else [c for c in clouds if c in steps]
    for cloud in wanted:
        first, end = steps[cloud]
        indent = _STEP_RE.match(lines[first]).group(1)  # type: ignore[union-attr]
        for index in range(first, end):
            line = lines[index]
            if line.startswith(indent + "# "):
                lines[index] = indent + line[len(indent) + 2 :]
            elif line.rstrip("\r\n") == indent + "#":
                lines[index] = line[len(indent) + 1 :]
    if any(cloud in OIDC_CLOUDS for cloud in wanted):
        for index, line in enumerate(lines):
            body = line.rstrip("\r\n")
            match = _ID_TOKEN_RE.match(body)
            if match:
                lines[index] = match.group(1) + match.group(2) + line[len(body) :]
    return "".join(lines)


# -- cross-cloud.yml --------------------------------------------------------------------------------------


def entry_block(entry_text: str) -> list[str]:
    """The lines of the project under ``projects:`` in a generated entry file, without their indentation
    (``  name:`` becomes ``name:``); comments and the ``projects:`` line itself are left out."""
    lines = entry_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip() == "projects:") + 1
    block = [line for line in lines[start:] if line.strip()]
    if not block or not all(line.startswith("  ") for line in block):
        raise CrossCloudError(f"{ENTRY_FILE}: the template's entry is not indented under projects:")
    return [line[2:] for line in block]


def insert_project(config_text: str, block: list[str], source: str) -> str:
    """``config_text`` with ``block`` appended to its top-level ``projects:`` mapping (see ``insert_into``)."""
    return insert_into(config_text, "projects", block, source)


def insert_into(config_text: str, key: str, block: list[str], source: str) -> str:
    """``config_text`` with ``block`` appended to its top-level ``key:`` mapping, as text.

    Not a YAML round trip: every other byte of the file (comments, order, quoting, trailing spaces)
    stays as it was. The block goes after the last indented line of the mapping, so comments at
    column 0 that introduce the next top-level key stay with that key."""
    from crosscloud import yaml_source

    _, where = yaml_source.load(config_text, source)
    line_no = where.get((key,))
    if line_no is None:
        raise BadInputError(f"{source}: {key}: no top-level {key} mapping to add to")
    lines = config_text.splitlines(keepends=True)
    head = lines[line_no - 1]
    if not re.fullmatch(rf"""["']?{key}["']?\s*:\s*(#.*)?""", head.rstrip("\r\n")):
        raise BadInputError(f"{source}:{line_no}: {key}: not a block mapping at column 0; add it by hand")
    last = line_no - 1  # index of the last line that belongs to the mapping
    indent = ""
    for index in range(line_no, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if not line[0].isspace():
            break  # the next top-level key, a column-0 comment or a document marker
        last = index
        if not indent and not line.lstrip().startswith("#"):
            indent = line[: len(line) - len(line.lstrip())]
    indent = indent or "  "
    newline = "\r\n" if lines[last].endswith("\r\n") else "\n"
    if not lines[last].endswith(("\n", "\r")):
        lines[last] += newline
    inserted = [f"{indent}{line}{newline}" if line.strip() else newline for line in block]
    return "".join(lines[: last + 1] + inserted + lines[last + 1 :])


CLOUD_DISPLAY_NAMES: Mapping[str, str] = {
    "local": "Local", "kind": "kind", "aws": "AWS", "azure": "Azure", "gcp": "Google Cloud",
    "ibmcloud": "IBM Cloud", "equinix-metal": "Equinix Metal", "openstack": "OpenStack", "vsphere": "VMware vSphere",
    "oci": "Oracle Cloud Infrastructure",
}  # fmt: skip


def cloud_block(name: str, order: int) -> list[str]:
    """The ``clouds:`` entry of a cloud Cross-Cloud CI has a module for, as lines (without indentation)."""
    lines = [f"{name}:", "  active: true", f"  display_name: {json.dumps(CLOUD_DISPLAY_NAMES.get(name, name))}",
             f"  order: {order}", f"  module: {name}"]  # fmt: skip
    if name in HOST_MODULES:
        lines.append("  kubernetes: false")
    return lines


@dataclass(frozen=True)
class Merged:
    """The new contents of a ``cross-cloud.yml``, and the clouds that were added to it."""

    data: bytes
    added_clouds: tuple[str, ...]


def merge_entry(config_path: Path, entry_text: str, answers: Answers, config: Config | None = None) -> Merged:
    """The new contents of ``config_path`` with the project added (and each of its clouds that the file
    lacks but Cross-Cloud CI has a module for), checked; the file is not touched."""
    from crosscloud import yaml_source
    from crosscloud.config import parse_config

    source = str(config_path)
    try:
        original = config_path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{source}: cannot read: {exc.strerror}") from None
    config = config or parse_config(original, source)
    if answers.name in config.projects:
        raise BadInputError(f"name: project {answers.name!r} is already in {source} (projects.{answers.name})")
    modules = known_modules()
    missing = [cloud for cloud in answers.clouds if cloud not in config.clouds]
    for cloud in missing:
        if cloud not in modules:
            addable = [m for m in modules if m not in config.clouds]
            raise BadInputError(
                f"clouds: unknown cloud {cloud!r} in {source}; allowed: {', '.join(config.clouds)} "
                f"(or {', '.join(addable)}, which are added to it)"
            )
    if config.cncf_relations and answers.cncf_relation not in config.cncf_relations:
        raise BadInputError(
            f"cncf_relation: {answers.cncf_relation!r} is not a section of {source}; "
            f"allowed: {', '.join(config.cncf_relations)}"
        )
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - parse_config refused it already
        raise BadInputError(f"{source}: not UTF-8 text") from None
    order = max((c.order for c in config.clouds.values() if c.order != DEFAULT_ORDER), default=0)
    for number, cloud in enumerate(missing, start=order + 1):
        text = insert_into(text, "clouds", cloud_block(cloud, number), source)
    merged = insert_project(text, entry_block(entry_text), source)
    try:
        result = parse_config(merged, source)
    except BadInputError as exc:
        raise BadInputError(
            f"{source}: not changed: with projects.{answers.name} added it would be invalid:\n{exc}"
        ) from None
    entry, _ = yaml_source.load(entry_text, ENTRY_FILE)
    if dict(result.raw["projects"].get(answers.name, {})) != entry["projects"][answers.name]:
        raise CrossCloudError(f"{source}: not changed: the inserted text does not read back as the entry")
    return Merged(merged.encode("utf-8"), tuple(missing))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename: readers see the old file or the new one, never half."""
    target = path.resolve()
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- the command ------------------------------------------------------------------------------------------

FIELD_HELP: Mapping[str, str] = {
    "name": "the project's key in cross-cloud.yml (lower case, digits, '-', '_')",
    "display_name": "its name on the dashboard",
    "repository": "its GitHub repository, owner/name",
    "stable_ref": "the stable release to test (a tag)",
    "head_ref": "the head to test (a branch)",
    "chart": "the Helm chart's name (helm/CHART/ is generated)",
    "cncf_relation": "the dashboard section (one of the --config file's cncf_relations)",
    "arches": f"architectures, comma-separated ({', '.join(ARCHES)})",
    "clouds": "clouds of the workflow matrix, comma-separated (default kind; with --config, clouds the file "
    "lacks but Cross-Cloud CI has a module for are added to it)",
    "binary": "host clouds (local): the installed binary to pin and run, e.g. docker-registry",
    "run": "host clouds: the command that serves the project, words separated by spaces, placeholders "
    "{binary.NAME}, {port}, {dir}",
    "e2e": "host clouds: the end-to-end command (exit 0 = pass), e.g. 'curl -fsS http://127.0.0.1:{port}/'",
}
DEFAULT_DASHBOARD = "https://DASHBOARD"
"""Placeholder of the dashboard's address in the printed badge, when ``--dashboard-url`` is not given."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "onboard",
        help="generate what a CNCF project needs to join",
        description="Generate a project's cross-cloud.yml entry, its GitHub workflow and an e2e Helm chart "
        "from workflows-templates/onboard/; asks for what is not given as an option. Prints the badge "
        "Markdown and the next steps.",
    )
    for field, text in FIELD_HELP.items():
        p.add_argument(f"--{field.replace('_', '-')}", dest=field, metavar=field.upper(), help=text)
    p.add_argument("--no-input", action="store_true", help="ask nothing: options, else the template's defaults")
    p.add_argument("--output-dir", type=Path, default=Path(), metavar="DIR", help="where to generate (default .)")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="add the entry to this cross-cloud.yml (checked, written atomically) instead of generating it",
    )
    p.add_argument(
        "--dashboard-url",
        default=DEFAULT_DASHBOARD,
        metavar="URL",
        help="the Cross-Cloud CI dashboard (crosscloud serve) the printed badge points at",
    )
    p.set_defaults(func=cmd_onboard)


def cmd_onboard(args: argparse.Namespace) -> int:
    from crosscloud.config import load_config

    given = {field: getattr(args, field) for field in CHECKS if getattr(args, field) is not None}
    config = None
    if args.config is not None:
        if not args.config.is_file():
            raise BadInputError(f"{args.config}: no such file (--config)")
        config = load_config(args.config)
    target = Target.of(config, str(args.config) if args.config is not None else None)
    dashboard = str(args.dashboard_url).rstrip("/")
    if not re.fullmatch(r"https?://[^\s\"'<>()\[\]]+", dashboard):
        raise BadInputError(f"dashboard_url: {dashboard[:80]!r} is not an http(s) URL")
    answers = ask(given, no_input=args.no_input, target=target, config=config)
    if not args.no_input:
        print()  # after the last prompt, whose answer may have come from a pipe without an echo
    output: Path = args.output_dir
    if output.exists() and not output.is_dir():
        raise BadInputError(f"{output}: not a directory (--output-dir)")
    with tempfile.TemporaryDirectory(prefix="crosscloud-onboard-") as workdir:
        generated = render(answers, Path(workdir), order=target.order)
        entry_text = (generated / ENTRY_FILE).read_text(encoding="utf-8")
        merged = merge_entry(args.config, entry_text, answers, config) if args.config is not None else None
        if merged is not None:
            (generated / ENTRY_FILE).unlink()
        files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
        for relative in files:
            if (output / relative).exists():
                raise BadInputError(f"{output / relative}: already exists; move it away or use another --output-dir")
        shutil.copytree(generated, output, dirs_exist_ok=True)
    for relative in files:
        print(f"generated {output / relative}")
    if merged is not None:
        write_atomically(args.config, merged.data)
        for cloud in merged.added_clouds:
            print(f"added clouds.{cloud} to {args.config}: the project runs on it and the file did not have it")
        print(f"added projects.{answers.name} to {args.config}")
    if config is not None:
        modules = known_modules()
        for cloud in (c for c in answers.clouds if c in config.clouds and config.clouds[c].module not in modules):
            print(f"note: clouds.{cloud} of {args.config} names no terraform module Cross-Cloud CI has "
                  f"({config.clouds[cloud].module}): set its `module` to one of {', '.join(modules)}")  # fmt: skip
    enabled = [c for c in answers.clouds if c in credential_steps(_workflow_template_text())]
    if enabled:
        print(f"enabled the credentials steps of {', '.join(enabled)} in {GENERATED_WORKFLOW}")
    print()
    print(badge_markdown(answers, dashboard))
    print(_next_steps(answers, merged is not None, dashboard))
    return 0


GENERATED_WORKFLOW = ".github/workflows/cross-cloud.yml"


def _workflow_template_text() -> str:
    return (template_dir() / "{{cookiecutter.name}}" / GENERATED_WORKFLOW).read_text(encoding="utf-8")


def badge_markdown(answers: Answers, dashboard: str) -> str:
    """The Markdown of the project's badge (its aggregate over releases and clouds), linking to its page."""
    return (
        f"badge for {answers.repository}'s README:\n\n"
        f"  [![Cross-Cloud CI]({dashboard}/badge/{answers.name}.svg)]({dashboard}/projects/{answers.name})\n"
    )


def _next_steps(answers: Answers, merged: bool, dashboard: str) -> str:
    entry = "commit cross-cloud.yml to the status repository" if merged else (
        f"add {ENTRY_FILE} under projects: of the status repository's cross-cloud.yml "
        "(or run again with --config cross-cloud.yml)"
    )  # fmt: skip
    steps = [
        entry,
        f"in {answers.repository}, commit {GENERATED_WORKFLOW} and helm/{answers.chart}/",
        "set the repository variable CROSSCLOUD_STATUS_REPO and the secret CROSSCLOUD_STATUS_TOKEN "
        '(the table "Variables and secrets" of workflows-templates/README.md)',
        "run the workflow once (Actions -> Cross-Cloud CI -> Run workflow)",
    ]
    if dashboard == DEFAULT_DASHBOARD:
        steps.append(f"replace {DEFAULT_DASHBOARD} in the badge with the dashboard's address (crosscloud serve)")
    numbered = "\n".join(f"  {i}. {step}" for i, step in enumerate(steps, start=1))
    return f"next steps (workflows-templates/onboard/README.md):\n{numbered}"
