"""The catalog change log written once per statement, not per row.

0008's row trigger ran a function and an insert for every item of a bulk load; statement-level
triggers with a transition table insert all of a statement's changes in one set-based insert
(``bench/triggers/change_log.py`` measures both against no trigger). PostgreSQL allows one event
per trigger with a transition table, hence one for inserts and one for updates.
"""

from alembic import op

revision = "0009"
down_revision = "0008"

S = "stacworks"


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stacworks_catalog_changes ON pgstac.items")
    op.execute(
        f"""
        CREATE FUNCTION {S}.record_catalog_changes() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {S} AS $$
        BEGIN
            INSERT INTO {S}.catalog_changes (collection, item_id, op)
            SELECT collection, id, lower(TG_OP) FROM changed_items ORDER BY collection, id;
            RETURN NULL;
        END $$
        """
    )
    for name, event in (("stacworks_catalog_changes", "INSERT"),
                        ("stacworks_catalog_updates", "UPDATE")):
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON pgstac.items "
            "REFERENCING NEW TABLE AS changed_items FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {S}.record_catalog_changes()"
        )
    op.execute(f"DROP FUNCTION IF EXISTS {S}.record_catalog_change()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stacworks_catalog_changes ON pgstac.items")
    op.execute("DROP TRIGGER IF EXISTS stacworks_catalog_updates ON pgstac.items")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.record_catalog_changes()")
    op.execute(
        f"""
        CREATE FUNCTION {S}.record_catalog_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {S} AS $$
        BEGIN
            INSERT INTO {S}.catalog_changes (collection, item_id, op)
            VALUES (NEW.collection, NEW.id, lower(TG_OP));
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER stacworks_catalog_changes AFTER INSERT OR UPDATE ON pgstac.items "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.record_catalog_change()"
    )
