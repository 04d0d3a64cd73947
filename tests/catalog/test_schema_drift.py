"""The declared tables (models) and the Alembic migrations describe the same schema.

A migrated real database is compared with every part's models through Alembic's autogenerate
comparison: a migration without the matching model change (or the reverse) fails here, naming
the table, column or index that differs.
"""

from __future__ import annotations

from catalog.schema import drift


def test_models_match_the_migrated_database(dsn: str) -> None:
    differences = drift(dsn)
    assert not differences, (
        "the models and the migrations describe different schemas; change the model beside the "
        "migration (or the migration beside the model):\n  " + "\n  ".join(differences)
    )


def test_a_difference_is_named(dsn: str) -> None:
    """A column only the models have, a column only the migrations made, a changed type."""
    from sqlalchemy import Column, Integer, MetaData, Text

    from catalog.schema import SCHEMA, target_metadata

    metadata = MetaData(schema=SCHEMA)
    for table in target_metadata().tables.values():
        copy = table.to_metadata(metadata)
        if table.name == "processing_executions":
            copy.append_column(Column("attempts", Integer, nullable=False))
        if table.name == "processing_workflows":
            copy._columns.remove(copy.c.owner)  # as if a model forgot a migration's column
        if table.name == "access_rate_counters":
            copy.c.count.type = Text()
    differences = drift(dsn, metadata)
    assert sorted(differences) == sorted([
        "column stacworks.processing_executions.attempts: declared, but no migration adds it",
        "column stacworks.processing_workflows.owner: added by a migration, but not declared in "
        "the models",
        "column stacworks.access_rate_counters.count type: migrations give INTEGER(), models "
        "Text()",
    ]), differences
