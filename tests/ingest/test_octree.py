"""The LOD octree on adversarial coordinates: points exactly on (and one ulp off) node edges."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.convert._octree import _max_depth, build_octree, cube_for
from ingest.convert._parallel import Workers


def _on_node_edges(seed: int, depth: int) -> np.ndarray:
    """Points on the node boundaries of ``depth`` as copclib computes them, and their ulp
    neighbours, in a cube whose minimum straddles zero (where float rounding bites)."""
    rng = np.random.default_rng(seed)
    mins = np.round(rng.uniform(-500, 0, 3), 2)
    span = round(float(rng.uniform(100, 3000)), 2)
    step = span / 2.0**depth
    on = step * rng.integers(0, 2**depth, (3000, 3)) + mins
    xyz = np.concatenate([on, np.nextafter(on, np.inf), np.nextafter(on, -np.inf)])
    return np.clip(xyz, mins, mins + span)


@pytest.mark.parametrize("seed", range(6))
def test_every_point_lies_in_its_node_as_copclib_computes_it(seed: int) -> None:
    xyz = _on_node_edges(seed, depth=3 + seed % 4)
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    tree = build_octree(xyz, cube, grid=16, max_leaf_points=200)

    assert len(tree.order) == len(xyz) and len(np.unique(tree.order)) == len(xyz)
    assert tree.counts.sum() == len(xyz) and np.all(tree.counts > 0)
    node = np.repeat(np.arange(len(tree.keys)), tree.counts)
    d, k = tree.keys[node, 0], tree.keys[node, 1:]
    step = (cube.span / np.power(2.0, d))[:, None]
    lo = step * k + cube.mins  # copclib's Box(key, header), same operation order
    p = xyz[tree.order]
    assert np.all((lo <= p) & (p <= lo + step))
    keys = {tuple(key) for key in tree.keys.tolist()}
    for depth, x, y, z in keys:  # every node is reachable: its parent holds points too
        assert depth == 0 or (depth - 1, x // 2, y // 2, z // 2) in keys


def test_duplicates_stop_at_the_coordinate_resolution() -> None:
    xyz = np.repeat(np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]]), 5000, axis=0)
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    tree = build_octree(xyz, cube, grid=16, max_leaf_points=100, resolution=0.01)
    assert tree.max_depth <= 2  # 0.5 m cube / 16 cells: no point splitting below 1 cm
    assert tree.counts.sum() == len(xyz)


def test_single_point_and_flat_clouds() -> None:
    one = np.array([[10.0, 20.0, 30.0]])
    cube, maxs = cube_for(one.min(axis=0), one.max(axis=0))
    tree = build_octree(one, cube)
    assert cube.span == 0 and tree.keys.tolist() == [[0, 0, 0, 0]]
    flat = np.column_stack([np.arange(1000.0), np.arange(1000.0) % 7, np.zeros(1000)])
    cube, _ = cube_for(flat.min(axis=0), flat.max(axis=0))
    assert build_octree(flat, cube, max_leaf_points=50).counts.sum() == 1000


def test_grid_must_be_a_power_of_two() -> None:
    xyz = np.zeros((3, 3))
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    with pytest.raises(ValueError, match="power of two"):
        build_octree(xyz, cube, grid=100)


@pytest.mark.parametrize(("workers", "grid"), [(2, 16), (3, 128), (5, 16)])
def test_threads_do_not_change_the_tree(workers: int, grid: int) -> None:
    """Segments cut nodes (the root always, deeper ones often): their counts are shared, so
    leaves and chosen points are the same as on one thread, compaction and re-sorting all."""
    rng = np.random.default_rng(workers)
    clusters = rng.uniform(0, 1000, (40, 3))
    xyz = clusters[rng.integers(0, 40, 120_000)] + rng.normal(0, 3, (120_000, 3))
    xyz = np.round(xyz, 2)  # duplicates and ties, as integer LAS coordinates give
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    kwargs = {"grid": grid, "max_leaf_points": 300 if grid == 16 else 30, "resolution": 0.01}
    with Workers(1) as one, Workers(workers) as many:
        a = build_octree(xyz, cube, workers=one, **kwargs)
        b = build_octree(xyz, cube, workers=many, **kwargs)
    assert a.max_depth >= 4
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.counts, b.counts)


def _clustered(n: int, seed: int) -> np.ndarray:
    """Tight clusters far apart: deep trees, whose lower levels need the finer re-sort."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1000, (3, 3))
    return np.round(centres[rng.integers(0, 3, n)] + rng.normal(0, 0.5, (n, 3)), 2)


@pytest.mark.parametrize(
    ("xyz", "grid", "max_leaf", "resolution"),
    [
        (np.round(np.random.default_rng(3).uniform(0, 100, (3000, 3)), 1), 4, 40, 0.1),
        (_clustered(30_000, 4), 128, 20, 0.01),
    ],
    ids=["uniform", "clustered"],
)
def test_each_node_keeps_the_point_nearest_each_cell_centre(
    xyz: np.ndarray, grid: int, max_leaf: int, resolution: float
) -> None:
    """The LOD rule itself, against a plain reference: an inner node holds, for every occupied
    cell of its grid, one point at the smallest distance to the cell centre among the points
    of its cube that no ancestor took."""
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    grid_bits = grid.bit_length() - 1
    bits = _max_depth(cube.span, grid, grid_bits, resolution) + grid_bits  # its finest level
    tree = build_octree(xyz, cube, grid=grid, max_leaf_points=max_leaf, resolution=resolution)
    node = np.repeat(np.arange(len(tree.keys)), tree.counts)
    depth_of = np.empty(len(xyz), dtype=int)
    depth_of[tree.order] = tree.keys[node, 0]
    q = np.clip(np.floor((xyz - cube.mins) / cube.span * 2**bits), 0, 2**bits - 1).astype(int)
    keys = {tuple(k) for k in tree.keys.tolist()}
    inner = [(d, x, y, z) for d, x, y, z in keys
             if any((d + 1, 2 * x + i, 2 * y + j, 2 * z + k) in keys
                    for i in (0, 1) for j in (0, 1) for k in (0, 1))]  # fmt: skip
    assert len(inner) >= 5
    for d, x, y, z in inner:
        free = np.flatnonzero(np.all((q >> (bits - d)) == (x, y, z), axis=1) & (depth_of >= d))
        cell_bits = bits - d - grid_bits
        _, cell = np.unique(q[free] >> cell_bits, axis=0, return_inverse=True)
        half = (1 << cell_bits) - 1
        dist = ((2 * (q[free] & half) - half) ** 2).sum(axis=1)
        nearest = np.full(cell.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(nearest, cell, dist)
        kept = depth_of[free] == d
        assert np.bincount(cell[kept], minlength=len(nearest)).tolist() == [1] * len(nearest)
        np.testing.assert_array_equal(dist[kept], nearest[cell[kept]])


def test_levels_deeper_than_the_first_sort_still_group_into_nodes() -> None:
    """A tight cluster in a wide cube with a 2³ grid: some 20 levels, past the Morton bits the
    first sort orders by, so deep levels and their nodes are sorted again."""
    rng = np.random.default_rng(11)
    xyz = np.concatenate([rng.normal(500, 0.05, (4000, 3)), [[0.0, 0.0, 0.0], [1000.0] * 3]])
    cube, _ = cube_for(xyz.min(axis=0), xyz.max(axis=0))
    tree = build_octree(xyz, cube, grid=2, max_leaf_points=4, resolution=0.0001)
    assert tree.max_depth > 11 and tree.counts.sum() == len(xyz)
    keys = [tuple(k) for k in tree.keys.tolist()]
    assert len(set(keys)) == len(keys)  # each node once: its points form one group
    assert all(d == 0 or (d - 1, x // 2, y // 2, z // 2) in set(keys) for d, x, y, z in keys)
    node = np.repeat(np.arange(len(tree.keys)), tree.counts)
    step = (cube.span / np.power(2.0, tree.keys[node, 0]))[:, None]
    lo = step * tree.keys[node, 1:] + cube.mins
    p = xyz[tree.order]
    assert np.all((lo <= p) & (p <= lo + step))
