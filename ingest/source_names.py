"""Source names, importable without the sources' libraries (the CLI's help needs them)."""

from __future__ import annotations

#: Our eodag-backed source names -> eodag provider names.
PROVIDERS = {
    "earth-search": "earth_search",
    "planetary-computer": "planetary_computer",
    "cdse": "cop_dataspace",
    "usgs": "usgs",
}
#: Names a user can pass to --source (plus ``stac:<url>``).
SOURCE_NAMES = (*PROVIDERS, "urls", "stac:<url>")
