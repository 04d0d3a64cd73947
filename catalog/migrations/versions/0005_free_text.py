"""Free-text search (``q``) that matches title, description or keywords, whichever exist.

pgstac 0.10 builds ``to_tsvector(description) || to_tsvector(coalesce(title, '')) || ...``:
without a description the whole vector is NULL and the item never matches, even on its title.
``stacworks.free_text_match`` is the same expression with every part coalesced, and the
``free_text_stacworks`` CQL2 operator (a row in pgstac's own operator table, the extension
point its CQL2 translation reads) lets the API send ``q`` to pgstac as part of the filter
(see ``catalog.api.free_text_filter``). Items and collections (``collections_asitems``) both
keep these fields under ``content->'properties'``. The name must not start with ``s`` or
``t``: pgstac routes operators by ``ILIKE 's_%'`` / ``'t_%'``, which match any such name.
"""

from alembic import op

revision = "0005"
down_revision = "0004"

FUNCTION = """
CREATE OR REPLACE FUNCTION stacworks.free_text_match(content jsonb, query text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (
        to_tsvector('english', coalesce(content->'properties'->>'description', '')) ||
        to_tsvector('english', coalesce(content->'properties'->>'title', '')) ||
        to_tsvector('english', coalesce(content->'properties'->>'keywords', ''))
    ) @@ query::tsquery
$$
"""
OPERATOR = """
INSERT INTO pgstac.cql2_ops (op, template)
VALUES ('free_text_stacworks', 'stacworks.free_text_match(content, %s)')
ON CONFLICT (op) DO UPDATE SET template = EXCLUDED.template
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(OPERATOR)


def downgrade() -> None:
    op.execute("DELETE FROM pgstac.cql2_ops WHERE op = 'free_text_stacworks'")
    op.execute("DROP FUNCTION IF EXISTS stacworks.free_text_match(jsonb, text)")
