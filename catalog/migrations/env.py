"""Alembic environment for the ``stacworks`` schema (run programmatically by catalog.migrate)."""

from alembic import context
from sqlalchemy import create_engine, text

from catalog.schema import SCHEMA, include_name, target_metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = create_engine(url)
with engine.begin() as connection:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    context.configure(
        connection=connection,
        # Every part's models: `alembic revision --autogenerate` starts from their difference.
        target_metadata=target_metadata(),
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=include_name,
    )
    context.run_migrations()
engine.dispose()
