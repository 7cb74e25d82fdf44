import numpy as np
import pytest

from shapeprep.geometry.distance import IglDistance
from shapeprep.geometry.grid import grid_spacing, index_to_point
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import validate_mesh
from shapeprep.watertight import WatertightOptions, watertight_mesh
from shapeprep.watertight.band import band_distances, narrow_band
from shapeprep.watertight.blockgrid import build_flood_graph, exterior_nodes, padded, with_walls
from shapeprep.watertight.engine import GraphExterior, surface_from_exterior
from shapeprep.watertight.reference import exterior_mask

from .conftest import box, icosphere, shared_mesh


def assert_closed_outward(result):
    import trimesh

    record = validate_mesh(result.vertices, result.faces)
    assert record["reasons"] == [], record["reasons"]
    mesh = trimesh.Trimesh(result.vertices, result.faces, process=False)
    assert mesh.is_volume
    assert mesh.volume > 0  # outward
    return record


def normalized_shared(name):
    return normalize_mesh(*load_mesh(shared_mesh(name)))


@pytest.mark.parametrize(("offset_reduction", "offset_voxels", "tolerance"), [("none", 1.0, 0.35), ("project", 0.25, 0.05)])
def test_sphere_radius_is_source_plus_offset(offset_reduction, offset_voxels, tolerance):
    resolution = 64
    vertices, faces = icosphere(radius=0.5, subdivisions=5)
    result = watertight_mesh(vertices, faces, resolution=resolution, offset_reduction=offset_reduction)
    record = assert_closed_outward(result)
    assert record["components"] == 1 and record["genus"] == 0
    assert result.stats["solid"]
    radius = np.linalg.norm(result.vertices, axis=1)
    expected = 0.5 + offset_voxels * grid_spacing(resolution)
    assert np.abs(radius - expected).max() < tolerance * grid_spacing(resolution)


def test_sdf_sign_inside_the_watertight_sphere_is_enclosed():
    vertices, faces = icosphere(radius=0.5, subdivisions=4)
    result = watertight_mesh(vertices, faces, resolution=48)
    winding = IglDistance(result.vertices, result.faces).winding_number(np.array([[0.0, 0, 0], [0.9, 0, 0]]))
    assert winding[0] == pytest.approx(1.0, abs=1e-2) and winding[1] == pytest.approx(0.0, abs=1e-2)


def test_torus_has_genus_one():
    import trimesh

    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2, major_sections=64, minor_sections=32)
    result = watertight_mesh(np.asarray(torus.vertices), np.asarray(torus.faces), resolution=64)
    record = assert_closed_outward(result)
    assert record["components"] == 1 and record["genus"] == 1


def test_two_disjoint_boxes_both_kept():
    first, first_faces = box([0.4, 0.4, 0.4], center=(-0.5, 0, 0))
    second, second_faces = box([0.1, 0.1, 0.1], center=(0.5, 0, 0))  # small part: never dropped
    vertices = np.concatenate([first, second])
    faces = np.concatenate([first_faces, second_faces + len(first)])
    result = watertight_mesh(vertices, faces, resolution=64)
    record = assert_closed_outward(result)
    assert record["components"] == 2 and record["genus_per_component"] == [0, 0]
    assert result.stats["parts_removed"] == 0


def test_small_parts_removed_only_when_asked_and_counted():
    first, first_faces = box([0.8, 0.8, 0.8], center=(-0.4, 0, 0))
    speck, speck_faces = box([0.01, 0.01, 0.01], center=(0.6, 0, 0))
    vertices = np.concatenate([first, speck])
    faces = np.concatenate([first_faces, speck_faces + len(first)])
    kept = watertight_mesh(vertices, faces, resolution=64)
    assert validate_mesh(kept.vertices, kept.faces)["components"] == 2
    cleaned = watertight_mesh(vertices, faces, resolution=64, min_part_voxels=50)
    record = assert_closed_outward(cleaned)
    assert record["components"] == 1 and cleaned.stats["parts_removed"] == 1


@pytest.mark.parametrize("fill_holes", ["winding_number", "none"])
def test_open_box_becomes_closed(fill_holes):
    vertices, faces = box([1.0, 1.0, 1.0])
    top = vertices[faces].mean(axis=1)[:, 2] > 0.49
    result = watertight_mesh(vertices, faces[~top], resolution=64, fill_holes=fill_holes)
    record = assert_closed_outward(result)
    assert record["components"] == 1


@pytest.mark.parametrize(("offset_reduction", "half_thickness_voxels"), [("none", 1.0), ("project", 0.25)])
def test_flat_quad_becomes_thin_slab(offset_reduction, half_thickness_voxels):
    vertices = np.array([[-0.8, -0.8, 0], [0.8, -0.8, 0], [0.8, 0.8, 0], [-0.8, 0.8, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    resolution = 64
    result = watertight_mesh(vertices, faces, resolution=resolution, offset_reduction=offset_reduction)
    record = assert_closed_outward(result)
    assert record["components"] == 1 and record["genus"] == 0
    assert not result.stats["solid"] and result.stats["reclaimed_voxels"] == 0  # a sheet is never filled
    thickness = np.ptp(result.vertices[:, 2])
    assert thickness == pytest.approx(2 * half_thickness_voxels * grid_spacing(resolution), rel=0.2)


def test_narrow_band_matches_dense_distances():
    vertices, faces = icosphere(radius=0.6, subdivisions=3)
    resolution = 40
    distance = IglDistance(vertices, faces)
    band = 2.5 * grid_spacing(resolution)
    indices, udf, queries = narrow_band(distance, resolution, band)
    grid = np.stack(np.meshgrid(*[np.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
    dense = distance.unsigned_distance(index_to_point(grid, resolution))
    expected = {tuple(i) for i in grid[dense < band]}
    assert expected == {tuple(i) for i in indices[udf < band]}
    assert queries < resolution**3


def band_and_graph(name, resolution):
    mesh = normalized_shared(name)
    distance = IglDistance(mesh.vertices, mesh.faces)
    eps = grid_spacing(resolution)
    indices, udf, _ = band_distances(distance, resolution, eps)
    graph = build_flood_graph(padded(indices[udf < eps]), resolution)
    return indices, udf, eps, graph


def test_adding_walls_to_a_graph_equals_building_it_with_them():
    """The hole filling's second flood graph is built from the first one's blocks plus the caps: it must be the
    graph of the concatenated voxels, node numbers and edges included, with walls in new blocks and old ones."""
    resolution = 53
    indices, udf, eps, graph = band_and_graph("spider_obj/spider.obj", resolution)
    shell = padded(indices[udf < eps])
    rng = np.random.default_rng(3)
    walls = rng.integers(1, resolution + 1, (4000, 3))  # anywhere: in shell blocks, in free ones, on shell voxels
    walls = np.concatenate([walls, shell[:50]])
    expected, added = build_flood_graph(np.concatenate([shell, walls]), resolution), with_walls(graph, walls)
    assert len(expected.wall_blocks) > len(graph.wall_blocks)
    assert np.array_equal(added.wall_blocks, expected.wall_blocks)
    assert np.array_equal(added.wall_labels, expected.wall_labels)
    assert added.n_wall_nodes == expected.n_wall_nodes and added.outside_node == expected.outside_node
    assert np.array_equal(added.wall_edges, expected.wall_edges)
    assert np.array_equal(exterior_nodes(added), exterior_nodes(expected))


@pytest.mark.parametrize("name", ["spider_obj/spider.obj", "stanford-bunny.obj"])
def test_block_graph_flood_fill_equals_dense_flood_fill(name):
    resolution = 53  # not a multiple of the block size
    indices, udf, eps, graph = band_and_graph(name, resolution)
    shell = np.zeros((resolution,) * 3, dtype=bool)
    shell[tuple(indices[udf < eps].T)] = True
    dense = exterior_mask(shell)
    lookup = GraphExterior(graph, exterior_nodes(graph))
    grid = np.stack(np.meshgrid(*[np.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
    padded_grid = padded(grid)
    blocks = np.ravel_multi_index((padded_grid // graph.block).T, (graph.n_blocks,) * 3)
    unique_blocks, slot = np.unique(blocks, return_inverse=True)
    flags = lookup.voxels_in_blocks(unique_blocks)
    local = padded_grid % graph.block
    sparse = flags[slot, local[:, 0], local[:, 1], local[:, 2]].reshape((resolution,) * 3)
    assert np.array_equal(sparse, dense)


def test_sparse_marching_cubes_equals_dense_marching_cubes():
    import mcubes

    resolution = 45
    indices, udf, eps, graph = band_and_graph("suzanne.obj", resolution)
    spacing = grid_spacing(resolution)
    exterior = exterior_nodes(graph)
    vertices, faces, _ = surface_from_exterior(
        GraphExterior(graph, exterior), [padded(indices), udf], eps, spacing, graph.wall_blocks, graph.n_blocks
    )
    # The same field, dense: the seed recipe.
    shell = np.zeros((resolution,) * 3, dtype=bool)
    shell[tuple(indices[udf < eps].T)] = True
    outside = exterior_mask(shell)
    field = np.where(outside, spacing, -spacing).astype(np.float32)
    values = np.maximum(np.abs(udf - eps), 1e-3 * spacing).astype(np.float32)
    is_outside = outside[tuple(indices.T)] & (udf >= eps)
    field[tuple(indices.T)] = np.where(is_outside, values, -values)
    dense_vertices, dense_faces = mcubes.marching_cubes(field, 0.0)
    assert len(faces) == len(dense_faces) and len(vertices) == len(dense_vertices)
    from scipy.spatial import cKDTree

    gap, match = cKDTree(dense_vertices).query(vertices - 1.0)
    assert gap.max() < 1e-5  # PyMCubes interpolates in float32
    assert len(np.unique(match)) == len(match)
    # Same triangles, flipped to face outward.
    canonical = {tuple(np.roll(t, -np.argmin(t))) for t in match[faces]}
    dense_canonical = {tuple(np.roll(t, -np.argmin(t))) for t in np.asarray(dense_faces)[:, ::-1]}
    assert canonical == dense_canonical


def test_holes_leak_without_remedy_and_winding_number_makes_it_solid():
    mesh = normalized_shared("stanford-bunny.obj")  # open base: 5 holes
    hollow = watertight_mesh(mesh.vertices, mesh.faces, resolution=96, fill_holes="none")
    solid = watertight_mesh(mesh.vertices, mesh.faces, resolution=96)
    assert_closed_outward(hollow)
    assert_closed_outward(solid)
    assert not hollow.stats["solid"] and hollow.stats["interior_fraction"] < 0.01
    assert solid.stats["solid"] and solid.stats["reclaimed_voxels"] > 0
    inside = np.array([[0.0, 0.0, 0.0]])  # the bunny's belly
    assert IglDistance(solid.vertices, solid.faces).winding_number(inside)[0] == pytest.approx(1.0, abs=1e-2)
    assert IglDistance(hollow.vertices, hollow.faces).winding_number(inside)[0] == pytest.approx(0.0, abs=1e-2)


@pytest.mark.parametrize(
    "name", ["suzanne.obj", "rabbit.obj", "CesiumMilkTruck.glb", "woody.obj", "chair.off", "spider_obj/spider.obj"]
)
def test_shared_meshes_become_valid_volumes(name):
    mesh = normalized_shared(name)
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=64)
    assert_closed_outward(result)


def test_every_separate_body_is_kept():
    mesh = normalized_shared("thingi10k_1514499.stl")  # 15 separate flat bodies
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=128)
    record = assert_closed_outward(result)
    assert record["components"] == 15


def test_decimation_reaches_target_and_stays_valid():
    pytest.importorskip("pymeshlab")
    mesh = normalized_shared("suzanne.obj")
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=64, target_faces=4000)
    assert result.stats["decimation"] == "decimated"
    assert len(result.faces) <= 4000
    assert_closed_outward(result)


def test_rerun_is_bit_identical():
    mesh = normalized_shared("suzanne.obj")
    first = watertight_mesh(mesh.vertices, mesh.faces, resolution=48)
    second = watertight_mesh(mesh.vertices, mesh.faces, resolution=48)
    assert np.array_equal(first.vertices, second.vertices) and np.array_equal(first.faces, second.faces)


def test_invalid_options_are_refused():
    with pytest.raises(ValueError, match="eps_voxels"):
        WatertightOptions(eps_voxels=0.5)
    with pytest.raises(ValueError, match="fill_holes"):
        WatertightOptions(fill_holes="poisson")
