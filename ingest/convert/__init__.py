"""Conversion to cloud-optimised formats: rasters to COG, point clouds to COPC, STAC metadata.

Pure functions (no database, no server), shared by ingest and processing. Every converter
writes to a temporary file beside the destination and renames it only once it validates.
"""

from ingest.convert.cog import CogProfile, CogResult, OverviewResampling, to_cog
from ingest.convert.copc import CopcEngine, CopcResult, to_copc
from ingest.convert.errors import (
    ConversionError,
    EmptyInputError,
    InputNotFoundError,
    InvalidOutputError,
    NotGeoreferencedError,
    TruncatedInputError,
    UnreadableInputError,
    UnsupportedInputError,
)
from ingest.convert.pointcloud_meta import PointCloudMetadata, pointcloud_metadata

__all__ = [
    "CogProfile",
    "CogResult",
    "ConversionError",
    "CopcEngine",
    "CopcResult",
    "EmptyInputError",
    "InputNotFoundError",
    "InvalidOutputError",
    "NotGeoreferencedError",
    "OverviewResampling",
    "PointCloudMetadata",
    "TruncatedInputError",
    "UnreadableInputError",
    "UnsupportedInputError",
    "pointcloud_metadata",
    "to_cog",
    "to_copc",
]
