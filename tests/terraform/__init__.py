"""Tests of the terraform modules (``terraform/``): the local module applied, every module's contract."""
