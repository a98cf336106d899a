"""Hostile input: the bad-input corpus (``bad_inputs/``), fuzzing of the API, security checks."""
