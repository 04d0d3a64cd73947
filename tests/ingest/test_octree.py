"""The LOD octree on adversarial coordinates: points exactly on (and one ulp off) node edges."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.convert._octree import build_octree, cube_for


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
