"""The app's web infrastructure, which every surface builds on and which imports none of them: the settings,
the served state of the status repository (``status_state``), the metrics registry, the app's own SQLite
files, ``/healthz`` and ``/metrics`` (``monitoring``) and the ``crosscloud serve`` command."""
