"""The ``stacworks`` schema's one description, and the check that the migrations build it.

Every part declares its own tables (SQLAlchemy models) beside its code: ``catalog.models``
(loads, access control), ``ingest.models`` and ``processing.models``. The Alembic revisions in
``catalog/migrations`` are one chain for the whole schema. The two must agree: :func:`drift`
migrates nothing itself; it compares a migrated database with the declared tables through
Alembic's autogenerate comparison and names every difference, and a test fails on any.

The parts' model modules are loaded by name, and only by migration tooling (Alembic's env and
the check): the catalog's runtime code imports none of the parts above it.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import MetaData, create_engine

from catalog.models import SCHEMA, Base

__all__ = ["MODEL_MODULES", "SCHEMA", "drift", "include_name", "target_metadata"]

#: Modules whose import declares the tables of the ``stacworks`` schema on ``Base.metadata``.
MODEL_MODULES = (
    "catalog.models", "ingest.models", "processing.models", "processing.triggers.models",
)


def target_metadata() -> MetaData:
    """Every declared table of the ``stacworks`` schema."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our schema is compared: pgstac, procrastinate and PostGIS own the others."""
    if type_ == "schema":
        return name == SCHEMA
    return not (type_ == "table" and name == "alembic_version")


def _sql(value: Any) -> str:
    """A type or server default as SQL text (a DefaultClause's repr names no value)."""
    arg = getattr(value, "arg", value)
    return repr(getattr(arg, "text", arg)) if value is not None else "none"


def _describe(diff: Any) -> str:
    """One difference from ``compare_metadata`` as a sentence naming table and column."""
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in diff)
    op = diff[0]
    if op in ("add_table", "remove_table"):
        where = "declared, but no migration creates it" if op == "add_table" else (
            "created by a migration, but not declared in the models"
        )
        return f"table {diff[1].schema}.{diff[1].name}: {where}"
    if op in ("add_column", "remove_column"):
        schema, table, column = diff[1], diff[2], diff[3]
        where = "declared, but no migration adds it" if op == "add_column" else (
            "added by a migration, but not declared in the models"
        )
        return f"column {schema}.{table}.{column.name}: {where}"
    if op.startswith("modify_"):
        _, schema, table, column, _opts, was, now = diff
        what = op.removeprefix("modify_")
        return (
            f"column {schema}.{table}.{column} {what}: migrations give {_sql(was)}, "
            f"models {_sql(now)}"
        )
    if op in ("add_index", "remove_index"):
        index = diff[1]
        side = "models only" if op == "add_index" else "migrations only"
        columns = ", ".join(c.name for c in index.columns)
        return f"index {index.name} on {index.table.name} ({columns}): {side}"
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        side = "models only" if op.startswith("add") else "migrations only"
        constraint = diff[1]
        return f"{op.split('_', 1)[1]} {constraint.name or ''} on {constraint.table.name}: {side}"
    return repr(diff)


def drift(dsn: str, metadata: MetaData | None = None) -> list[str]:
    """How the database at ``dsn`` (migrated to head) differs from the declared tables
    (``metadata``, by default :func:`target_metadata`), one sentence per difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": include_name,
                    "compare_type": True,
                    "compare_server_default": True,
                    "version_table_schema": SCHEMA,
                },
            )
            diffs = compare_metadata(context, metadata or target_metadata())
            return [_describe(d) for d in diffs]
    finally:
        engine.dispose()
