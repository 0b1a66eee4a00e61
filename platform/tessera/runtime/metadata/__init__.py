"""Metadata: objects and fields (real tables and columns), and the document service with its
registry of document kinds, which each engine's wiring fills from its `kinds.py`."""
