"""Per-dimension statistics of COPC records, gathered a block at a time while they are read.

The LAS header (bounds, points by return), the COPC info (GPS time range) and copclib's
extents VLR need a minimum and maximum of most dimensions. Computed on each freshly converted
block, while it is still in cache, they cost a fraction of the same reductions run afterwards
over the whole array (one trip through memory per field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Dimensions whose (min, max) is taken directly: the integer coordinates, then the extents.
_PLAIN = ("X", "Y", "Z", "gps_time", "intensity", "classification", "user_data", "scan_angle",
          "point_source_id")  # fmt: skip
_COLOURS = ("red", "green", "blue", "nir")


@dataclass(frozen=True, slots=True)
class PointStats:
    """Ranges and histograms of a set of COPC (format 6-8) records.

    Attributes:
        count: Points seen.
        mins, maxs: Per dimension in ``_PLAIN`` (and the colours present), as stored.
        returns: ``returns[n, r]``: points with ``number_of_returns == n`` and
            ``return_number == r`` (the byte ``bit_fields`` as a 16 x 16 histogram).
        flags: Histogram of the ``classification_flags`` byte.
    """

    count: int
    mins: dict[str, float]
    maxs: dict[str, float]
    returns: NDArray[np.int64]
    flags: NDArray[np.int64]

    @classmethod
    def of(cls, records: NDArray[np.void]) -> PointStats:
        """Statistics of one (non-empty) block of records."""
        names = set(records.dtype.names or ())
        dims = [*_PLAIN, *(c for c in _COLOURS if c in names)]
        mins, maxs = {}, {}
        for name in dims:
            # one strided copy, then two contiguous reductions: faster than two strided ones
            values = np.ascontiguousarray(records[name])
            mins[name], maxs[name] = values.min().item(), values.max().item()
        returns = np.bincount(records["bit_fields"], minlength=256).reshape(16, 16)
        flags = np.bincount(records["classification_flags"], minlength=256)
        return cls(len(records), mins, maxs, returns, flags)

    @classmethod
    def merge(cls, parts: Sequence[PointStats]) -> PointStats:
        """The statistics of all the blocks together."""
        first = parts[0]
        return cls(
            count=sum(p.count for p in parts),
            mins={k: min(p.mins[k] for p in parts) for k in first.mins},
            maxs={k: max(p.maxs[k] for p in parts) for k in first.maxs},
            returns=np.sum([p.returns for p in parts], axis=0),
            flags=np.sum([p.flags for p in parts], axis=0),
        )

    def coordinate_range(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Integer (unscaled) minimum and maximum of X, Y, Z."""
        lo = np.array([self.mins[a] for a in "XYZ"], dtype=np.int64)
        hi = np.array([self.maxs[a] for a in "XYZ"], dtype=np.int64)
        return lo, hi

    @property
    def points_by_return(self) -> tuple[int, ...]:
        """Points with return number 1 .. 15 (the LAS 1.4 header field)."""
        by_return = self.returns.sum(axis=0)
        return tuple(int(c) for c in by_return[1:16])

    @property
    def gps_range(self) -> tuple[float, float]:
        return float(self.mins["gps_time"]), float(self.maxs["gps_time"])

    def extents(self) -> dict[str, tuple[float, float]]:
        """Per-dimension (min, max) for copclib's extents VLR (GPS time comes separately)."""
        out = {name: self._span(name) for name in ("intensity",)}
        return_numbers = np.flatnonzero(self.returns.sum(axis=0))
        numbers_of_returns = np.flatnonzero(self.returns.sum(axis=1))
        flags = np.flatnonzero(self.flags)
        out["return_number"] = _span(return_numbers)
        out["number_of_returns"] = _span(numbers_of_returns)
        out["scanner_channel"] = _span((flags >> 4) & 0b11)
        out["scan_direction_flag"] = _span((flags >> 6) & 1)
        out["edge_of_flight_line"] = _span(flags >> 7)
        for name in ("classification", "user_data", "scan_angle", "point_source_id"):
            out[name] = self._span(name)
        for name in _COLOURS:
            if name in self.mins:
                out[name] = self._span(name)
        return out

    def _span(self, name: str) -> tuple[float, float]:
        return float(self.mins[name]), float(self.maxs[name])


def _span(values: NDArray[np.int64]) -> tuple[float, float]:
    return float(values.min()), float(values.max())
