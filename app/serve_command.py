"""``crosscloud serve``: the app on werkzeug's threaded server, for a laptop, ``make run`` and the tests; with
``--workers N``, the production server: granian (a Rust HTTP server, PyPI ``granian``, the ``server`` extra)
running ``N`` worker processes of ``create_app``.

The workers share the mirror directory: each keeps its mirror and index in a slot of its own and follows the
others' new commits through a shared tip file (``worker_slots``), so N workers never race on one git
directory or SQLite index and serve the same commit within about a second of each other. Slow clients cost
granian a connection, not a worker: a badge is answered while others dribble their headers.

SIGINT and SIGTERM stop either server cleanly: the requests in flight are finished and the refresh threads
are stopped."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from crosscloud.cli.repo_options import add_repo_options, token_from_args


def register(commands: Any) -> None:
    """Add ``serve`` to the subcommands of ``crosscloud`` (through ``crosscloud_app.cli``, the app's entry
    point in the ``crosscloud.commands`` group)."""
    p = commands.add_parser(
        "serve",
        help="serve the dashboard, badges and API",
        description="Serve the app over a local mirror of the status repository (refreshed on a timer and on "
        "push webhooks). With --workers N, the production server (granian) with N worker processes.",
    )
    add_repo_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks a free one)")
    p.add_argument("--mirror-dir", type=Path, metavar="DIR", help="where the mirror and its index live")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run the production server (granian) with N worker processes (default: werkzeug, one process)",
    )
    p.add_argument(
        "--stop-after", type=float, metavar="SECONDS", help="stop serving after this long (default: until Ctrl-C)"
    )
    p.set_defaults(func=cmd_serve)


def _mirror_dir(args: argparse.Namespace) -> Path | None:
    if args.mirror_dir is not None:
        return Path(args.mirror_dir)
    if os.environ.get("CROSSCLOUD_MIRROR_DIR"):
        return None  # create_app reads it
    from crosscloud.status_repo.mirror import cache_dir

    return cache_dir() / "app"


def cmd_serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from crosscloud.errors import BadInputError
    from crosscloud_app import create_app
    from crosscloud_app.web.public_url import LOOPBACK
    from crosscloud_app.web.status_state import EXTENSION, StatusState

    if not 0 <= args.port <= 65535:
        raise BadInputError(f"--port {args.port}: use 0 to 65535")
    if args.stop_after is not None and args.stop_after <= 0:
        raise BadInputError(f"--stop-after {args.stop_after:g}: use a number of seconds above 0")
    if args.workers is not None:
        return serve_production(args)
    # On a loopback address the feed may take its links from the request (see crosscloud_app.web.public_url).
    config: dict[str, Any] = {"STATUS_REPO": args.repo, "LOCAL": args.host in LOOPBACK}
    token = token_from_args(args)
    if token:
        config["TOKEN"] = token
    mirror = _mirror_dir(args)
    if mirror is not None:
        config["MIRROR_DIR"] = str(mirror)
    app = create_app(config)
    state: StatusState = app.extensions[EXTENSION]
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        state.close()
        raise BadInputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs on this thread: ask from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"crosscloud: serving {args.repo} at http://{host}:{server.port}/", flush=True)
    if args.stop_after is not None:
        print(f"crosscloud: stopping after {args.stop_after:g} s", flush=True)
        timer = threading.Timer(args.stop_after, server.shutdown)
        timer.daemon = True
        timer.start()
    if not state.ready:
        print(f"crosscloud: no results yet ({state.last_error}); retrying on the timer", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        state.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("crosscloud: stopped", flush=True)
    return 0


MAX_WORKERS = 64
BLOCKING_THREADS = 16
"""Python threads per worker that run the app (granian's default, 256, is far more than the app's views
need: they never wait on git, and webhooks queue their work on the app's own threads)."""


def serve_production(args: argparse.Namespace) -> int:
    """``--workers N``: granian with N processes, each importing ``crosscloud_app:create_app`` (configured through
    the ``CROSSCLOUD_*`` environment it inherits)."""
    from crosscloud.errors import BadInputError
    from crosscloud_app.web.public_url import LOOPBACK

    if not 1 <= args.workers <= MAX_WORKERS:
        raise BadInputError(f"--workers {args.workers}: use 1 to {MAX_WORKERS}")
    try:
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server import Server
    except ImportError:
        raise BadInputError("--workers needs granian (a dependency of cross-cloud-ci): pip install granian") from None
    port = args.port or _free_port(args.host)
    os.environ["CROSSCLOUD_STATUS_REPO"] = args.repo
    os.environ["CROSSCLOUD_MIRROR_PER_WORKER"] = "true"
    if args.host in LOOPBACK:  # as the development server: see crosscloud_app.web.public_url
        os.environ["CROSSCLOUD_LOCAL"] = "true"
    token = token_from_args(args)
    if token:
        os.environ["CROSSCLOUD_TOKEN"] = token
    mirror = _mirror_dir(args)
    if mirror is not None:
        os.environ["CROSSCLOUD_MIRROR_DIR"] = str(mirror)
    server = Server(
        "crosscloud_app:create_app",
        address=args.host,
        port=port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        factory=True,
        blocking_threads=BLOCKING_THREADS,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"crosscloud: serving {args.repo} at http://{host}:{port}/ ({args.workers} workers)", flush=True)
    if args.stop_after is not None:
        print(f"crosscloud: stopping after {args.stop_after:g} s", flush=True)
        timer = threading.Timer(args.stop_after, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    server.serve()
    print("crosscloud: stopped", flush=True)
    return 0


def _free_port(host: str) -> int:
    """A port nothing listens on now (``--port 0`` with several workers: they must all bind one port)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
