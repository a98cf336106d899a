"""Cross-Cloud CI: the contract shared by the pipeline (writer side) and the app (reader side)."""

__version__ = "0.1.0"
