"""Tests of the end-to-end charts (``helm/``): lint, template, the manifests they render."""
