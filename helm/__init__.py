"""The end-to-end charts of the deploy and e2e stages, as package data (``crosscloud.charts``): an
installed ``crosscloud`` finds them with ``importlib.resources`` (``crosscloud.packaged.helm_charts``)."""
