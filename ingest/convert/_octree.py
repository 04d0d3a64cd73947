"""Level-of-detail octree for COPC: one point per grid cell per node, the rest to the children.

This is the Entwine/PDAL scheme. Every node is a cube; its points are chosen on a fixed
``grid``³ lattice over that cube, at most one per occupied cell (the one nearest the cell
centre), so each level is a spatially even thinning of the data at twice the previous
resolution. Points that lose their cell move down to the child cube that holds them; a node
whose remaining points fit in ``max_leaf_points`` keeps them all and stops.

Everything is vectorised with numpy. Points are sorted once by their Morton (Z-order) code at
the finest resolution; in that order every node and every grid cell, at every depth, is one
contiguous run. Each level then costs a few linear passes (run starts, a ``reduceat`` for
the nearest point), never another sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Bits per axis at the finest resolution: three axes must fit a 63-bit Morton code.
_MAX_BITS = 21


@dataclass(frozen=True, slots=True)
class Cube:
    """The octree's root cube, anchored at the header minimum as copclib requires.

    copclib checks node bounds as ``min + span / 2**d * k`` with ``span`` the largest header
    extent and no padding; laspy and copc.js use ``center ± halfsize`` from the COPC info VLR.
    With ``center = min + span / 2`` and ``halfsize = span / 2`` both agree.
    """

    mins: NDArray[np.float64]
    span: float

    @property
    def center(self) -> NDArray[np.float64]:
        return self.mins + self.span / 2

    @property
    def halfsize(self) -> float:
        return self.span / 2


@dataclass(frozen=True, slots=True)
class Octree:
    """Node membership of every point.

    Attributes:
        order: Permutation of the input points: ``points[order]`` lists the points of node 0,
            then node 1, ... (nodes breadth first, points in Z-order within a node).
        keys: ``(n_nodes, 4)`` int32 voxel keys ``(depth, x, y, z)`` in the same order.
        counts: Points per node; ``counts.sum() == len(order)``.
    """

    order: NDArray[np.int64]
    keys: NDArray[np.int32]
    counts: NDArray[np.int64]

    @property
    def max_depth(self) -> int:
        return int(self.keys[:, 0].max()) if len(self.keys) else 0


def cube_for(mins: NDArray[np.float64], maxs: NDArray[np.float64]) -> tuple[Cube, NDArray]:
    """Return the root cube for these bounds and the header maximum to write with it.

    The largest extent is the cube's edge. When ``min + (max - min)`` rounds below ``max``
    (coordinates of different magnitude, e.g. around zero) the root cube would miss the
    extreme points by one ulp, so that maximum is nudged up until the cube holds it; the
    header then bounds the data by at most a few ulps, which no reader can notice.
    """
    mins = np.asarray(mins, dtype=np.float64)
    maxs = np.asarray(maxs, dtype=np.float64).copy()
    data_maxs = maxs.copy()
    for _ in range(8):
        span = float(np.max(maxs - mins))
        if np.all(mins + span >= data_maxs):
            break
        axis = int(np.argmax(maxs - mins))
        maxs[axis] = np.nextafter(maxs[axis], np.inf)
    return Cube(mins=mins, span=span), maxs


def build_octree(
    xyz: NDArray[np.float64],
    cube: Cube,
    *,
    grid: int = 128,
    max_leaf_points: int = 65_536,
    resolution: float | None = None,
) -> Octree:
    """Assign every point to a node of the LOD octree.

    Args:
        xyz: ``(n, 3)`` scaled coordinates.
        cube: The root cube from :func:`cube_for`.
        grid: Cells per node edge (a power of two); the root spacing is ``span / grid``.
        max_leaf_points: A node with at most this many remaining points keeps them all.
        resolution: Smallest meaningful distance (the coarsest coordinate scale); no node is
            split below the depth where a cell is that small, so duplicates cannot recurse.

    Returns:
        The :class:`Octree`.
    """
    if grid < 2 or grid & (grid - 1):
        raise ValueError(f"grid must be a power of two >= 2, got {grid}")
    n = len(xyz)
    gbits = grid.bit_length() - 1
    max_depth = _max_depth(cube.span, grid, gbits, resolution)
    bits = max_depth + gbits
    q = _quantise(xyz, cube, bits)
    morton = _morton(q)
    order = np.argsort(morton, kind="stable")
    morton = morton[order]
    q = q[order]

    level = _assign_levels(q, morton, bits, gbits, max_depth, max_leaf_points)
    _promote_boundary_points(xyz[order], q, level, cube, bits)
    return _group_nodes(order, morton, level, bits, n)


def _max_depth(span: float, grid: int, gbits: int, resolution: float | None) -> int:
    """Deepest level worth splitting to: cells no smaller than the coordinate resolution."""
    limit = _MAX_BITS - gbits
    if span <= 0:
        return 0
    if not resolution or resolution <= 0:
        return limit
    depth = int(np.ceil(np.log2(max(span / (resolution * grid), 1.0))))
    return int(min(max(depth, 0), limit))


def _quantise(xyz: NDArray[np.float64], cube: Cube, bits: int) -> NDArray[np.int32]:
    """Integer cell coordinates at the finest level, ``0 .. 2**bits - 1`` per axis."""
    cells = 1 << bits
    if cube.span <= 0:
        return np.zeros(xyz.shape, dtype=np.int32)
    # Scaling by a power of two is exact, so floor(u * 2**b) >> k == floor(u * 2**(b-k)): the
    # cell at any coarser level is a bit-shift of this one, consistently across levels.
    q = np.floor((xyz - cube.mins) / cube.span * cells)
    np.clip(q, 0, cells - 1, out=q)
    return q.astype(np.int32)  # at most 21 bits per axis: int32 halves the index memory


def _spread3(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Insert two zero bits between each of the low 21 bits (Morton encoding helper)."""
    v = v & np.uint64(0x1FFFFF)
    v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
    return v


def _compact3(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Inverse of :func:`_spread3`: keep every third bit."""
    v = v & np.uint64(0x1249249249249249)
    v = (v ^ (v >> np.uint64(2))) & np.uint64(0x10C30C30C30C30C3)
    v = (v ^ (v >> np.uint64(4))) & np.uint64(0x100F00F00F00F00F)
    v = (v ^ (v >> np.uint64(8))) & np.uint64(0x1F0000FF0000FF)
    v = (v ^ (v >> np.uint64(16))) & np.uint64(0x1F00000000FFFF)
    v = (v ^ (v >> np.uint64(32))) & np.uint64(0x1FFFFF)
    return v


def _morton(q: NDArray[np.int32]) -> NDArray[np.uint64]:
    """Z-order code with x as the most significant bit of each triple."""
    u = q.astype(np.uint64)
    return (
        (_spread3(u[:, 0]) << np.uint64(2))
        | (_spread3(u[:, 1]) << np.uint64(1))
        | _spread3(u[:, 2])
    )


def _run_starts(values: NDArray) -> NDArray[np.int64]:
    """Indices where a new run of equal values starts in a sorted array."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.flatnonzero(change)


def _assign_levels(
    q: NDArray[np.int32],
    morton: NDArray[np.uint64],
    bits: int,
    gbits: int,
    max_depth: int,
    max_leaf_points: int,
) -> NDArray[np.int8]:
    """Depth of the node that stores each (Z-sorted) point."""
    level = np.full(len(morton), -1, dtype=np.int8)
    remaining = np.arange(len(morton), dtype=np.int64)
    for depth in range(max_depth + 1):
        if remaining.size == 0:
            break
        node = morton[remaining] >> np.uint64(3 * (bits - depth))
        starts = _run_starts(node)
        counts = np.diff(np.append(starts, remaining.size))
        leaf = counts <= max_leaf_points if depth < max_depth else np.ones(len(counts), bool)
        in_leaf = np.repeat(leaf, counts)
        level[remaining[in_leaf]] = depth
        candidates = remaining[~in_leaf]
        if candidates.size == 0:
            break
        chosen = _nearest_to_cell_centres(q[candidates], morton[candidates], bits - depth - gbits)
        level[candidates[chosen]] = depth
        keep = np.ones(candidates.size, dtype=bool)
        keep[chosen] = False
        remaining = candidates[keep]
    return level


def _nearest_to_cell_centres(
    q: NDArray[np.int32], morton: NDArray[np.uint64], cell_bits: int
) -> NDArray[np.int64]:
    """Index (into the given Z-sorted points) of the point nearest each occupied cell's centre.

    A cell holds ``2**cell_bits`` finest-level units per axis. Distances are computed in
    doubled integer units (``2 * offset - (2**cell_bits - 1)``) so the centre is exact. Ties go
    to the first point in Z-order, which keeps the choice deterministic.
    """
    cells = morton >> np.uint64(3 * cell_bits)
    starts = _run_starts(cells)
    sizes = np.diff(np.append(starts, len(cells)))
    mask = (1 << cell_bits) - 1
    d = 2 * (q & mask).astype(np.int64) - mask  # squares need 44 bits: compute in int64
    dist = np.einsum("ij,ij->i", d, d)
    nearest = np.minimum.reduceat(dist, starts)
    run = np.repeat(np.arange(len(starts)), sizes)
    hits = np.flatnonzero(dist == nearest[run])
    first = np.ones(hits.size, dtype=bool)
    first[1:] = run[hits[1:]] != run[hits[:-1]]
    return hits[first]


def _promote_boundary_points(
    xyz: NDArray[np.float64],
    q: NDArray[np.int32],
    level: NDArray[np.int8],
    cube: Cube,
    bits: int,
) -> None:
    """Move points that copclib would see outside their node up to an ancestor that holds them.

    Our cells come from ``floor((x - min) / span * 2**bits)``; copclib recomputes each node's
    box as ``span / 2**d * k + min``. For a point lying exactly on a node boundary the two
    roundings can disagree by one ulp. Such points (usually none) go to the deepest ancestor
    whose box, computed copclib's way, contains them; the root always does.
    """
    shift = (bits - level.astype(np.int64))[:, None]
    low = q & ((1 << shift) - 1)
    # Only a point in the first or last finest cell of its node can sit on the node's edge.
    edge = np.flatnonzero(np.any((low == 0) | (low == (1 << shift) - 1), axis=1))
    depth = level[edge].astype(np.int64)
    inside = _inside(xyz[edge], q[edge] >> shift[edge], depth, cube)
    bad = edge[~inside]
    for i in bad:
        for d in range(int(level[i]) - 1, -1, -1):
            key = q[i : i + 1] >> (bits - d)
            if _inside(xyz[i : i + 1], key, np.array([d]), cube)[0] or d == 0:
                level[i] = d
                break


def _inside(
    xyz: NDArray[np.float64], keys: NDArray[np.int64], depth: NDArray[np.int64], cube: Cube
) -> NDArray[np.bool_]:
    """Containment exactly as copclib's ``Box(key, header).Contains(point)`` computes it."""
    step = (cube.span / np.power(2.0, depth))[:, None]
    lo = step * keys + cube.mins
    hi = lo + step
    return np.all((lo <= xyz) & (xyz <= hi), axis=1)


def _group_nodes(
    order: NDArray[np.int64],
    morton: NDArray[np.uint64],
    level: NDArray[np.int8],
    bits: int,
    n: int,
) -> Octree:
    """Turn per-point depths into nodes: breadth first, Z-order inside each depth."""
    orders, keys, counts = [], [], []
    for depth in range(int(level.max()) + 1 if n else 0):
        members = np.flatnonzero(level == depth)
        if members.size == 0:
            continue
        prefix = morton[members] >> np.uint64(3 * (bits - depth))
        starts = _run_starts(prefix)
        heads = prefix[starts]
        k = np.empty((len(starts), 4), dtype=np.int32)
        k[:, 0] = depth
        k[:, 1] = _compact3(heads >> np.uint64(2))
        k[:, 2] = _compact3(heads >> np.uint64(1))
        k[:, 3] = _compact3(heads)
        sizes = np.diff(np.append(starts, members.size))
        # Inside a node, points keep their input (acquisition) order: LAZ codes each point
        # against the previous one, and scan order compresses far better than Z-order.
        node_of = np.repeat(np.arange(len(starts)), sizes)
        original = order[members]
        orders.append(original[np.lexsort((original, node_of))])
        keys.append(k)
        counts.append(sizes)
    if not orders:
        return Octree(
            order=np.zeros(0, np.int64),
            keys=np.zeros((0, 4), np.int32),
            counts=np.zeros(0, np.int64),
        )
    return Octree(
        order=np.concatenate(orders),
        keys=np.concatenate(keys),
        counts=np.concatenate(counts).astype(np.int64),
    )
