"""Uncomment the credentials steps of the chosen clouds in the generated workflow (cookiecutter runs this in
the generated directory after generating). The rule lives in crosscloud/onboard.py
(``enable_cloud_credentials``), so the hook needs the crosscloud package, as the pre-generation hook does."""

import json
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
WORKFLOW = Path(".github") / "workflows" / "cross-cloud.yml"


def main() -> int:
    try:
        from crosscloud.onboard import enable_cloud_credentials
    except ImportError:
        print("onboard: error: the workflow is finished by the crosscloud package: pip install cross-cloud-ci",
              file=sys.stderr)  # fmt: skip
        return 1
    clouds = str(ANSWERS["clouds"]).replace(",", " ").split()
    WORKFLOW.write_text(enable_cloud_credentials(WORKFLOW.read_text(encoding="utf-8"), clouds), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
