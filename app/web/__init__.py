"""The app's web infrastructure, which every other package of the app builds on and which imports none of them:
the settings (``settings``), the served state of the status repository (``status_state``), the one HTTP error
path (``http_errors``), what a request brings (``request_input``: the size-capped body, the bearer token), the
one path that writes the status repository (``status_writes``), what every answer carries
(``response_headers``), the metrics registry (``metrics``), the app's own SQLite files (``sqlite_store``),
``/healthz`` and ``/metrics`` (``monitoring``), the mirror slot of each worker process of
``crosscloud serve --workers`` (``worker_slots``) and links of one shape made by ``url_for`` once
(``url_patterns``)."""
