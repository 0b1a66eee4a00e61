"""Alembic environment for the platform's own tables; run through `tessera db upgrade`."""

from __future__ import annotations

from alembic import context

from tessera.data.tables import metadata

config = context.config


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Object tables belong to the builders' metadata, not to these revisions.
    return type_ != "table" or bool(name and name.startswith("tessera_"))


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
