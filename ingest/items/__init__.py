"""STAC items for ingested products: builders per product kind, file fields, offline schemas."""
