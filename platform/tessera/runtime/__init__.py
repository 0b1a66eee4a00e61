"""Wiring: the metadata cache, the save pipeline and its hooks, events and jobs."""
