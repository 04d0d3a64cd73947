"""Level-of-detail octree for COPC: one point per grid cell per node, the rest to the children.

This is the Entwine/PDAL scheme. Every node is a cube; its points are chosen on a fixed
``grid``³ lattice over that cube, at most one per occupied cell (the one nearest the cell
centre), so each level is a spatially even thinning of the data at twice the previous
resolution. Points that lose their cell move down to the child cube that holds them; a node
whose remaining points fit in ``max_leaf_points`` keeps them all and stops.

Everything is vectorised with numpy. Points are sorted once by their Morton (Z-order) code at
the finest resolution; in that order every node and every grid cell, at every depth, is one
contiguous run. Each level then costs a few linear passes over flat (column) arrays: run
starts, a ``reduceat`` for the nearest point; points already placed are masked rather than
removed, and the arrays are compacted only when many are. Grouping points into nodes is one
radix sort of small node numbers, never a per-node loop.
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
    if n == 0:
        return Octree(
            order=np.zeros(0, np.int64),
            keys=np.zeros((0, 4), np.int32),
            counts=np.zeros(0, np.int64),
        )
    gbits = grid.bit_length() - 1
    max_depth = _max_depth(cube.span, grid, gbits, resolution)
    bits = max_depth + gbits
    q = [_quantise(xyz[:, axis], cube, axis, bits) for axis in range(3)]
    morton = _morton(q)
    order = np.argsort(morton, kind="stable")
    morton = morton[order]
    q = [np.take(c, order) for c in q]

    level = _assign_levels(q, morton, bits, gbits, max_depth, max_leaf_points)
    _promote_boundary_points(xyz, order, q, level, cube, bits)
    return _group_nodes(order, morton, level, bits)


def _max_depth(span: float, grid: int, gbits: int, resolution: float | None) -> int:
    """Deepest level worth splitting to: cells no smaller than the coordinate resolution."""
    limit = _MAX_BITS - gbits
    if span <= 0:
        return 0
    if not resolution or resolution <= 0:
        return limit
    depth = int(np.ceil(np.log2(max(span / (resolution * grid), 1.0))))
    return int(min(max(depth, 0), limit))


def _quantise(x: NDArray[np.float64], cube: Cube, axis: int, bits: int) -> NDArray[np.int32]:
    """Integer cell coordinates along one axis at the finest level, ``0 .. 2**bits - 1``."""
    cells = 1 << bits
    if cube.span <= 0:
        return np.zeros(len(x), dtype=np.int32)
    # Scaling by a power of two is exact, so floor(u * 2**b) >> k == floor(u * 2**(b-k)): the
    # cell at any coarser level is a bit-shift of this one, consistently across levels.
    u = x - cube.mins[axis]
    u /= cube.span
    u *= cells
    np.floor(u, out=u)
    np.clip(u, 0, cells - 1, out=u)
    return u.astype(np.int32)  # at most 21 bits per axis: int32 halves the index memory


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


def _morton(q: list[NDArray[np.int32]]) -> NDArray[np.uint64]:
    """Z-order code with x as the most significant bit of each triple."""
    out = _spread3(q[0].astype(np.uint64)) << np.uint64(2)
    out |= _spread3(q[1].astype(np.uint64)) << np.uint64(1)
    out |= _spread3(q[2].astype(np.uint64))
    return out


def _run_starts(values: NDArray) -> NDArray[np.int64]:
    """Indices where a new run of equal values starts in a sorted array."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.flatnonzero(change)


def _assign_levels(
    q: list[NDArray[np.int32]],
    morton: NDArray[np.uint64],
    bits: int,
    gbits: int,
    max_depth: int,
    max_leaf_points: int,
) -> NDArray[np.int8]:
    """Depth of the node that stores each (Z-sorted) point.

    Works on the still unplaced points. Placed points stay in the arrays, masked by ``dead``
    (not counted in their node, never nearest to a cell centre), until they are a third of
    them; then the arrays are compacted. ``idx`` maps array positions back to points.
    """
    level = np.full(len(morton), -1, dtype=np.int8)
    idx = np.arange(len(morton), dtype=np.int64)
    qx, qy, qz = q
    dead = np.zeros(len(morton), dtype=bool)
    n_dead = 0
    for depth in range(max_depth + 1):
        if 3 * n_dead > len(idx):
            keep = ~dead
            idx, morton, qx, qy, qz = (a[keep] for a in (idx, morton, qx, qy, qz))
            dead = np.zeros(len(idx), dtype=bool)
            n_dead = 0
        if len(idx) == n_dead:
            break
        if depth == max_depth:
            level[idx[~dead]] = depth
            break
        starts = _run_starts(morton >> np.uint64(3 * (bits - depth)))
        sizes = np.diff(np.append(starts, len(idx)))
        counts = sizes - np.add.reduceat(dead, starts, dtype=np.int64) if n_dead else sizes
        leaf = counts <= max_leaf_points
        if leaf.any():
            in_leaf = np.repeat(leaf, sizes)
            in_leaf &= ~dead
            level[idx[in_leaf]] = depth
            dead |= in_leaf
            n_dead += int(counts[leaf].sum())
            if len(idx) == n_dead:
                break
        chosen = _nearest_to_cell_centres(
            (qx, qy, qz), morton, bits - depth - gbits, dead if n_dead else None
        )
        level[idx[chosen]] = depth
        dead[chosen] = True
        n_dead += len(chosen)
    return level


def _nearest_to_cell_centres(
    q: tuple[NDArray[np.int32], ...],
    morton: NDArray[np.uint64],
    cell_bits: int,
    dead: NDArray[np.bool_] | None,
) -> NDArray[np.int64]:
    """Index (into the given Z-sorted points) of the point nearest each occupied cell's centre.

    A cell holds ``2**cell_bits`` finest-level units per axis. Distances are computed in
    doubled integer units (``2 * offset - (2**cell_bits - 1)``) so the centre is exact. Ties go
    to the first point in Z-order, which keeps the choice deterministic. Points flagged in
    ``dead`` are not candidates; a cell holding only such points chooses none.
    """
    starts = _run_starts(morton >> np.uint64(3 * cell_bits))
    mask = (1 << cell_bits) - 1
    # |d| < 2**cell_bits, so the sum of three squares fits int32 up to 14 bits per cell
    wide = cell_bits > 14
    dtype = np.int64 if wide else np.int32
    dist = None
    for c in q:
        d = (c & mask).astype(dtype, copy=False) if wide else c & mask
        d *= 2
        d -= mask
        d *= d
        if dist is None:
            dist = d
        else:
            dist += d
    assert dist is not None
    far = np.iinfo(dtype).max  # larger than any real distance
    if dead is not None:
        dist[dead] = far
    nearest = np.minimum.reduceat(dist, starts)
    sizes = np.diff(np.append(starts, len(dist)))
    hits = np.flatnonzero(dist == np.repeat(nearest, sizes))
    # every cell has a hit; the first one at or after the cell's start is its first minimum
    first = hits[np.searchsorted(hits, starts)]
    if dead is not None:
        first = first[nearest != far]
    return first


def _promote_boundary_points(
    xyz: NDArray[np.float64],
    order: NDArray[np.int64],
    q: list[NDArray[np.int32]],
    level: NDArray[np.int8],
    cube: Cube,
    bits: int,
) -> None:
    """Move points that copclib would see outside their node up to an ancestor that holds them.

    Our cells come from ``floor((x - min) / span * 2**bits)``; copclib recomputes each node's
    box as ``span / 2**d * k + min``. For a point lying exactly on a node boundary the two
    roundings can disagree by one ulp. Such points (usually none) go to the deepest ancestor
    whose box, computed copclib's way, contains them; the root always does.
    ``xyz`` is in input order, ``q`` and ``level`` in Z-order (``xyz[order]``).
    """
    low_mask = (np.int32(1) << (bits - level.astype(np.int32))) - 1
    # Only a point in the first or last finest cell of its node can sit on the node's edge.
    on_edge = np.zeros(len(level), dtype=bool)
    for c in q:
        low = c & low_mask
        on_edge |= low == 0
        on_edge |= low == low_mask
    edge = np.flatnonzero(on_edge)
    if edge.size == 0:
        return
    qe = np.column_stack([c[edge] for c in q]).astype(np.int64)
    pe = xyz[order[edge]]
    shift = (bits - level[edge].astype(np.int64))[:, None]
    depth = level[edge].astype(np.int64)
    inside = _inside(pe, qe >> shift, depth, cube)
    for j in np.flatnonzero(~inside):
        i = edge[j]
        for d in range(int(level[i]) - 1, -1, -1):
            key = qe[j : j + 1] >> (bits - d)
            if _inside(pe[j : j + 1], key, np.array([d]), cube)[0] or d == 0:
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
) -> Octree:
    """Turn per-point depths into nodes: breadth first, Z-order inside each depth.

    A stable sort of the (Z-sorted) points by depth lists the nodes breadth first; a node
    number per point, scattered back to input order, is then radix sorted (stable) so that
    inside a node points keep their input (acquisition) order: LAZ codes each point against
    the previous one, and scan order compresses far better than Z-order.
    """
    by_depth = np.argsort(level, kind="stable")
    depth = level[by_depth]
    shift = (3 * (bits - depth.astype(np.int64))).astype(np.uint64)
    prefix = morton[by_depth] >> shift
    change = np.empty(len(prefix), dtype=bool)
    change[0] = True
    np.not_equal(prefix[1:], prefix[:-1], out=change[1:])
    change[1:] |= depth[1:] != depth[:-1]
    starts = np.flatnonzero(change)
    heads = prefix[starts]
    k = np.empty((len(starts), 4), dtype=np.int32)
    k[:, 0] = depth[starts]
    k[:, 1] = _compact3(heads >> np.uint64(2))
    k[:, 2] = _compact3(heads >> np.uint64(1))
    k[:, 3] = _compact3(heads)
    counts = np.diff(np.append(starts, len(prefix)))
    node_type = np.uint16 if len(starts) <= 1 << 16 else np.uint32  # uint16 sorts by radix
    node_of = np.empty(len(order), dtype=node_type)
    node_of[order[by_depth]] = np.cumsum(change, dtype=np.int64) - 1
    return Octree(order=np.argsort(node_of, kind="stable"), keys=k, counts=counts.astype(np.int64))
