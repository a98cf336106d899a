"""Wrappers of the programs stages run: one subprocess wrapper (``process``), terraform, container builders."""
