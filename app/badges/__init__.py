"""README badges: ``/badge/...`` as shields.io-style SVG and shields endpoint JSON (``routes``), what a badge
says for the cells it names (``verdict``) and the renderer that draws them byte for byte like shields.io's
(``shields``, with the Verdana width table in ``data/``). It builds on ``crosscloud_app.web``."""
