"""Checks on GeoJSON geometries shared by every write path (API transactions, bulk loads)."""

from __future__ import annotations

from typing import Any

from catalog.errors import InvalidInput

__all__ = ["check_geometry"]


def check_geometry(geometry: Any, field: str = "geometry") -> None:
    """No GeometryCollection inside another: PostGIS stores one but cannot write it back as
    GeoJSON, so every later search returning the item would fail (RFC 7946 3.1.8 advises
    against them too)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "GeometryCollection":
        return
    for i, part in enumerate(geometry.get("geometries") or []):
        if isinstance(part, dict) and part.get("type") == "GeometryCollection":
            raise InvalidInput(f"{field}.geometries.{i}", "a GeometryCollection cannot be "
                               "nested in another; list its members instead")
