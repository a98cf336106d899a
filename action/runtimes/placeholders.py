"""``{name}`` placeholders in a project's configuration, filled in by a runtime per deployment (the host
runtime's ``{port}``, ``{dir}``, ``{binary.NAME}``; the Kubernetes runtime's ``{namespace}``, ``{release}``,
``{kubeconfig}``).

A placeholder is ``{`` NAME ``}`` with NAME made of letters, digits and ``_.+-``, starting with a letter;
``{{NAME}}`` writes ``{NAME}`` literally. Every other brace is left alone, so JSON, YAML flow mappings
and Go templates (``{{ .Labels }}``) need no escaping."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from crosscloud_action.errors import ProjectFailure
from crosscloud_action.runtimes.interface import REASON_LIMIT

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z][A-Za-z0-9_.+-]*)\}\}|\{([A-Za-z][A-Za-z0-9_.+-]*)\}")


class Placeholders:
    """Fills in ``{name}`` placeholders from ``values``; an unknown one is a ``ProjectFailure`` that
    names it, where it was, and the closest known one."""

    def __init__(self, values: Mapping[str, str]):
        self.values = dict(values)

    def __call__(self, text: str, where: str) -> str:
        def one(match: re.Match[str]) -> str:
            literal, name = match.groups()
            if literal is not None:
                return f"{{{literal}}}"
            if name in self.values:
                return self.values[name]
            close = difflib.get_close_matches(name, self.values, n=1)
            hint = f"; did you mean {{{close[0]}}}?" if close else ""
            known = ", ".join(f"{{{k}}}" for k in sorted(self.values))
            raise ProjectFailure(f"{where}: unknown placeholder {{{name}}}{hint} (known: {known})"[:REASON_LIMIT])

        return _PLACEHOLDER.sub(one, text)
