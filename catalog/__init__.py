"""The STAC catalog: pgstac set-up, our own schema, and the STAC API (the ground floor)."""

import logging

# stac-fastapi builds a module-level ApiSettings() when imported and warns that its title,
# description and version are defaults. Ours are passed explicitly (catalog.api), so that
# warning, printed by every CLI command that imports the API, is noise: drop that one message.
logging.getLogger("stac_fastapi.types.config").addFilter(
    lambda record: "Using default values for stac_fastapi_title" not in record.getMessage()
)
