"""The binned near-surface distance engine against libigl's AABB and dense distances, on real meshes."""

from __future__ import annotations

import numpy as np
import pytest

from shapeprep.geometry.distance import IglDistance
from shapeprep.geometry.grid import grid_spacing, index_to_point, morton_codes
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.nearsurface import ExactDistance, GridBand, NearSurface, set_threads
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.watertight import WatertightOptions, watertight_mesh
from shapeprep.watertight.engine import watertight_from_distance

from .conftest import shared_mesh

# Long thin CAD triangles, a scan, a scene of many parts, a one-sided plane, an n-gon mesh.
MESHES = ["ADIS16480.STL", "thingi10k_1514499.stl", "igea.ply", "2CylinderEngine.glb", "TwoSidedPlane.glb",
          "inspired_mesh_quads_Smooth.off"]


def normalized(name):
    mesh = normalize_mesh(*load_mesh(shared_mesh(name)))
    return mesh.vertices, mesh.faces


@pytest.mark.parametrize("name", MESHES)
def test_grid_band_equals_dense_distances(name):
    """Every grid point closer than the band, with its exact distance: dense libigl at every grid point agrees."""
    vertices, faces = normalized(name)
    resolution = 61  # not a multiple of the 8-point cells
    band = 2.0 * grid_spacing(resolution)
    indices, udf, stats = GridBand(vertices, faces, resolution, band).grid_band()
    grid = np.stack(np.meshgrid(*[np.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
    dense = IglDistance(vertices, faces).unsigned_distance(index_to_point(grid, resolution))
    expected = grid[dense < band]
    assert {tuple(i) for i in expected} == {tuple(i) for i in indices}
    order = np.lexsort(indices.T[::-1])
    assert np.allclose(udf[order], dense[dense < band], rtol=0, atol=1e-12)
    assert stats["candidate_points"] < resolution**3


@pytest.mark.parametrize("name", MESHES[:4])
def test_closest_points_equal_libigl_near_and_far(name):
    vertices, faces = normalized(name)
    rng = np.random.default_rng(0)
    surface = vertices[faces[rng.integers(len(faces), size=3000)]].mean(axis=1)
    points = np.concatenate([surface + rng.normal(scale=0.01, size=surface.shape), rng.uniform(-1.2, 1.2, (3000, 3))])
    exact = ExactDistance(vertices, faces, reach=0.02)
    closest, distance = exact.closest_points(points)
    reference_closest, reference = IglDistance(vertices, faces).closest_points(points)
    assert np.allclose(distance, reference, rtol=0, atol=1e-12)
    assert 0 < exact.far_queries < len(points)  # both paths were used
    # Closest points can differ only where two triangles are equally close.
    assert np.allclose(np.linalg.norm(closest - points, axis=1), reference, rtol=0, atol=1e-12)
    near_only, gap = exact.closest_points(points, within=0.02)
    assert np.array_equal(np.isfinite(gap), reference <= 0.02)


def test_degenerate_and_duplicate_triangles():
    """Slivers with collinear corners, repeated corners and duplicated faces: still the exact distance."""
    rng = np.random.default_rng(3)
    vertices = rng.uniform(-0.5, 0.5, (60, 3))
    vertices[10:20] = vertices[0] + np.linspace(0, 1, 10)[:, None] * (vertices[1] - vertices[0])  # collinear
    faces = np.concatenate([rng.integers(0, 60, (80, 3)), np.array([[10, 11, 12], [13, 15, 19], [5, 5, 6]])])
    faces = np.concatenate([faces, faces[:10]])
    points = rng.uniform(-0.6, 0.6, (5000, 3))
    _, distance = ExactDistance(vertices, faces, reach=0.1).closest_points(points)
    squared, _, _ = IglDistance(vertices, faces).query(points, want_closest=False)
    assert np.allclose(distance, np.sqrt(squared), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["thingi10k_1514499.stl", "2CylinderEngine.glb"])
def test_cell_size_and_morton_order_change_only_the_order(name):
    """32^3 cells and Morton output give the same points, distances and closest faces as 8^3 cells in raster order
    (bit for bit: each cell keeps its triangles' order, so ties resolve alike), and Morton output is sorted."""
    vertices, faces = normalized(name)
    resolution = 133  # not a multiple of either cell side
    band = 2.0 * grid_spacing(resolution)
    indices, udf, _, nearest = GridBand(vertices, faces, resolution, band).grid_band(with_faces=True)
    for block in (8, 32):
        z_indices, z_udf, _, z_nearest = GridBand(vertices, faces, resolution, band, block=block).grid_band(
            with_faces=True, morton=True)
        codes = morton_codes(z_indices)
        assert np.all(codes[1:] > codes[:-1])
        order = np.argsort(morton_codes(indices))
        assert np.array_equal(z_indices, indices[order]) and np.array_equal(z_udf, udf[order])
        assert np.array_equal(z_nearest, nearest[order])
    with pytest.raises(ValueError, match="power-of-two"):
        GridBand(vertices, faces, resolution, band, block=12).grid_band(morton=True)


def test_band_batches_write_one_output_that_grows_in_place(monkeypatch):
    """Three cells per batch instead of thousands: the outputs grow over hundreds of batches (some without a
    band point) and hold the same rows; coordinates and faces come back int32."""
    from shapeprep.geometry import nearsurface

    vertices, faces = normalized("2CylinderEngine.glb")
    band = 2.0 * grid_spacing(133)
    whole = GridBand(vertices, faces, 133, band).grid_band(with_faces=True, morton=True)
    monkeypatch.setattr(nearsurface, "GRID_BATCH_POINTS", 3 * 8**3)
    for with_faces in (True, False):
        batched = GridBand(vertices, faces, 133, band).grid_band(with_faces=with_faces, morton=True)
        assert batched[2]["cells"] > 100 * 3
        assert batched[0].dtype == np.int32 and np.array_equal(batched[0], whole[0])
        assert np.array_equal(batched[1], whole[1])
        if with_faces:
            assert batched[3].dtype == np.int32 and np.array_equal(batched[3], whole[3])


def test_threads_give_identical_results():
    vertices, faces = normalized("igea.ply")
    runs = []
    for threads in (1, 2):
        set_threads(threads)
        runs.append(GridBand(vertices, faces, 96, 2.0 * grid_spacing(96)).grid_band())
    set_threads(None)
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("name", ["ADIS16480.STL", "2CylinderEngine.glb", "bathtub.obj"])
def test_watertight_output_equals_the_aabb_engine(name):
    """Same distances, same mesh: within 0.05 voxel of the libigl-AABB band search (here: identical faces)."""
    vertices, faces = normalized(name)
    resolution = 96
    ours = watertight_mesh(vertices, faces, resolution)
    peer = watertight_from_distance(IglDistance(vertices, faces), WatertightOptions(resolution=resolution))
    assert np.array_equal(ours.faces, peer.faces)
    assert np.abs(ours.vertices - peer.vertices).max() < 0.05 * grid_spacing(resolution)


def test_points_outside_the_cells_are_beyond_reach():
    vertices, faces = normalized("suzanne.obj")
    index = NearSurface.around(vertices, faces, reach=0.05)
    squared, face, closest = index.closest(np.array([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0]]))
    assert squared[0] == np.inf and face[0] == -1 and np.isnan(closest[0]).all()


# ----------------------------------------------------------------------------- the BVH (watertight meshes)


@pytest.mark.parametrize("name", ["stanford-bunny.obj", "2CylinderEngine.glb"])
def test_bvh_distances_equal_libigl_everywhere(name):
    from shapeprep.geometry.bvh import TriangleBVH

    vertices, faces = normalized(name)
    mesh = watertight_mesh(vertices, faces, 64)
    rng = np.random.default_rng(1)
    surface = mesh.vertices[rng.integers(len(mesh.vertices), size=4000)]
    points = np.concatenate([rng.uniform(-1.1, 1.1, (4000, 3)), surface + rng.normal(scale=0.003, size=surface.shape),
                             surface])  # far, near, and on the surface (ties between faces)
    squared, face, closest = TriangleBVH(mesh.vertices, mesh.faces).query(points)
    reference, _, _ = IglDistance(mesh.vertices, mesh.faces).query(points, want_closest=False)
    assert np.allclose(squared, reference, rtol=0, atol=1e-14)
    assert np.allclose(((closest - points) ** 2).sum(axis=1), squared, rtol=0, atol=1e-14)
    corners = mesh.vertices[mesh.faces[face]]  # the reported face holds the reported closest point
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert np.allclose(np.einsum("ij,ij->i", closest - corners[:, 0], normals), 0, atol=1e-12)


def test_bvh_boxes_hold_their_triangles_and_turn_along_tilted_patches_only():
    """Every node's box (oriented or axis-aligned) holds every vertex of its triangles; the small nodes of a
    curved mesh mostly get oriented boxes, those of a subdivided cube (every patch axis-aligned) none; and
    far from a sphere, where oriented boxes do the pruning, distances are still exact."""
    import trimesh

    from shapeprep.geometry.bvh import LEAF, ORIENTED_MAX_LEAVES, TriangleBVH

    def check(vertices, faces):
        tree = TriangleBVH(vertices, faces)
        depth = tree.size.bit_length() - 1
        for level in range(depth + 1):
            span = tree.size >> level  # leaves per node at this depth
            for index in range(1 << level):
                node = (1 << level) - 1 + index
                triangles = tree.order[index * span * LEAF:(index + 1) * span * LEAF]
                if len(triangles) == 0:
                    continue
                row = tree.nodes[node]
                axes = row[:9].reshape(3, 3) if row[15] else np.eye(3)
                assert row[15] == 0 or span <= ORIENTED_MAX_LEAVES
                projected = vertices[faces[triangles].ravel()] @ axes.T
                assert (projected >= row[9:12]).all() and (projected <= row[12:15]).all()
        small = tree.nodes[(1 << max(depth - ORIENTED_MAX_LEAVES.bit_length() + 1, 0)) - 1:]  # at most 64 leaves
        small = small[small[:, 9] <= small[:, 12]]  # that hold triangles (the tree's last leaves can be empty)
        return tree, small[:, 15].mean()

    mesh = watertight_mesh(*normalized("stanford-bunny.obj"), 64)
    assert check(mesh.vertices, mesh.faces)[1] > 0.5
    cube = trimesh.creation.box().subdivide().subdivide().subdivide().subdivide()
    assert check(np.asarray(cube.vertices), np.asarray(cube.faces, dtype=np.int64))[1] == 0.0
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    tree, oriented = check(np.asarray(sphere.vertices), np.asarray(sphere.faces, dtype=np.int64))
    assert oriented > 0.9
    points = np.random.default_rng(2).uniform(-1.1, 1.1, (20000, 3))
    reference, _, _ = IglDistance(sphere.vertices, sphere.faces).query(points, want_closest=False)
    assert np.allclose(tree.query(points, want_closest=False)[0], reference, rtol=0, atol=1e-14)


def test_bvh_is_exact_on_degenerate_soups_and_thread_independent():
    from shapeprep.geometry.bvh import TriangleBVH

    rng = np.random.default_rng(5)
    vertices = rng.uniform(-0.5, 0.5, (300, 3))
    vertices[:30] = vertices[0] + np.linspace(0, 1, 30)[:, None] * (vertices[1] - vertices[0])
    faces = np.concatenate([rng.integers(0, 300, (500, 3)), rng.integers(0, 30, (40, 3))])
    points = rng.uniform(-1, 1, (20000, 3))
    runs = []
    for threads in (1, 2):
        set_threads(threads)
        runs.append(TriangleBVH(vertices, faces).query(points))
    set_threads(None)
    reference, _, _ = IglDistance(vertices, faces).query(points, want_closest=False)
    assert np.allclose(runs[0][0], reference, rtol=0, atol=1e-14)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(runs[0], runs[1]))
