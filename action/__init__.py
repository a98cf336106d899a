"""The writer side: stage runners, cloud runtimes and tool wrappers behind ``action.yml`` and ``crosscloud run``.

Installed as the package ``crosscloud_action``. It imports the shared core (``crosscloud``); the core never
imports it (``crosscloud run`` loads it lazily)."""
