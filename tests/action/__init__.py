"""Tests of the action (package ``crosscloud_action``); their helpers are ``tests.helpers.stages``."""
