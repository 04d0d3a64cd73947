"""Alembic environment for the ``stacworks`` schema (run programmatically by catalog.migrate)."""

from alembic import context
from sqlalchemy import create_engine, text

from catalog.models import SCHEMA, Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = create_engine(url)
with engine.begin() as connection:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
    )
    context.run_migrations()
engine.dispose()
