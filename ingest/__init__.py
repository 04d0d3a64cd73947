"""Ingest: sources, download, conversion to COG/COPC, validation, STAC items, registration."""
