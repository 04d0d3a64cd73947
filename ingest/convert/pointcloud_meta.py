"""STAC pointcloud and projection fields of a LAS/LAZ/COPC file, computed in one streaming pass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
from laspy.point.dims import DimensionKind
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.enums import WktVersion

from ingest.convert._lasread import inspect_las, las_errors
from ingest.convert.errors import TruncatedInputError

__all__ = [
    "POINTCLOUD_EXTENSION",
    "PROJECTION_EXTENSION",
    "PointCloudMetadata",
    "pointcloud_metadata",
]

POINTCLOUD_EXTENSION = "https://stac-extensions.github.io/pointcloud/v1.0.0/schema.json"
PROJECTION_EXTENSION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"

#: laspy dimension names -> the names PDAL (and so most pointcloud STAC items) use.
_PDAL_NAMES = {
    "intensity": "Intensity",
    "return_number": "ReturnNumber",
    "number_of_returns": "NumberOfReturns",
    "scan_direction_flag": "ScanDirectionFlag",
    "edge_of_flight_line": "EdgeOfFlightLine",
    "classification": "Classification",
    "synthetic": "Synthetic",
    "key_point": "KeyPoint",
    "withheld": "Withheld",
    "overlap": "Overlap",
    "scanner_channel": "ScannerChannel",
    "scan_angle_rank": "ScanAngleRank",
    "scan_angle": "ScanAngle",
    "user_data": "UserData",
    "point_source_id": "PointSourceId",
    "gps_time": "GpsTime",
    "red": "Red",
    "green": "Green",
    "blue": "Blue",
    "nir": "Infrared",
    "wavepacket_index": "WavePacketDescriptorIndex",
    "wavepacket_offset": "WaveformDataOffset",
    "wavepacket_size": "WaveformPacketSize",
    "return_point_wave_location": "ReturnPointWaveformLocation",
    "x_t": "XT",
    "y_t": "YT",
    "z_t": "ZT",
}
_ENCODINGS = {
    "copc": "application/vnd.laszip+copc",
    "laz": "application/vnd.laszip",
    "las": "application/vnd.las",
}


@dataclass(frozen=True, slots=True)
class PointCloudMetadata:
    """STAC-ready description of a point cloud file.

    Attributes:
        properties: ``pc:*`` and ``proj:*`` item properties.
        bbox: ``[west, south, east, north]`` in EPSG:4326, or None without a CRS.
        geometry: GeoJSON footprint polygon in EPSG:4326, or None without a CRS.
        stac_extensions: Schema URIs of the extensions the properties use.
    """

    properties: dict[str, Any]
    bbox: list[float] | None
    geometry: dict[str, Any] | None
    stac_extensions: list[str] = field(
        default_factory=lambda: [POINTCLOUD_EXTENSION, PROJECTION_EXTENSION]
    )


def pointcloud_metadata(
    path: str | Path, *, chunk_size: int = 1_000_000, densify: int = 21
) -> PointCloudMetadata:
    """Describe a LAS/LAZ/COPC file with the STAC pointcloud and projection extensions.

    Statistics are exact and computed in one pass over chunks (Chan's parallel
    mean/variance merge), so memory stays at one chunk whatever the file size. Bounds come
    from the points, not the header, which writers sometimes round or forget to update.

    Args:
        path: The file.
        chunk_size: Points decoded per chunk.
        densify: Points per bbox edge when projecting the footprint to EPSG:4326.

    Returns:
        A :class:`PointCloudMetadata`.

    Raises:
        InputNotFoundError, EmptyInputError, UnreadableInputError, TruncatedInputError (also
        when the header promises more points than the file holds).
    """
    path = Path(path)
    inp = inspect_las(path)
    pf = inp.header.point_format
    columns = _columns(pf)
    stats = {name: _Running() for name, _, _ in columns}
    seen = 0
    with las_errors(path), laspy.open(path) as reader:
        for chunk in reader.chunk_iterator(chunk_size):
            seen += len(chunk)
            for name, source, element in columns:
                values = np.asarray(chunk[source])
                if element is not None:
                    values = values[:, element]
                if source in ("x", "y", "z"):
                    values = np.asarray(values, dtype=np.float64)
                stats[name].add(values)
    if seen != inp.point_count:
        raise TruncatedInputError(
            f"{path}: header promises {inp.point_count} points, the file holds {seen}", path=path
        )
    properties: dict[str, Any] = {
        "pc:count": inp.point_count,
        "pc:type": "lidar",
        "pc:encoding": _ENCODINGS[_encoding(inp.is_copc, inp.header)],
        "pc:schemas": _schemas(pf, inp.header),
        "pc:statistics": [s.as_stac(name, i) for i, (name, s) in enumerate(stats.items())],
    }
    crs = CRS.from_wkt(inp.wkt) if inp.wkt else None
    native = _native_bounds(stats) if seen else None
    properties.update(_projection(crs, native))
    bbox, geometry = _footprint(crs, native, densify) if crs and native else (None, None)
    return PointCloudMetadata(properties=properties, bbox=bbox, geometry=geometry)


def _columns(pf: laspy.PointFormat) -> list[tuple[str, str, int | None]]:
    """(statistics name, laspy field to read, array element) for every dimension."""
    out: list[tuple[str, str, int | None]] = [("X", "x", None), ("Y", "y", None), ("Z", "z", None)]
    for dim in pf.dimensions:
        if dim.name in ("X", "Y", "Z"):
            continue
        name = _PDAL_NAMES.get(dim.name, dim.name)
        if dim.num_elements > 1:
            out.extend((f"{name}[{i}]", dim.name, i) for i in range(dim.num_elements))
        else:
            out.append((name, dim.name, None))
    return out


def _schemas(pf: laspy.PointFormat, header: laspy.LasHeader) -> list[dict[str, Any]]:
    """Name, size (bytes) and type of each dimension, as PDAL reports them."""
    schemas: list[dict[str, Any]] = []
    for dim in pf.dimensions:
        if dim.name in ("X", "Y", "Z"):
            axis = "XYZ".index(dim.name)
            schemas.append(
                {
                    "name": dim.name,
                    "size": 4,
                    "type": "signed",
                    "scale": float(header.scales[axis]),
                    "offset": float(header.offsets[axis]),
                }
            )
            continue
        name = _PDAL_NAMES.get(dim.name, dim.name)
        if dim.scales is not None or dim.offsets is not None:
            kind, size = "floating", 8  # scaled extra bytes are read as doubles
        elif dim.kind is DimensionKind.BitField:
            kind, size = "unsigned", 1
        else:
            kind = {
                DimensionKind.SignedInteger: "signed",
                DimensionKind.UnsignedInteger: "unsigned",
                DimensionKind.FloatingPoint: "floating",
            }[dim.kind]
            size = max(dim.num_bits // 8 // dim.num_elements, 1)
        names = (
            [name] if dim.num_elements == 1 else [f"{name}[{i}]" for i in range(dim.num_elements)]
        )
        schemas.extend({"name": n, "size": size, "type": kind} for n in names)
    return schemas


def _encoding(is_copc: bool, header: laspy.LasHeader) -> str:
    if is_copc:
        return "copc"
    return "laz" if header.are_points_compressed else "las"


class _Running:
    """Streaming count/min/max/mean/variance; merges chunks with Chan et al.'s formula."""

    __slots__ = ("count", "m2", "maximum", "mean", "minimum")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, values: NDArray[Any]) -> None:
        n = int(values.size)
        if n == 0:
            return
        v = values.astype(np.float64, copy=False)
        mean = float(v.mean())
        m2 = float(np.square(v - mean).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.minimum = min(self.minimum, float(v.min()))
        self.maximum = max(self.maximum, float(v.max()))

    def as_stac(self, name: str, position: int) -> dict[str, Any]:
        """A pointcloud-extension stats object; an empty dimension has only its count."""
        out: dict[str, Any] = {"name": name, "position": position, "count": self.count}
        if self.count:
            variance = self.m2 / self.count
            out.update(
                minimum=self.minimum,
                maximum=self.maximum,
                average=self.mean,
                variance=variance,
                stddev=math.sqrt(variance),
            )
        return out


def _native_bounds(stats: dict[str, _Running]) -> list[float]:
    x, y, z = stats["X"], stats["Y"], stats["Z"]
    return [x.minimum, y.minimum, z.minimum, x.maximum, y.maximum, z.maximum]


def _projection(crs: CRS | None, native: list[float] | None) -> dict[str, Any]:
    """``proj:code`` when the CRS is exactly a registry entry, else ``proj:wkt2``."""
    out: dict[str, Any] = {"proj:code": None}
    if crs is not None:
        authority = crs.to_authority(min_confidence=100)
        if authority:
            out["proj:code"] = ":".join(authority)
        else:
            out["proj:wkt2"] = crs.to_wkt(WktVersion.WKT2_2019)
    if native is not None:  # the schema wants numbers: an empty cloud has no bbox at all
        out["proj:bbox"] = native
    return out


def _footprint(crs: CRS, native: list[float], densify: int) -> tuple[list[float], dict[str, Any]]:
    """Bounding box and densified footprint polygon in EPSG:4326 (lon/lat order)."""
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    to_wgs84 = Transformer.from_crs(horizontal, CRS.from_epsg(4326), always_xy=True)
    west, south, low, east, north, high = native
    if horizontal.is_geocentric:  # x/y/z are all needed to find a longitude and latitude
        corners = np.array(np.meshgrid([west, east], [south, north], [low, high])).reshape(3, -1)
        lon, lat, _ = to_wgs84.transform(*corners)
        box = [float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))]
        w, s, e, n = box
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return box, {"type": "Polygon", "coordinates": [ring]}
    t = np.linspace(0.0, 1.0, densify, endpoint=False)  # each edge stops short of its end
    xs = np.concatenate(
        [west + (east - west) * t, np.full(densify, east), east - (east - west) * t,
         np.full(densify, west)]
    )  # fmt: skip
    ys = np.concatenate(
        [np.full(densify, south), south + (north - south) * t, np.full(densify, north),
         north - (north - south) * t]
    )  # fmt: skip
    lon, lat = to_wgs84.transform(xs, ys)
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    bbox = [float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))]
    return bbox, {"type": "Polygon", "coordinates": [ring]}
