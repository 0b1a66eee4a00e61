"""The platform's Alembic revisions build exactly the tables `tessera.data.tables` declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tessera.data.engine import make_engine
from tessera.data.migrate import current
from tessera.data.tables import metadata


def _only_platform(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("tessera_"))


def test_revisions_match_the_declared_platform_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current(engine) is not None
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _only_platform})
            differences = compare_metadata(context, metadata)
            revision = conn.execute(sa.text("SELECT revision FROM tessera_meta_state")).scalar_one()
        # A difference means tables.py changed without a new revision (or the reverse).
        assert differences == []
        assert revision == 0
    finally:
        engine.dispose()
