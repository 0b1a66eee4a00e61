"""Side-by-side performance runs of Tessera against hand-written SQLAlchemy/FastAPI floors.

Every benchmark measures the product and a floor — the same work written by hand with
SQLAlchemy Core (and FastAPI where HTTP is involved) against an identical table in the
same database — in the same run, and prints their ratio next to the target the issue sets.
Run everything with `python -m benchmarks` (`make bench`); `--quick` is a sanity run.
"""
