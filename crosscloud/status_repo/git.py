"""The one place that runs git: arguments as lists, stderr kept, secrets never in a URL, argv or message.

An https remote gets its token through ``http.extraHeader`` set in git's environment
(``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``), so the token appears neither in the
remote URL (which git may print) nor on a command line (which ``ps`` shows)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from crosscloud.errors import BadInputError, GitCommandError

TOKEN_ENV = "CROSSCLOUD_TOKEN"  # noqa: S105 - the name of a variable, not a secret
"""The environment variable that holds the token of an https status repository, unless the command's
``--token-env`` names another (``crosscloud.cli.repo_options``)."""

_URL_SCHEMES = ("https://", "http://", "file://", "ssh://", "git://")
_TRANSIENT = re.compile(
    r"timed out|Could not resolve host|Connection (refused|reset|timed out)|early EOF|hung up unexpectedly"
    r"|The requested URL returned error: 5\d\d|HTTP 5\d\d|RPC failed|Operation too slow|Empty reply"
    # a ref deleted by another writer between the remote's listing and the fetch that wanted it
    r"|not our ref",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Remote:
    """Where a status repository lives: a local path, ``file://``, or an http(s) URL (with a token)."""

    url: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, location: str, token: str | None = None) -> Remote:
        if not location or "\x00" in location or any(ord(c) < 32 for c in location):
            raise BadInputError(f"invalid status repository location {location!r}")
        if location.startswith(_URL_SCHEMES):
            parts = urlsplit(location)
            if parts.username or parts.password:
                raise BadInputError(
                    "credentials in the status repository URL would be logged: give the URL without them "
                    f"and the token through --token-env ({TOKEN_ENV} by default)"
                )
            return cls(location, token)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):  # a URL git might run a helper for
            schemes = ", ".join(s.removesuffix("://") for s in _URL_SCHEMES)
            raise BadInputError(f"unsupported URL scheme in status repository location {location!r}; use {schemes}")
        if re.match(r"^[\w.-]+@[\w.-]+:", location):  # scp-like ssh syntax
            return cls(location, token)
        return cls(str(Path(location).resolve()), token)

    @property
    def is_local(self) -> bool:
        return not self.url.startswith(_URL_SCHEMES) or self.url.startswith("file://")

    @property
    def local_path(self) -> Path | None:
        if self.url.startswith("file://"):
            return Path(urlsplit(self.url).path)
        return None if self.url.startswith(_URL_SCHEMES) else Path(self.url)

    def __str__(self) -> str:
        return self.url

    def config(self) -> dict[str, str]:
        """The git configuration that hands the token to git for this remote's host only."""
        if not self.token or not self.url.startswith(("https://", "http://")):
            return {}
        parts = urlsplit(self.url)
        basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return {f"http.{parts.scheme}://{parts.netloc}/.extraHeader": f"Authorization: Basic {basic}"}

    def secrets(self) -> tuple[str, ...]:
        if not self.token:
            return ()
        basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return (self.token, basic)


def config_environment(config: Mapping[str, str]) -> dict[str, str]:
    """``config`` as environment entries (``GIT_CONFIG_COUNT``/``_KEY_n``/``_VALUE_n``): seen by every git
    command, never on a command line."""
    if not config:
        return {}
    env = {"GIT_CONFIG_COUNT": str(len(config))}
    for n, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
    return env


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_transient(stderr: str) -> bool:
    """A failure that may go away on its own (network, server errors), worth another attempt."""
    return bool(_TRANSIENT.search(stderr))


REMOTE_COMMANDS = frozenset({"fetch", "push", "ls-remote", "clone"})
_PATHS_BY_SPEC = 64
"""``read_paths`` reads up to this many paths as ``rev:path`` specs, more through one ``ls-tree``."""
"""The git commands that talk to a remote: each run is one round trip (on GitHub, one request that costs
latency and counts against rate limits)."""


class Git:
    """Runs git against one repository (``git_dir``), with a fixed, quiet, non-interactive environment.

    ``round_trips`` counts the commands run that talked to a remote (``REMOTE_COMMANDS``), failed or not.
    ``config`` is git configuration for every command (in the environment, beside the remote's token)."""

    def __init__(
        self,
        git_dir: Path,
        *,
        remote: Remote | None = None,
        extra_env: Mapping[str, str] | None = None,
        config: Mapping[str, str] | None = None,
    ):
        self.git_dir = git_dir
        self.secrets = remote.secrets() if remote else ()
        env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
        env.update(
            {
                "GIT_DIR": str(git_dir),
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "true",
                "GCM_INTERACTIVE": "never",
                "LC_ALL": "C",
            }
        )
        env.update(config_environment({**(remote.config() if remote else {}), **(config or {})}))
        if extra_env:
            env.update(extra_env)
        self.env = env
        self.round_trips = 0
        self.elapsed_remote = 0.0
        """Seconds spent in those round trips."""

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        remote = bool(args) and args[0] in REMOTE_COMMANDS
        began = time.monotonic()
        try:
            proc = subprocess.run(
                ["git", *args], input=input, capture_output=True, env=self.env, check=False, timeout=600
            )
        except subprocess.TimeoutExpired as exc:
            raise GitCommandError(list(args), -1, "timed out after 600 s") from exc
        except FileNotFoundError as exc:
            raise GitCommandError(list(args), -1, "git is not installed (no 'git' on PATH)") from exc
        finally:
            if remote:
                self.round_trips += 1
                self.elapsed_remote += time.monotonic() - began
        if check and proc.returncode != 0:
            raise GitCommandError(list(args), proc.returncode, self.redact(proc.stderr.decode(errors="replace")))
        return proc

    def text(self, *args: str, input: bytes | None = None) -> str:
        return self.run(*args, input=input).stdout.decode().strip()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def read_blobs(self, specs: Sequence[str]) -> dict[str, bytes | None]:
        """Contents of ``<rev>:<path>`` specs in one ``cat-file --batch`` call; None where missing."""
        return {
            spec: found[1] if found and found[0] == "blob" else None for spec, found in self.read_objects(specs).items()
        }

    def object_sizes(self, specs: Sequence[str]) -> dict[str, int | None]:
        """Size of each object spec in one ``cat-file --batch-check`` call (nothing is read); None where missing."""
        if not specs:
            return {}
        out = self.run("cat-file", "--batch-check", input="".join(f"{s}\n" for s in specs).encode()).stdout
        sizes: dict[str, int | None] = {}
        for spec, line in zip(specs, out.decode(errors="replace").splitlines(), strict=True):
            fields = line.rsplit(" ", 2)
            sizes[spec] = int(fields[2]) if len(fields) == 3 and fields[2].isdigit() else None
        return sizes

    def read_small_blobs(self, specs: Sequence[str], limit: int) -> tuple[dict[str, bytes | None], dict[str, int]]:
        """``read_blobs`` for files that must be small (records): sizes are checked first (``--batch-check``)
        and a blob larger than ``limit`` bytes is never read. Returns the contents (None where missing or
        too large) and the size of each spec that was too large."""
        sizes = self.object_sizes(specs)
        large = {spec: size for spec, size in sizes.items() if size is not None and size > limit}
        contents = self.read_blobs([spec for spec in specs if spec not in large])
        return {spec: contents.get(spec) for spec in specs}, large

    def read_paths(self, rev: str, paths: Sequence[str], limit: int) -> dict[str, bytes | None]:
        """Contents of ``paths`` at ``rev``; None where missing, not a blob, or larger than ``limit`` bytes
        (never read). A few are read as ``rev:path``; many are found with one ``ls-tree`` of their top
        directories and read by blob id, because each ``rev:path`` walks the trees from the root again: a
        night of 58,400 cells took minutes that way."""
        if len(paths) <= _PATHS_BY_SPEC:
            found, _ = self.read_small_blobs([f"{rev}:{p}" for p in paths], limit)
            return {p: found[f"{rev}:{p}"] for p in paths}
        tops = sorted({p.split("/", 1)[0] for p in paths})
        listing = self.run("ls-tree", "-r", "-z", "-l", "--full-tree", rev, "--", *tops).stdout
        wanted = set(paths)
        ids: dict[str, str] = {}
        for entry in listing.split(b"\0"):
            meta, _, raw_path = entry.partition(b"\t")
            fields = meta.split()
            path = raw_path.decode("utf-8", errors="surrogateescape")
            if len(fields) == 4 and fields[1] == b"blob" and path in wanted and int(fields[3]) <= limit:
                ids[path] = fields[2].decode()
        blobs = self.read_blobs(sorted(set(ids.values())))
        return {p: blobs[ids[p]] if p in ids else None for p in paths}

    def read_objects(self, specs: Sequence[str]) -> dict[str, tuple[str, bytes] | None]:
        """Type and contents of each object spec in one ``cat-file --batch`` call; None where missing."""
        if not specs:
            return {}
        out = self.run("cat-file", "--batch", input="".join(f"{s}\n" for s in specs).encode()).stdout
        result: dict[str, tuple[str, bytes] | None] = {}
        pos = 0
        for spec in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode()
            pos = end + 1
            if header.endswith(" missing") or header.endswith(" ambiguous"):
                result[spec] = None
                continue
            _, kind, size_text = header.rsplit(" ", 2)
            size = int(size_text)
            result[spec] = (kind, out[pos : pos + size])
            pos += size + 1
        return result

    def stream(self, *args: str, block: int = 1 << 20) -> Iterator[bytes]:
        """The standard output of ``git args`` in blocks as it comes (for outputs too large to hold at once);
        a failure of the command is a ``GitCommandError`` after the last block. A reader that stops early
        ends the process."""
        proc = subprocess.Popen(["git", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        assert proc.stdout is not None and proc.stderr is not None
        # stderr is drained on a thread, so a chatty command cannot block on a full pipe
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
        drain.start()
        finished = False
        try:
            while data := proc.stdout.read(block):
                yield data
            finished = True
        finally:
            if not finished:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
            drain.join()
            proc.stderr.close()
        if code != 0:
            raise GitCommandError(list(args), code, self.redact(b"".join(errors).decode(errors="replace")))

    def stream_blobs(self, ids: Sequence[str]) -> Iterator[tuple[str, bytes | None]]:
        """(id, contents) of each object id in order, None where it is missing or not a blob, from one
        ``cat-file --batch`` process read as it answers: git unpacks the next objects while the caller
        works on the last ones (on a second core), and only one object is held at a time. A reader that
        stops early ends the process."""
        if not ids:
            return
        proc = subprocess.Popen(["git", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env)  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin = proc.stdin

        def feed() -> None:
            try:
                for start in range(0, len(ids), 4096):
                    stdin.write("".join(f"{i}\n" for i in ids[start : start + 4096]).encode())
            except (BrokenPipeError, ValueError):
                pass  # the reader stopped early and ended the process
            finally:
                with contextlib.suppress(OSError, ValueError):
                    stdin.close()

        feeder = threading.Thread(target=feed, name="cat-file-feed", daemon=True)
        feeder.start()
        finished = False
        try:
            for object_id in ids:
                header = proc.stdout.readline()
                if not header:
                    stderr = self.redact(proc.stderr.read().decode(errors="replace"))
                    raise GitCommandError(["cat-file", "--batch"], proc.wait(), stderr)
                fields = header.split()
                if len(fields) != 3:  # "<id> missing" or "<id> ambiguous"
                    yield object_id, None
                    continue
                content = proc.stdout.read(int(fields[2]) + 1)[:-1]
                yield object_id, content if fields[1] == b"blob" else None
            finished = True
        finally:
            if not finished:
                proc.kill()
            feeder.join()
            proc.stdout.close()
            proc.stderr.close()
            proc.wait()

    def commit_files(
        self,
        ref: str,
        files: Mapping[str, bytes],
        *,
        message: str,
        identity: tuple[str, str],
        when: int,
        parent: str | None = None,
    ) -> str:
        """One commit on ``parent`` (none: a root commit) that sets ``files`` (path -> content), made by
        ``git fast-import`` in a single process; ``ref`` is moved to it. Returns the commit id."""
        name, email = identity
        body = message.encode()
        stream = bytearray(f"commit {ref}\n".encode())
        stream += f"author {name} <{email}> {when} +0000\n".encode()
        stream += f"committer {name} <{email}> {when} +0000\n".encode()
        stream += f"data {len(body)}\n".encode() + body + b"\n"
        if parent:
            stream += f"from {parent}\n".encode()
        for path, content in sorted(files.items()):
            stream += f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n"
        stream += b"done\n"
        self.run("fast-import", "--quiet", "--force", "--done", input=bytes(stream))
        return self.text("rev-parse", ref)
