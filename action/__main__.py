"""The action's one entry point (``python -m crosscloud_action``): ``action.yml`` maps its inputs to
``CROSSCLOUD_*`` environment variables and calls this. See ``crosscloud_action.entry``."""

from crosscloud_action.entry import main

raise SystemExit(main())
