"""Tests of the status repository's writer, reader and seeding (``crosscloud/status_repo/``)."""
