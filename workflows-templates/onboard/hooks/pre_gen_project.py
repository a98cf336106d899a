"""Refuse answers that would generate a broken onboarding (cookiecutter runs this before generating).

`crosscloud onboard` checks the same answers before it calls cookiecutter; this hook keeps a plain
`cookiecutter workflows-templates/onboard` run just as strict. The rules live in one place,
crosscloud/onboard.py, so the hook needs the crosscloud package (pip install cross-cloud-ci)."""

import json
import sys

# Cookiecutter renders this file with Jinja first. `tojson` escapes quotes, so no answer can end the string.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")


def main() -> int:
    try:
        from crosscloud.errors import BadInputError
        from crosscloud.onboard import check_answers
    except ImportError:
        print(
            "onboard: error: the answers are checked by the crosscloud package: pip install cross-cloud-ci",
            file=sys.stderr,
        )
        return 1
    try:
        check_answers(ANSWERS)
    except BadInputError as exc:
        print(f"onboard: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
