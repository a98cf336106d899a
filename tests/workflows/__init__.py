"""Running this project's workflows under ``act`` (see ``act.py``), with stand-ins for GitHub's own actions
(``stand-ins/``, test doubles at the GitHub boundary)."""
