"""Ingest: sources, download, conversion to COG/COPC, validation, STAC items, registration.

Where things are:
- ``sources/``: the source registry (eodag providers, any STAC API, plain URLs) -> products;
- ``download``: one asset to a local file, failures sorted into retry / bad product;
- ``convert/``, ``validate/``: the conversion library (COG, COPC) and its validators;
- ``items/``: our item per product kind (stactools, rio-stac, pointcloud metadata), file
  fields, offline STAC schema validation;
- ``pipeline``: one product end to end; ``register``: the catalog writes;
- ``queue`` / ``worker``: procrastinate jobs and workers; ``runs``: run and product records;
- ``service``: start a run (shared by ``cli`` and ``api``); ``settings``: STACWORKS_INGEST_*.
"""
