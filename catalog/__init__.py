"""The STAC catalog: pgstac set-up, our own schema, and the STAC API (the ground floor)."""
