"""Tests of the project as a whole: its package, declared dependencies, layers, tools and the ten-minute walk."""
