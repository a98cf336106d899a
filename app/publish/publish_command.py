"""``crosscloud publish``: render the read side of the app, from the tip of the status repository, into a
folder any static server can serve (see the package doc), and say what it wrote.

A full publish renders every path of the site (``site_paths``). With ``--since-manifest`` the previous run's
``manifest.json`` in the folder says from which commit it was published: only what the commits since then can
have changed is rendered again (the global paths, and the scopes of the cells they changed or whose staleness
flipped as the time moved to the new commit's), and of what is rendered only the files whose bytes differ are
written. A file that was not rendered again stays the app's answer at the commit it was rendered at (the
manifest says which, per file): what it shows is the same at the tip, but a page or API answer of it names
that commit as the one it was read from, where a full publish names the tip. That is what makes a new result
cost seconds rather than a full render at the scale of 130 projects x 20 clouds. A change of the configuration
or of the base path, or a previous commit that is not an ancestor of the tip, means a full publish. Either way,
files the previous manifest lists that are no longer part of the site are deleted, and no other file in the
folder is touched. Paths are rendered in one worker process per processor (``render_jobs``, ``--jobs``)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosscloud.cli.repo_options import add_repo_options, token_from_args


def register(commands: Any) -> None:
    p = commands.add_parser(
        "publish",
        help="render the dashboard, badges and API answers as a static site",
        description="Render every page, badge and query-free API answer of the app, from the tip of the status "
        "repository, into DIR as static files (GitHub Pages, a CDN, S3, nginx), with a manifest.json.",
    )
    add_repo_options(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write the site into")
    p.add_argument(
        "--base-path",
        default="/",
        metavar="PATH",
        help="the path the site is served under, e.g. /status/ for https://org.github.io/status/ (default /)",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the site's absolute URL, for the feed's links (default http://localhost plus the base path)",
    )
    p.add_argument(
        "--since-manifest",
        action="store_true",
        help="render again only what changed since the commit of DIR/manifest.json (a full publish without one)",
    )
    p.add_argument("--mirror-dir", type=Path, metavar="DIR", help="where the mirror and its index are kept")
    p.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="render with N processes (default: one per processor this process may use, at most 8)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(func=cmd_publish)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use a whole number of processes, 1 or more")
    return value


@dataclass
class Outcome:
    """What a publish did (printed, and returned for the benchmarks)."""

    commit: str
    mode: str
    paths: int
    rendered: int
    written: int
    deleted: int
    files: int
    bytes: int
    seconds: float

    def line(self) -> str:
        return (
            f"published {self.commit[:12]} ({self.mode}): {self.files} files, {self.bytes} bytes; rendered "
            f"{self.rendered}, wrote {self.written}, deleted {self.deleted} in {self.seconds:.2f} s"
        )


def cmd_publish(args: argparse.Namespace) -> int:
    from crosscloud.errors import BadInputError
    from crosscloud_app.publish.renderer import Site

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out}: not a folder")
    site = Site.parse(args.base_path, args.public_url)
    outcome = publish(
        args.repo,
        out,
        site,
        since_manifest=args.since_manifest,
        mirror_dir=args.mirror_dir,
        token=token_from_args(args),
        progress=None if args.quiet else sys.stderr,
        jobs=args.jobs,
    )
    print(outcome.line(), flush=True)
    return 0


def publish(
    repo: str,
    out: Path,
    site: Any,
    *,
    since_manifest: bool = False,
    mirror_dir: Path | None = None,
    token: str | None = None,
    progress: Any = None,
    jobs: int | None = None,
) -> Outcome:
    """Publish the tip of ``repo`` into ``out`` (see the module doc) with ``jobs`` processes (default: one
    per processor, at most 8: ``render_jobs.default_jobs``)."""
    from crosscloud.errors import StatusRepoError
    from crosscloud.status_repo.mirror import cache_dir
    from crosscloud_app.publish import render_jobs, site_files, site_paths
    from crosscloud_app.publish.changes import changed_cells
    from crosscloud_app.publish.renderer import Renderer
    from crosscloud_app.web.status_state import NotReadyError

    began = time.monotonic()
    previous = site_files.Manifest.read(out)
    with Renderer(repo, mirror_dir or cache_dir() / "publish", site, token=token) as renderer:
        try:
            snapshot = renderer.snapshot()
        except NotReadyError as exc:
            raise StatusRepoError(f"cannot publish {repo}: {exc}") from None
        config = snapshot.config
        everything = site_paths.site_paths(config)
        mode, paths = "full", everything
        if since_manifest and previous is not None and previous.base_path == site.base_path:
            with renderer.state.query() as index:
                cells = changed_cells(index, snapshot, previous)
            if cells is not None and previous.commit == snapshot.commit:  # only what is not on disk as written
                files_now = previous.files.items()
                damaged = {f.path for name, f in files_now if not site_files.unchanged_on_disk(out, name, f)}
                mode, paths = "incremental", [p for p in everything if p in damaged]
            elif cells is not None:
                mode, paths = "incremental", site_paths.affected(config, cells)
        if mode == "full":  # deployment pages show the record of each current cell: read them in batches
            with renderer.state.query() as index:  # (an incremental publish reads the few it renders on demand)
                index.preload(list(snapshot.current.values()))
        if progress is not None:
            print(f"publish: {mode}, rendering {len(paths)} of {len(everything)} paths", file=progress, flush=True)

        old_files = dict(previous.files) if previous is not None else {}
        rendered = render_jobs.render(
            renderer,
            paths,
            out=out,
            old_files=old_files,
            commit=snapshot.commit,
            jobs=jobs or render_jobs.default_jobs(),
            progress=progress,
        )
        written = sum(1 for r in rendered.values() if r.written)
        files = {name: r.file for name, r in rendered.items()}
        if mode == "incremental":  # what was not rendered again is as the previous run wrote it
            wanted = set(everything)
            for name, old in old_files.items():
                if name not in files and old.path in wanted:
                    files[name] = old
        gone = sorted(name for name in old_files if name not in files)
        deleted = site_files.delete(out, gone)
        as_of = snapshot.as_of.strftime("%Y-%m-%dT%H:%M:%SZ") if snapshot.as_of else ""
        manifest = site_files.Manifest(snapshot.commit, as_of, site.base_path, files)
        site_files.write(out, site_files.MANIFEST, manifest.to_json())
        return Outcome(
            commit=snapshot.commit,
            mode=mode,
            paths=len(everything),
            rendered=len(paths),
            written=written,
            deleted=deleted,
            files=len(files),
            bytes=sum(f.size for f in files.values()),
            seconds=round(time.monotonic() - began, 3),
        )
