"""One error hierarchy: every failure a user can cause or meet says what is at fault."""

from __future__ import annotations


class CrossCloudError(Exception):
    """Base of every error this package raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class BadInputError(CrossCloudError):
    """The input is wrong (a file, a field, an argument): fix it and try again."""

    exit_code = 2


class ConfigError(BadInputError):
    """A configuration file is unreadable or breaks the schema.

    ``source`` is the file, ``line`` the 1-based line where YAML gives one, ``field`` the path of the
    field at fault (``projects.etcd.timeout``)."""

    def __init__(self, message: str, *, source: str, line: int | None = None, field: str | None = None):
        self.source = source
        self.line = line
        self.field = field
        self.detail = message
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ConfigErrors(BadInputError):
    """Several problems in one configuration file, all reported at once so they can be fixed at once."""

    def __init__(self, problems: list[ConfigError]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RecordError(BadInputError):
    """A result record is not valid; ``source`` names the file or argument it came from."""

    def __init__(self, message: str, *, source: str, field: str | None = None):
        self.source = source
        self.field = field
        self.detail = message
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")


class UnknownNameError(BadInputError):
    """A project, cloud, stage, release or arch that the configuration does not have."""

    def __init__(self, kind: str, name: str, allowed: list[str] | tuple[str, ...], *, where: str = ""):
        self.kind = kind
        self.name = name
        self.allowed = list(allowed)
        choices = ", ".join(self.allowed) if self.allowed else "none"
        context = f" in {where}" if where else ""
        super().__init__(f"unknown {kind} {name!r}{context}; allowed: {choices}")


class StatusRepoError(CrossCloudError):
    """The status repository cannot be read or written (git failed, no such repository, ...)."""


class GitCommandError(StatusRepoError):
    """A git command failed; the message keeps git's own words, with any secret redacted."""

    def __init__(self, args: list[str], returncode: int, stderr: str):
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"git {' '.join(args[:2])} failed ({returncode}): {last}")


class PushGaveUpError(StatusRepoError):
    """The writer's push was rejected every time until it ran out of attempts."""
