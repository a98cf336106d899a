"""The configuration model: ``cross-cloud.yml`` loaded, checked against ``schema/config.schema.json``, in order.

Files of the original cncf.ci load unchanged; every problem is reported with the file, the line and the
field path (``cross-cloud.yml:42: projects.etcd.timeout: 'soon' is not of type 'integer'``). A project's
``build``, ``run``, ``e2e`` and ``chart`` become the typed specs of ``crosscloud.stage_specs`` here, once."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from crosscloud import schemas, yaml_source
from crosscloud.errors import ConfigError, ConfigErrors, UnknownNameError
from crosscloud.stage_specs import BuildSpec, ChartSpec, E2ESpec, RunSpec
from crosscloud.vocabulary import ARCHES, RELEASES

DEFAULT_STALE_AFTER_HOURS = 48.0
DEFAULT_ALERT_AFTER_FAILURES = 3
DEFAULT_FLAKINESS_WINDOW = 30
DEFAULT_TIMEOUT = 1800
DEFAULT_ORDER = 1000


@dataclass(frozen=True)
class Cloud:
    name: str
    display_name: str
    order: int
    active: bool
    module: str
    """The terraform module under ``terraform/`` that provisions it."""
    kubernetes: bool
    """False for clouds that run projects on the host (the ``local`` cloud)."""
    region: str | None = None
    node_count: int | None = None
    arch: tuple[str, ...] = ARCHES


@dataclass(frozen=True)
class Project:
    name: str
    display_name: str
    order: int
    active: bool
    app_layer: bool
    """False for Kubernetes itself: the test environment, whose cloud cells are provisioning results."""
    deploy: bool
    arch: tuple[str, ...]
    timeout: int
    refs: Mapping[str, str | None]
    charts: Mapping[str, str | None]
    releases: tuple[str, ...] = RELEASES
    """The releases tested: both unless only one version of the project is available."""
    cncf_relation: str | None = None
    sub_title: str | None = None
    logo_url: str | None = None
    project_url: str | None = None
    repository_url: str | None = None
    repository: str | None = None
    """owner/name of the GitHub repository that reports this project's results."""
    repository_id: int | None = None
    """Its numeric id: when set, keyless (OIDC) submissions must carry it too (ids survive renames)."""
    build: BuildSpec = field(default_factory=BuildSpec)
    run: RunSpec | None = None
    """None when the project cannot run on a cloud without Kubernetes."""
    e2e: E2ESpec = field(default_factory=E2ESpec)
    chart: ChartSpec = field(default_factory=ChartSpec)

    def ref(self, release: str) -> str | None:
        return self.refs.get(release)

    def commit_url(self, sha: str) -> str | None:
        return f"{self.repository_url.rstrip('/')}/commit/{sha}" if self.repository_url else None

    def cloud_stage(self) -> str:
        """The stage a cloud column shows for this project: provisioning for Kubernetes, else the deploy."""
        return "deploy" if self.app_layer else "provision"


@dataclass(frozen=True)
class Config:
    source: str
    clouds: Mapping[str, Cloud]
    """Every cloud, active or not, in dashboard order."""
    projects: Mapping[str, Project]
    """Every project, active or not, in dashboard order."""
    cncf_relations: tuple[str, ...]
    stale_after: timedelta
    default_arch: str
    kubernetes_project: str | None
    raw: Mapping[str, Any]
    ignore_infra_failures: bool = False
    """Overall badges leave out infrastructure failures."""
    alert_after_failures: int = DEFAULT_ALERT_AFTER_FAILURES
    """Consecutive failures of a cell before an issue is opened on the project's repository."""
    flakiness_window: int = DEFAULT_FLAKINESS_WINDOW
    """Runs of a cell its flakiness is computed over."""

    def active_clouds(self) -> list[Cloud]:
        return [c for c in self.clouds.values() if c.active]

    def active_projects(self) -> list[Project]:
        return [p for p in self.projects.values() if p.active]

    def project(self, name: str) -> Project:
        try:
            return self.projects[name]
        except KeyError:
            raise UnknownNameError("project", name, list(self.projects), where=self.source) from None

    def cloud(self, name: str) -> Cloud:
        try:
            return self.clouds[name]
        except KeyError:
            raise UnknownNameError("cloud", name, list(self.clouds), where=self.source) from None

    def sections(self) -> list[tuple[str | None, list[Project]]]:
        """Active projects grouped by ``cncf_relation`` in the order of ``cncf_relations`` (one unnamed
        section when the file has none, as in 2018)."""
        active = self.active_projects()
        if not self.cncf_relations:
            return [(None, active)]
        out: list[tuple[str | None, list[Project]]] = [
            (rel, [p for p in active if p.cncf_relation == rel]) for rel in self.cncf_relations
        ]
        unsorted = [p for p in active if p.cncf_relation not in self.cncf_relations]
        if unsorted:
            out.append((None, unsorted))
        return [(rel, projects) for rel, projects in out if projects]


def load_config(path: str | Path) -> Config:
    """Load and check the configuration file at ``path``."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a configuration file", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=source) from exc
    return parse_config(data, source)


KNOWN_RELATIONS: Final = ("Graduated", "Incubating", "Sandbox", "Archived")
"""The CNCF's maturity levels: the ``cncf_relation`` a project may have without listing it in ``cncf_relations``."""


def relation_warnings(config: Config) -> list[str]:
    """A warning per project whose ``cncf_relation`` is neither a CNCF maturity level nor listed in
    ``cncf_relations``: such a value (``Graduted``) silently makes a dashboard section of its own."""
    out = []
    for project in config.projects.values():
        relation = project.cncf_relation
        if relation is None or relation in config.cncf_relations or relation in KNOWN_RELATIONS:
            continue
        close = difflib.get_close_matches(relation, KNOWN_RELATIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; list it in cncf_relations if it is meant"
        out.append(
            f"{config.source}: projects.{project.name}.cncf_relation: {relation!r} is not one of "
            f"{', '.join(KNOWN_RELATIONS)} and not in cncf_relations: it makes a dashboard section of its own{hint}"
        )
    return out


def parse_config(text: str | bytes, source: str) -> Config:
    """Check ``text`` (the contents of ``source``) and build the model."""
    data, lines = yaml_source.load(text, source)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with 'clouds' and 'projects' at the top", source=source, line=1)
    found = _non_string_keys(data, []) or list(schemas.errors(schemas.CONFIG, data))
    problems = [
        ConfigError(message, source=source, line=yaml_source.line_of(lines, path), field=schemas.field_path(path))
        for path, message in found
    ]
    if not problems:
        problems = _cross_field_problems(data, lines, source)
    if problems:
        raise problems[0] if len(problems) == 1 else ConfigErrors(problems)
    return _build(data, source)


def _non_string_keys(data: Any, path: list[Any]) -> list[tuple[list[Any], str]]:
    """JSON Schema only knows string keys; YAML also allows numbers, booleans and null as keys."""
    found: list[tuple[list[Any], str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                found.append(([*path, key], f"key {key!r} must be a string (quote it)"))
            else:
                found.extend(_non_string_keys(value, [*path, key]))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_non_string_keys(item, [*path, index]))
    return found


def _cross_field_problems(data: dict[str, Any], lines: yaml_source.Lines, source: str) -> list[ConfigError]:
    """Rules one field cannot state alone."""
    problems: list[ConfigError] = []

    def problem(path: list[Any], message: str) -> None:
        problems.append(
            ConfigError(message, source=source, line=yaml_source.line_of(lines, path), field=schemas.field_path(path))
        )

    relations = data.get("cncf_relations")
    for name, project in data["projects"].items():
        relation = project.get("cncf_relation")
        if relations is not None and relation is not None and relation not in relations:
            problem(["projects", name, "cncf_relation"], f"{relation!r} is not one of cncf_relations {relations}")
    k8s = data.get("settings", {}).get("kubernetes_project")
    if k8s is not None and k8s not in data["projects"]:
        problem(["settings", "kubernetes_project"], f"no project {k8s!r} in projects")
    return problems


def _arch_list(value: Any, default: str) -> tuple[str, ...]:
    if value is None:
        return (default,)
    return (value,) if isinstance(value, str) else tuple(value)


def _by_order(items: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(items.items(), key=lambda kv: (kv[1].get("order", DEFAULT_ORDER), kv[0]))


def _build(data: dict[str, Any], source: str) -> Config:
    settings = data.get("settings", {})
    default_arch = settings.get("default_arch", "amd64")
    clouds = {
        name: Cloud(
            name=name,
            display_name=str(c.get("display_name", name)).strip() or name,
            order=c.get("order", DEFAULT_ORDER),
            active=c.get("active", True),
            module=c.get("module", name),
            kubernetes=c.get("kubernetes", True),
            region=c.get("region"),
            node_count=c.get("node_count"),
            arch=tuple(c.get("arch", ARCHES)),
        )
        for name, c in _by_order(data["clouds"])
    }
    pipeline_timeout = data.get("gitlab_pipeline", {}).get("cross-project", {}).get("timeout", DEFAULT_TIMEOUT)
    projects = {
        name: Project(
            name=name,
            display_name=str(p.get("display_name", name)).strip() or name,
            order=p.get("order", DEFAULT_ORDER),
            active=p.get("active", True),
            app_layer=p.get("app_layer", True),
            deploy=p.get("deploy", True),
            arch=_arch_list(p.get("arch"), default_arch),
            timeout=p.get("timeout", pipeline_timeout),
            refs=MappingProxyType({r: p.get(f"{r}_ref") for r in RELEASES}),
            charts=MappingProxyType({r: p.get(f"{r}_chart") for r in RELEASES}),
            releases=tuple(r for r in RELEASES if r in p.get("releases", RELEASES)),
            cncf_relation=p.get("cncf_relation"),
            sub_title=p.get("sub_title"),
            logo_url=p.get("logo_url"),
            project_url=p.get("project_url"),
            repository_url=p.get("repository_url"),
            repository=p.get("repository"),
            repository_id=p.get("repository_id"),
            build=BuildSpec.from_dict(p.get("build", {})),
            run=RunSpec.from_dict(p["run"]) if "run" in p else None,
            e2e=E2ESpec.from_dict(p.get("e2e", {})),
            chart=ChartSpec.from_dict(p.get("chart", {})),
        )
        for name, p in _by_order(data["projects"])
    }
    kubernetes_project = settings.get("kubernetes_project") or next(
        (p.name for p in projects.values() if not p.app_layer), None
    )
    return Config(
        source=source,
        clouds=MappingProxyType(clouds),
        projects=MappingProxyType(projects),
        cncf_relations=tuple(data.get("cncf_relations", ())),
        stale_after=timedelta(hours=settings.get("stale_after_hours", DEFAULT_STALE_AFTER_HOURS)),
        default_arch=default_arch,
        kubernetes_project=kubernetes_project,
        raw=MappingProxyType(data),
        ignore_infra_failures=bool(settings.get("ignore_infra_failures", False)),
        alert_after_failures=int(settings.get("alert_after_failures", DEFAULT_ALERT_AFTER_FAILURES)),
        flakiness_window=int(settings.get("flakiness_window", DEFAULT_FLAKINESS_WINDOW)),
    )
