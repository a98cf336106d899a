"""The images the charts under ``helm/`` run, and a check that each one's tag exists in its registry.

The tags in the charts' ``values.yaml`` were written without a registry to ask, so a job with one
(``images`` in ``.github/workflows/kubernetes-self-test.yml``) resolves every tag to its digest and fails
naming the chart and the image whose tag does not exist, or whose image lacks a platform the kind jobs
run on. The same listing feeds the kind jobs: ``self-test-config`` writes a ``cross-cloud.yml`` that pins
each chart's project image, and its helper images (test hooks, backends, sinks), by those digests.

Commands (``python -m crosscloud_action.chart_images COMMAND --help``):

- ``list``: ``helm template`` of each chart with its default values; every image a container of the
  rendered manifests runs, with the value that sets it (``image``, ``tests.image`` ...). No network.
- ``resolve``: each listed image's digest and platforms, asked of its registry with ``skopeo`` (or
  ``crane``); exit 1 naming every chart and image that does not resolve. ``--output`` keeps the result.
- ``self-test-config``: the ``cross-cloud.yml`` of the kind self-test from a ``resolve --output`` file.

The digest is the sha256 of the manifest the registry serves for the tag (for a multi-platform image its
index), exactly the bytes a node pulls by ``repository@digest``."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from crosscloud_action.tools.helm import charts_root
from crosscloud_action.tools.kubectl import error_text

COMMAND_TIMEOUT = 120.0
"""Seconds one helm, skopeo or crane call may take."""
PLATFORMS = ("linux/amd64", "linux/arm64")
"""What the kind jobs run on: ubuntu-latest and ubuntu-24.04-arm."""
KUBERNETES_STABLE = "v1.31.0"
"""The Kubernetes stable release of the kind self-test: the kindest/node image terraform/kind runs for 1.31
(kind v0.24.0)."""

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MISSING = re.compile(
    r"manifest unknown|MANIFEST_UNKNOWN|name unknown|NAME_UNKNOWN|not found|404|"
    r"requested access to the resource is denied|DENIED|unauthorized|UNAUTHORIZED",
    re.IGNORECASE,
)
"""What a registry answers for a tag or repository that does not exist (Docker Hub answers an unknown
repository as if it were private: denied, or unauthorized)."""


_LOGRUS_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')


class ChartImagesError(Exception):
    """Bad input or a tool that failed: one line naming what."""


@dataclass(frozen=True)
class ChartImage:
    """One image a chart runs: where it is set in the values (``image``, ``tests.image``; None when a
    template names it outright) and the reference the rendered manifests use."""

    chart: str
    image: str
    value: str | None

    @property
    def role(self) -> str:
        return "project" if self.value == "image" else "helper"


@dataclass
class Resolved:
    chart: str
    image: str
    value: str | None
    digest: str | None = None
    platforms: list[str] = field(default_factory=list)
    problem: str | None = None


# -- listing ---------------------------------------------------------------------------------------


def helm_binary() -> str:
    """helm on PATH, else beside this Python (``scripts/install-helm.py`` installs it into the venv)."""
    found = shutil.which("helm")
    if found:
        return found
    beside = Path(sys.executable).parent / "helm"
    if os.access(beside, os.X_OK):
        return str(beside)
    raise ChartImagesError("helm is not installed (not on PATH; scripts/install-helm.py installs it)")


def chart_names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "Chart.yaml").is_file()) if root.is_dir() else []


def value_images(values: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(value path, ``repository:tag``) of every ``{repository, tag}`` mapping in a chart's values."""
    if not isinstance(values, Mapping):
        return
    if isinstance(values.get("repository"), str) and values.get("tag") is not None:
        yield path, f"{values['repository']}:{values['tag']}"
    for key, value in values.items():
        yield from value_images(value, f"{path}.{key}" if path else str(key))


def container_images(document: Any) -> Iterator[str]:
    """The ``image`` of every container and init container anywhere in a manifest."""
    if isinstance(document, Mapping):
        for key, value in document.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                        yield container["image"]
            else:
                yield from container_images(value)
    elif isinstance(document, list):
        for item in document:
            yield from container_images(item)


def list_images(root: Path | None = None, charts: Sequence[str] = (), helm: str | None = None) -> list[ChartImage]:
    """Every image the charts run with their default values, in chart order: once per value that sets it
    (an image two values set is listed twice, both must be pinned), once if no value sets it."""
    root = root or charts_root()
    known = chart_names(root)
    if not known:
        raise ChartImagesError(f"no charts (*/Chart.yaml) under {root}")
    for name in charts:
        if name not in known:
            raise ChartImagesError(f"no chart {name!r} under {root} (charts: {', '.join(known)})")
    helm = helm or helm_binary()
    found: list[ChartImage] = []
    for name in charts or known:
        values = yaml.safe_load((root / name / "values.yaml").read_text(encoding="utf-8")) or {}
        by_ref: dict[str, list[str]] = {}
        for path, ref in value_images(values):
            by_ref.setdefault(ref, []).append(path)
        result = subprocess.run(
            [helm, "template", name, str(root / name), "--namespace", "chart-images"],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ChartImagesError(f"helm template of chart {name} failed: {error_text(result.stderr)}")
        seen: list[str] = []
        for document in yaml.safe_load_all(result.stdout):
            for image in container_images(document):
                if image not in seen:
                    seen.append(image)
        if not seen:
            raise ChartImagesError(f"chart {name} renders no container image")
        for image in seen:
            paths: list[str | None] = [*by_ref.get(image, [])] or [None]
            found += [ChartImage(name, image, path) for path in paths]
    return found


# -- resolving -------------------------------------------------------------------------------------


class Resolver(Protocol):
    name: str

    def manifest(self, image: str) -> bytes:
        """The raw manifest the registry serves for ``image`` (``repository:tag``)."""
        ...

    def config(self, image: str) -> Mapping[str, Any]:
        """The image configuration of a single-platform ``image`` (``architecture``, ``os``)."""
        ...


class _Tool:
    program = ""

    def __init__(self, binary: str | None = None, tls_verify: bool = True):
        self.binary = binary or shutil.which(self.program) or self.program
        self.tls_verify = tls_verify
        self.name = self.program

    def _run(self, args: Sequence[str], image: str) -> bytes:
        try:
            result = subprocess.run([self.binary, *args], capture_output=True, timeout=COMMAND_TIMEOUT, check=False)
        except FileNotFoundError:
            raise ChartImagesError(f"{self.program} is not installed (not found: {self.binary})") from None
        except subprocess.TimeoutExpired:
            raise LookupError(f"{self.program} did not answer for {image} in {COMMAND_TIMEOUT:.0f} s") from None
        if result.returncode != 0:
            lines = result.stderr.decode(errors="replace").strip().splitlines() or [f"exit {result.returncode}"]
            last = lines[-1].strip()
            logged = _LOGRUS_MSG.search(last)  # skopeo: time="..." level=fatal msg="..."
            raise LookupError(logged.group(1).replace('\\"', '"') if logged else last)
        return result.stdout


class Skopeo(_Tool):
    program = "skopeo"

    def _tls(self) -> list[str]:
        return [] if self.tls_verify else ["--tls-verify=false"]

    def manifest(self, image: str) -> bytes:
        return self._run(["inspect", "--raw", "--retry-times", "2", *self._tls(), f"docker://{image}"], image)

    def config(self, image: str) -> Mapping[str, Any]:
        return dict(json.loads(self._run(["inspect", "--config", *self._tls(), f"docker://{image}"], image)))


class Crane(_Tool):
    program = "crane"

    def _tls(self) -> list[str]:
        return [] if self.tls_verify else ["--insecure"]

    def manifest(self, image: str) -> bytes:
        return self._run(["manifest", *self._tls(), image], image)

    def config(self, image: str) -> Mapping[str, Any]:
        return dict(json.loads(self._run(["config", *self._tls(), image], image)))


RESOLVERS: dict[str, type[Skopeo] | type[Crane]] = {"skopeo": Skopeo, "crane": Crane}


def _repository(image: str) -> str:
    """``repository`` of ``repository:tag`` (a ``:`` before the last ``/`` is a registry's port)."""
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def resolve(image: ChartImage, resolver: Resolver) -> Resolved:
    """``image``'s digest and platforms; ``problem`` says why not (its tag does not exist, or the registry
    could not be asked)."""
    out = Resolved(image.chart, image.image, image.value)
    try:
        raw = resolver.manifest(image.image)
        out.digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        manifest = json.loads(raw)
        if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
            for entry in manifest.get("manifests", []):
                platform = entry.get("platform") or {}
                if platform.get("os") in (None, "unknown"):  # attestations, not images
                    continue
                out.platforms.append(f"{platform['os']}/{platform['architecture']}")
        else:
            config = resolver.config(f"{_repository(image.image)}@{out.digest}")
            out.platforms.append(f"{config.get('os')}/{config.get('architecture')}")
    except LookupError as exc:
        out.digest = None
        reason = str(exc)
        if _MISSING.search(reason):
            out.problem = f"the tag does not exist ({reason})"
        else:
            out.problem = f"could not be resolved ({reason})"
    except (ValueError, KeyError, TypeError) as exc:
        out.digest = None
        out.problem = f"the registry's manifest could not be read ({type(exc).__name__}: {exc})"
    return out


def check(resolved: Sequence[Resolved], platforms: Sequence[str]) -> list[str]:
    """One line per image that fails: ``chart etcd: image quay.io/coreos/etcd:v9 ...``."""
    problems = []
    for item in resolved:
        where = f"chart {item.chart}: image {item.image}" + (f" (values: {item.value})" if item.value else "")
        if item.problem:
            problems.append(f"{where}: {item.problem}")
            continue
        missing = [p for p in platforms if p not in set(item.platforms)]
        if missing:
            problems.append(f"{where}: no {', '.join(missing)} image (it has {', '.join(item.platforms) or 'none'})")
    return problems


# -- the kind self-test's configuration -----------------------------------------------------------


def self_test_config(resolved: Sequence[Mapping[str, Any]], kubernetes: str = KUBERNETES_STABLE) -> dict[str, Any]:
    """``cross-cloud.yml`` of the kind self-test: the kind cloud, Kubernetes at ``kubernetes``, and one
    project per chart, its image pinned by digest (``build.mode: reuse``) and every helper image by digest
    through ``chart.values``. Only the stable release: the chart's tag is the one version tested."""
    charts: dict[str, list[Mapping[str, Any]]] = {}
    for item in resolved:
        if not item.get("digest"):
            raise ChartImagesError(f"chart {item.get('chart')}: image {item.get('image')} has no digest")
        charts.setdefault(str(item["chart"]), []).append(item)
    projects: dict[str, Any] = {
        "kubernetes": {
            "order": 0,
            "active": True,
            "display_name": "Kubernetes",
            "app_layer": False,
            "stable_ref": kubernetes,
            "head_ref": "master",
            "releases": ["stable"],
            "arch": ["amd64", "arm64"],
            "cncf_relation": "Graduated",
        }
    }
    for order, (chart, items) in enumerate(sorted(charts.items()), start=1):
        project = [i for i in items if i.get("value") == "image"]
        if len(project) != 1:
            raise ChartImagesError(f"chart {chart}: no image set by the value 'image' among {len(items)} images")
        main = project[0]
        values: dict[str, Any] = {}
        for item in items:
            if item is main or not item.get("value"):
                continue
            node = values
            for key in str(item["value"]).split("."):
                node = node.setdefault(key, {})
            node["digest"] = item["digest"]
        tag = str(main["image"]).rsplit(":", 1)[1]
        spec: dict[str, Any] = {"name": chart}
        if values:
            spec["values"] = values
        projects[chart] = {
            "order": order,
            "active": True,
            "display_name": chart,
            "timeout": 600,
            "stable_ref": tag,
            "head_ref": tag,
            "releases": ["stable"],
            "arch": ["amd64", "arm64"],
            "cncf_relation": "Graduated",
            "build": {"mode": "reuse", "images": [f"{main['image']}@{main['digest']}"]},
            "chart": spec,
        }
    return {
        "clouds": {"kind": {"active": True, "display_name": "kind", "order": 1, "module": "kind"}},
        "projects": projects,
    }


# -- command line ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crosscloud_action.chart_images",
        description="The images the charts under helm/ run: list them, resolve their tags to digests, "
        "write the kind self-test's configuration.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    texts = {
        "list": "list every image (helm template, no network)",
        "resolve": "resolve every image's tag to its digest; exit 1 naming the ones that fail",
    }
    for name, text in texts.items():
        p = commands.add_parser(name, help=text, description=text)
        p.add_argument("--charts-dir", type=Path, help="default: this project's helm/")
        p.add_argument("--chart", action="append", default=[], help="only this chart (repeatable)")
        p.add_argument("--json", action="store_true", help="JSON on stdout")
        if name == "resolve":
            p.add_argument("--resolver", choices=sorted(RESOLVERS), default="skopeo", help="default skopeo")
            p.add_argument("--resolver-binary", metavar="PATH", help="the resolver's executable (default: on PATH)")
            p.add_argument(
                "--platform",
                action="append",
                default=None,
                metavar="OS/ARCH",
                help=f"a platform every image must have (repeatable; default {' '.join(PLATFORMS)})",
            )
            p.add_argument("--no-tls-verify", action="store_true", help="plain HTTP registries (a local test)")
            p.add_argument("--output", type=Path, metavar="FILE", help="also write the result as JSON")
    p = commands.add_parser("self-test-config", help="write the kind self-test's cross-cloud.yml")
    p.add_argument("--images", type=Path, required=True, metavar="FILE", help="what resolve --output wrote")
    p.add_argument("--output", type=Path, required=True, metavar="FILE", help="the cross-cloud.yml to write")
    p.add_argument("--kubernetes", default=KUBERNETES_STABLE, help=f"default {KUBERNETES_STABLE}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except ChartImagesError as exc:
        print(f"chart-images: error: {exc}", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace) -> int:
    images = list_images(args.charts_dir, args.chart)
    if args.json:
        print(json.dumps([{**asdict(i), "role": i.role} for i in images], indent=1))
    else:
        for image in images:
            print(f"{image.chart}\t{image.role}\t{image.value or '-'}\t{image.image}")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    images = list_images(args.charts_dir, args.chart)
    resolver = RESOLVERS[args.resolver](args.resolver_binary, tls_verify=not args.no_tls_verify)
    asked: dict[str, Resolved] = {}
    resolved = []
    for image in images:
        if image.image not in asked:
            asked[image.image] = resolve(image, resolver)
        resolved.append(replace(asked[image.image], chart=image.chart, value=image.value))
    platforms = tuple(args.platform) if args.platform is not None else PLATFORMS
    problems = check(resolved, platforms)
    document = {
        "resolved": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resolver": resolver.name,
        "platforms": list(platforms),
        "images": [asdict(item) for item in resolved],
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=1))
    else:
        for item in resolved:
            print(f"{item.chart}\t{item.image}\t{item.digest or '-'}\t{','.join(item.platforms) or '-'}")
    for problem in problems:
        print(f"chart-images: {problem}", file=sys.stderr)
    if problems:
        print(f"chart-images: {len(problems)} of {len(resolved)} images failed the check", file=sys.stderr)
    return 1 if problems else 0


def _self_test_config(args: argparse.Namespace) -> int:
    try:
        document = json.loads(args.images.read_text(encoding="utf-8"))
        images = document["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChartImagesError(f"--images {args.images}: not a resolve --output file ({exc})") from None
    config = self_test_config(images, args.kubernetes)
    header = (
        "# The kind self-test's configuration, written by `python -m crosscloud_action.chart_images "
        f"self-test-config`\n# from the digests resolved at {document.get('resolved', '?')}.\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    print(f"{args.output}: {len(config['projects']) - 1} charts on kind, Kubernetes {args.kubernetes}")
    return 0


_COMMANDS = {"list": _list, "resolve": _resolve, "self-test-config": _self_test_config}


if __name__ == "__main__":
    sys.exit(main())
