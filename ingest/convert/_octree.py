"""Level-of-detail octree for COPC: one point per grid cell per node, the rest to the children.

This is the Entwine/PDAL scheme. Every node is a cube; its points are chosen on a fixed
``grid``³ lattice over that cube, at most one per occupied cell (the one nearest the cell
centre), so each level is a spatially even thinning of the data at twice the previous
resolution. Points that lose their cell move down to the child cube that holds them; a node
whose remaining points fit in ``max_leaf_points`` keeps them all and stops.

Everything is vectorised with numpy. Points are sorted once by their Morton (Z-order) code at
the finest resolution; in that order every node and every grid cell, at every depth, is one
contiguous run. Each level then costs a few linear passes over flat (column) arrays: the cell
runs (the node runs are found among them), and one ``minimum.reduceat`` over keys that pack
each point's squared distance to its cell centre above its index, which yields the nearest
point of every cell at once. Points already placed are masked rather than removed, and the
arrays are compacted only when many are. Grouping points into nodes is one radix sort of
small node numbers, never a per-node loop.

The work is spread over a few threads (numpy releases the GIL inside its loops): the keys are
computed a block at a time, the sort is one sort per part and a merge, and the levels are
chosen per contiguous segment of the sorted points. A segment boundary never cuts a cell of the
root grid (nor, so, any finer cell); the only thing segments share is a node cut by a boundary,
whose point count they add up before deciding whether it is a leaf. The result does not depend
on the number of threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ingest.convert._parallel import Workers, blocks, ranges

#: Bits per axis at the finest resolution: three axes must fit a 63-bit Morton code.
_MAX_BITS = 21
#: Points per task of the element-wise passes: a block stays in cache while it is worked on.
_BLOCK = 1 << 16
#: Fewer points than this are not worth a thread hand-off.
_MIN_PARALLEL = 1 << 15
#: Marks a placed point in the selection keys; larger than any real key.
_FAR = np.iinfo(np.int64).max


class Points(Protocol):
    """Scaled coordinates of ``len(points)`` points, produced on demand.

    The converter holds integer LAS records: materialising every float coordinate would cost
    24 bytes a point, so the octree asks for the blocks it is working on (and, at the end, for
    the few points lying on node edges) instead.
    """

    def __len__(self) -> int: ...

    def coordinates(self, axis: int, sel: slice | NDArray[np.int64]) -> NDArray[np.float64]:
        """The selected points' coordinates along ``axis``, as a new array (the caller's)."""
        ...


@dataclass(frozen=True, slots=True)
class XyzPoints:
    """Points already held as an ``(n, 3)`` float array."""

    array: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.array)

    def coordinates(self, axis: int, sel: slice | NDArray[np.int64]) -> NDArray[np.float64]:
        return np.array(self.array[sel, axis], dtype=np.float64)


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
            then node 1, ... (nodes breadth first, points in input order within a node).
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
    points: NDArray[np.float64] | Points,
    cube: Cube,
    *,
    grid: int = 128,
    max_leaf_points: int = 65_536,
    resolution: float | None = None,
    workers: Workers | None = None,
) -> Octree:
    """Assign every point to a node of the LOD octree.

    Args:
        points: ``(n, 3)`` scaled coordinates, or a :class:`Points` source of them.
        cube: The root cube from :func:`cube_for`.
        grid: Cells per node edge (a power of two); the root spacing is ``span / grid``.
        max_leaf_points: A node with at most this many remaining points keeps them all.
        resolution: Smallest meaningful distance (the coarsest coordinate scale); no node is
            split below the depth where a cell is that small, so duplicates cannot recurse.
        workers: Threads to use (default: one per available core).

    Returns:
        The :class:`Octree`.
    """
    if grid < 2 or grid & (grid - 1):
        raise ValueError(f"grid must be a power of two >= 2, got {grid}")
    src = XyzPoints(np.asarray(points, np.float64)) if isinstance(points, np.ndarray) else points
    if len(src) == 0:
        return Octree(
            order=np.zeros(0, np.int64),
            keys=np.zeros((0, 4), np.int32),
            counts=np.zeros(0, np.int64),
        )
    if workers is None:
        with Workers() as own:
            return _build(src, cube, grid, max_leaf_points, resolution, own)
    return _build(src, cube, grid, max_leaf_points, resolution, workers)


def _build(
    src: Points,
    cube: Cube,
    grid: int,
    max_leaf_points: int,
    resolution: float | None,
    workers: Workers,
) -> Octree:
    gbits = grid.bit_length() - 1
    max_depth = _max_depth(cube.span, grid, gbits, resolution)
    bits = max_depth + gbits
    q, morton = _keys(src, cube, bits, workers)
    order, morton = _sort(morton, workers)  # the unsorted codes are freed here
    q = _take_columns(q, order, workers)
    level = _assign_levels(q, morton, bits, gbits, max_depth, max_leaf_points, workers)
    _promote_boundary_points(src, order, q, level, cube, bits)
    del q
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


def _keys(
    src: Points, cube: Cube, bits: int, workers: Workers
) -> tuple[NDArray[np.int32], NDArray[np.uint64]]:
    """Finest-level cell coordinates ``(3, n)`` and Morton codes, a block per task."""
    n = len(src)
    q = np.empty((3, n), dtype=np.int32)
    morton = np.empty(n, dtype=np.uint64)

    def block(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        for axis in range(3):
            x = src.coordinates(axis, slice(lo, hi))
            _quantise(x, cube, axis, bits, out=q[axis, lo:hi])
        _morton(q[:, lo:hi], out=morton[lo:hi])

    workers.map(block, blocks(n, _BLOCK))
    return q, morton


def _quantise(
    u: NDArray[np.float64], cube: Cube, axis: int, bits: int, *, out: NDArray[np.int32]
) -> None:
    """Integer cell coordinates along one axis at the finest level, ``0 .. 2**bits - 1``.

    ``u`` holds the coordinates and is used as scratch.
    """
    cells = 1 << bits
    if cube.span <= 0:
        out[...] = 0
        return
    # Scaling by a power of two is exact, so floor(u * 2**b) >> k == floor(u * 2**(b-k)): the
    # cell at any coarser level is a bit-shift of this one, consistently across levels.
    u -= cube.mins[axis]
    u /= cube.span
    u *= cells
    np.floor(u, out=u)
    np.clip(u, 0, cells - 1, out=u)
    out[...] = u  # at most 21 bits per axis: int32 halves the index memory


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


#: Bits of an axis spread per table look-up (two look-ups cover the 21 bits).
_SPREAD_BITS = 11


def _spread_tables() -> NDArray[np.uint64]:
    """``[axis, half, v]``: the Morton bits of ``v`` as the low or high half of that axis."""
    v = _spread3(np.arange(1 << _SPREAD_BITS, dtype=np.uint64))
    return np.array(
        [
            [v << np.uint64(2 - axis), v << np.uint64(3 * _SPREAD_BITS + 2 - axis)]
            for axis in range(3)
        ]
    )


_SPREAD = _spread_tables()


def _morton(q: NDArray[np.int32], *, out: NDArray[np.uint64]) -> None:
    """Z-order code with x as the most significant bit of each triple.

    Table look-ups of 11 bits at a time (16 KiB tables, in L1) take a third of the passes of
    the shift-and-mask spreading of :func:`_spread3` over 64-bit values.
    """
    part = np.empty(len(out), dtype=np.uint64)
    out[...] = 0
    for axis in range(3):
        low, high = _SPREAD[axis]
        np.take(low, q[axis] & ((1 << _SPREAD_BITS) - 1), out=part, mode="clip")
        out |= part
        np.take(high, q[axis] >> _SPREAD_BITS, out=part, mode="clip")
        out |= part


def _sort(
    morton: NDArray[np.uint64], workers: Workers
) -> tuple[NDArray[np.int64], NDArray[np.uint64]]:
    """Stable argsort of the Morton codes, and the sorted codes.

    Each worker sorts one part in place; one more stable sort merges them (timsort finds the
    sorted runs and merges them in a linear pass). Equal codes keep their input order either
    way. ``morton`` is left sorted per part.
    """
    parts = ranges(len(morton), workers.count if len(morton) >= _MIN_PARALLEL else 1)
    if len(parts) == 1:
        order = np.argsort(morton, kind="stable")
        return order, np.take(morton, order)
    order = np.empty(len(morton), dtype=np.int64)

    def sort(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        part = np.argsort(morton[lo:hi], kind="stable")
        morton[lo:hi] = np.take(morton[lo:hi], part)
        np.add(part, lo, out=order[lo:hi])

    workers.map(sort, parts)
    merge = np.argsort(morton, kind="stable")
    merged = np.empty_like(order), np.empty_like(morton)
    workers.map(_take_into, [(order, merge, merged[0]), (morton, merge, merged[1])])
    return merged


def _take_columns(
    q: NDArray[np.int32], order: NDArray[np.int64], workers: Workers
) -> NDArray[np.int32]:
    """``q[:, order]``, a row per task."""
    out = np.empty_like(q)
    workers.map(_take_into, [(q[axis], order, out[axis]) for axis in range(3)])
    return out


def _take_into(task: tuple[NDArray, NDArray[np.int64], NDArray]) -> None:
    """``np.take`` into an array the calling thread allocated.

    Workers only fill arrays: memory a worker allocates belongs to its own malloc arena, and
    what the main thread then frees there it cannot reuse, so it comes back as page faults.
    """
    values, indices, out = task
    np.take(values, indices, out=out, mode="clip")  # clip: unbuffered


def _run_starts(values: NDArray) -> NDArray[np.int64]:
    """Indices where a new run of equal values starts in a sorted array."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.flatnonzero(change)


@dataclass(slots=True)
class _Segment:
    """A contiguous run of the Z-sorted points whose levels one worker chooses.

    Placed points stay in the arrays, masked by ``dead`` (not counted in their node, never
    nearest to a cell centre), until they are a third of them; then the arrays are compacted
    and ``idx`` maps array positions to sorted positions (until then it is ``base + i``).
    """

    base: int
    morton: NDArray[np.uint64]
    q: NDArray[np.int32]
    dead: NDArray[np.bool_]
    n_dead: int = 0
    idx: NDArray[np.int64] | None = None
    #: The current depth's cells, and nodes: where each starts, its size, live points, prefix.
    cell_starts: NDArray[np.int64] | None = None
    starts: NDArray[np.int64] | None = None
    sizes: NDArray[np.int64] | None = None
    counts: NDArray[np.int64] | None = None
    heads: NDArray[np.uint64] | None = None

    @property
    def done(self) -> bool:
        return len(self.morton) == self.n_dead

    def positions(self, local: NDArray[np.int64]) -> NDArray[np.int64]:
        """Sorted positions of these array positions."""
        return self.idx[local] if self.idx is not None else local + self.base

    def set_level(self, level: NDArray[np.int8], mask: NDArray[np.bool_], depth: int) -> None:
        """``depth`` for the points flagged in ``mask``."""
        if self.idx is None:  # still the sorted positions base .. base + n: a slice of level
            np.putmask(level[self.base : self.base + len(mask)], mask, depth)
        else:
            level[np.compress(mask, self.idx)] = depth

    def compact(self) -> None:
        """Drop the placed points (np.compress: several times faster than a boolean index)."""
        keep = ~self.dead
        if self.idx is None:
            self.idx = np.flatnonzero(keep) + self.base
        else:
            self.idx = np.compress(keep, self.idx)
        self.morton = np.compress(keep, self.morton)
        self.q = np.compress(keep, self.q, axis=1)
        self.dead = np.zeros(len(self.morton), dtype=bool)
        self.n_dead = 0


def _segments(
    q: NDArray[np.int32], morton: NDArray[np.uint64], bits: int, gbits: int, parts: int
) -> list[_Segment]:
    """Split the sorted points into about ``parts`` equal segments at root-grid cell edges.

    A root cell holds every finer cell, so no cell of any level is cut; nodes may be.
    """
    n = len(morton)
    shift = np.uint64(3 * (bits - gbits))
    cuts = [0]
    for target in np.linspace(0, n, max(parts, 1) + 1)[1:-1].astype(np.int64):
        cell = morton[target] >> shift
        lo = int(np.searchsorted(morton, cell << shift, side="left"))
        hi = int(np.searchsorted(morton, (cell + np.uint64(1)) << shift, side="left"))
        cut = lo if target - lo <= hi - target else hi
        if cuts[-1] < cut < n:
            cuts.append(cut)
    cuts.append(n)
    return [
        _Segment(
            base=a,
            morton=morton[a:b],
            q=q[:, a:b],
            dead=np.zeros(b - a, dtype=bool),
        )
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def _assign_levels(
    q: NDArray[np.int32],
    morton: NDArray[np.uint64],
    bits: int,
    gbits: int,
    max_depth: int,
    max_leaf_points: int,
    workers: Workers,
) -> NDArray[np.int8]:
    """Depth of the node that stores each (Z-sorted) point.

    Each depth is two parallel steps over the segments: count the live points of each node,
    then (once the counts of nodes cut by a segment boundary are added up) keep the nodes that
    fit as leaves and choose one point per cell of the others.
    """
    level = np.full(len(morton), -1, dtype=np.int8)
    parts = workers.count if len(morton) >= _MIN_PARALLEL else 1
    segments = _segments(q, morton, bits, gbits, parts)
    for depth in range(max_depth + 1):
        live = [s for s in segments if not s.done]
        if not live:
            break
        if depth == max_depth:
            for s in live:
                s.set_level(level, ~s.dead, depth)
            break
        count = partial(_count_nodes, node_bits=bits - depth, cell_bits=bits - depth - gbits)
        workers.map(count, live)
        leaves = _leaf_nodes(live, max_leaf_points)
        place = partial(_place, level=level, depth=depth, cell_bits=bits - depth - gbits)
        workers.map(place, list(zip(live, leaves, strict=True)))
    return level


def _count_nodes(s: _Segment, *, node_bits: int, cell_bits: int) -> None:
    """The segment's nodes at this depth, and the cells of their grids.

    Nodes and cells are runs of equal Morton prefixes (``node_bits`` and ``cell_bits`` finest
    bits per axis). Every node boundary is a cell boundary, so the nodes are found among the
    cell starts, a far shorter array than the points.
    """
    if 3 * s.n_dead > len(s.morton):
        s.compact()
    cells = s.morton >> np.uint64(3 * cell_bits)
    s.cell_starts = _run_starts(cells)
    cell_heads = cells[s.cell_starts] >> np.uint64(3 * (node_bits - cell_bits))
    first_cells = _run_starts(cell_heads)
    s.starts = s.cell_starts[first_cells]
    s.heads = cell_heads[first_cells]
    s.sizes = np.diff(np.append(s.starts, len(s.morton)))
    s.counts = s.sizes - np.add.reduceat(s.dead, s.starts, dtype=np.int64) if s.n_dead else s.sizes


def _leaf_nodes(segments: Sequence[_Segment], max_leaf_points: int) -> list[NDArray[np.bool_]]:
    """Per segment, which of its nodes are leaves, counting each node over all segments."""
    counts = np.concatenate([s.counts for s in segments if s.counts is not None])
    heads = np.concatenate([s.heads for s in segments if s.heads is not None])
    starts = _run_starts(heads)  # a node cut by segment boundaries is one run of equal heads
    totals = np.add.reduceat(counts, starts)
    leaf = np.repeat(totals <= max_leaf_points, np.diff(np.append(starts, len(heads))))
    bounds = np.cumsum([len(s.heads) for s in segments if s.heads is not None])
    return np.split(leaf, bounds[:-1])


def _place(
    task: tuple[_Segment, NDArray[np.bool_]], *, level: NDArray[np.int8], depth: int, cell_bits: int
) -> None:
    """Give leaf nodes all their points, and the other nodes one point per occupied cell."""
    s, leaf = task
    assert s.counts is not None and s.sizes is not None
    if leaf.any():
        in_leaf = np.repeat(leaf, s.sizes)
        if s.n_dead:
            in_leaf &= ~s.dead
        s.set_level(level, in_leaf, depth)
        s.dead |= in_leaf
        s.n_dead += int(s.counts[leaf].sum())
        if s.done:
            return
    chosen = _nearest_to_cell_centres(s, cell_bits)
    level[s.positions(chosen)] = depth
    s.dead[chosen] = True
    s.n_dead += len(chosen)


def _nearest_to_cell_centres(s: _Segment, cell_bits: int) -> NDArray[np.int64]:
    """Index (into the segment's Z-sorted points) of the live point nearest each cell's centre.

    A cell holds ``2**cell_bits`` finest-level units per axis. Distances are computed in
    doubled integer units (``2 * offset - (2**cell_bits - 1)``) so the centre is exact. Each
    point's key is its squared distance with its index in the low bits, so one ``reduceat``
    minimum per cell gives the nearest point, ties going to the first in Z-order (which keeps
    the choice deterministic). Placed (``dead``) points are not candidates; a cell holding
    only such points chooses none.
    """
    assert s.cell_starts is not None
    starts = s.cell_starts
    n = len(s.morton)
    pos_bits = max((n - 1).bit_length(), 1)
    key = np.empty(n, dtype=np.int64)
    _selection_keys(s.q, cell_bits, pos_bits, key)
    if s.n_dead:
        np.putmask(key, s.dead, _FAR)
    best = np.minimum.reduceat(key, starts)
    if s.n_dead:
        best = best[best != _FAR]
    best &= (1 << pos_bits) - 1
    return best


def _selection_keys(
    q: NDArray[np.int32], cell_bits: int, pos_bits: int, key: NDArray[np.int64]
) -> None:
    """``key = squared distance to the cell centre << pos_bits | index``."""
    mask = (1 << cell_bits) - 1
    # |d| <= mask, so the sum of three squares fits int32 up to 14 bits per cell
    dtype = np.int64 if cell_bits > 14 else np.int32
    for axis, c in enumerate(q):
        d = np.bitwise_and(c, mask, dtype=dtype)
        d <<= 1
        d -= mask
        d *= d
        if axis:
            key += d
        else:
            key[...] = d
    # 3 * (2**(cell_bits + 1))**2 < 2**(2 * cell_bits + 4); beyond 63 bits (over 2**31 points
    # at the finest cells only) the lowest distance bits are dropped: ties, to Z-order.
    excess = max(2 * cell_bits + 4 + pos_bits - 63, 0)
    if excess:
        key >>= excess
    key <<= pos_bits
    key |= np.arange(len(key), dtype=np.int64)


def _promote_boundary_points(
    src: Points,
    order: NDArray[np.int64],
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
    ``src`` is in input order, ``q`` and ``level`` in Z-order (``src[order]``).
    """
    edge = _edge_candidates(q, level, bits)
    if edge.size == 0:
        return
    qe = q[:, edge].T.astype(np.int64)
    pe = np.column_stack([src.coordinates(axis, order[edge]) for axis in range(3)])
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


def _edge_candidates(q: NDArray[np.int32], level: NDArray[np.int8], bits: int) -> NDArray[np.int64]:
    """Points in the first or last finest cell of their node along some axis.

    Only they can sit on the node's edge. A cheap pass with the deepest node's (scalar) mask
    keeps every such point and few others; the per-point mask then decides on those few.
    """
    mask = (1 << (bits - int(level.max()))) - 1
    maybe = np.zeros(q.shape[1], dtype=bool)
    for c in q:  # c & mask is 0 or mask exactly when (c + 1) & mask is 1 or 0
        low = c + 1
        low &= mask
        maybe |= low <= 1
    found = np.flatnonzero(maybe)
    node_mask = (np.int32(1) << (bits - level[found].astype(np.int32))) - 1
    low = q[:, found] & node_mask
    on_edge = np.any((low == 0) | (low == node_mask), axis=0)
    return found[on_edge]


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

    A stable sort of the (Z-sorted) points by depth lists the nodes breadth first, each node
    one run of equal Morton prefixes; a node number per point, scattered back to input order,
    is then radix sorted (stable) so that inside a node points keep their input (acquisition)
    order: LAZ codes each point against the previous one, and scan order compresses far
    better than Z-order.
    """
    by_depth = np.argsort(level, kind="stable")  # int8: a radix sort
    ends = np.searchsorted(np.take(level, by_depth), np.arange(int(level.max()) + 1), "right")
    depths, heads, counts = [], [], []
    start = 0
    for depth, stop in enumerate(ends.tolist()):
        if stop > start:
            prefix = np.take(morton, by_depth[start:stop]) >> np.uint64(3 * (bits - depth))
            starts = _run_starts(prefix)
            depths.append(np.full(len(starts), depth, dtype=np.int32))
            heads.append(prefix[starts])
            counts.append(np.diff(np.append(starts, stop - start)))
        start = stop
    head = np.concatenate(heads)
    k = np.empty((len(head), 4), dtype=np.int32)
    k[:, 0] = np.concatenate(depths)
    k[:, 1] = _compact3(head >> np.uint64(2))
    k[:, 2] = _compact3(head >> np.uint64(1))
    k[:, 3] = _compact3(head)
    count = np.concatenate(counts).astype(np.int64)
    node_type = np.uint16 if len(head) <= 1 << 16 else np.uint32  # uint16 sorts by radix
    node_of = np.empty(len(order), dtype=node_type)
    node_of[np.take(order, by_depth)] = np.repeat(np.arange(len(head), dtype=node_type), count)
    return Octree(order=np.argsort(node_of, kind="stable"), keys=k, counts=count)
