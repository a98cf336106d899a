"""Tests of the shared core (package ``crosscloud``), mirroring its modules."""
