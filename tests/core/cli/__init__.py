"""Tests of the ``crosscloud`` command (``crosscloud/cli/``)."""
