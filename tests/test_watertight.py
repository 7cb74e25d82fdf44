import numpy as np
import pytest

from shapeprep.loaders import load_mesh
from shapeprep.normalize import normalize_mesh
from shapeprep.validate import validate_mesh
from shapeprep.watertight import grid_spacing, narrow_band, watertight_mesh

from .conftest import box, icosphere, shared_mesh


def assert_closed_outward(result):
    import trimesh

    record = validate_mesh(result.vertices, result.faces)
    assert record["reasons"] == [], record["reasons"]
    mesh = trimesh.Trimesh(result.vertices, result.faces, process=False)
    assert mesh.is_volume
    assert mesh.volume > 0  # outward
    return record


def test_sphere_radius_is_offset_by_eps():
    resolution = 64
    vertices, faces = icosphere(radius=0.5, subdivisions=5)
    result = watertight_mesh(vertices, faces, resolution=resolution, eps_voxels=1.0)
    record = assert_closed_outward(result)
    assert record["components"] == 1 and record["genus"] == 0
    radius = np.linalg.norm(result.vertices, axis=1)
    expected = 0.5 + grid_spacing(resolution)  # the surface is the udf = eps offset
    assert np.abs(radius - expected).max() < 0.35 * grid_spacing(resolution)


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


def test_open_box_becomes_closed():
    vertices, faces = box([1.0, 1.0, 1.0])
    top = vertices[faces].mean(axis=1)[:, 2] > 0.49
    result = watertight_mesh(vertices, faces[~top], resolution=64)
    record = assert_closed_outward(result)
    assert record["components"] == 1


def test_flat_quad_becomes_thin_slab():
    vertices = np.array([[-0.8, -0.8, 0], [0.8, -0.8, 0], [0.8, 0.8, 0], [-0.8, 0.8, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    resolution = 64
    result = watertight_mesh(vertices, faces, resolution=resolution)
    record = assert_closed_outward(result)
    assert record["components"] == 1 and record["genus"] == 0
    thickness = np.ptp(result.vertices[:, 2])
    assert thickness == pytest.approx(2 * grid_spacing(resolution), rel=0.2)


def test_narrow_band_matches_dense_distances():
    from shapeprep.distance import IglDistance
    from shapeprep.watertight import index_to_point

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


@pytest.mark.parametrize(
    "name", ["suzanne.obj", "rabbit.obj", "CesiumMilkTruck.glb", "woody.obj", "chair.off", "spider_obj/spider.obj"]
)
def test_shared_meshes_become_valid_volumes(name):
    vertices, faces = load_mesh(shared_mesh(name))
    mesh = normalize_mesh(vertices, faces)
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=64)
    assert_closed_outward(result)


def test_every_separate_body_is_kept():
    vertices, faces = load_mesh(shared_mesh("thingi10k_1514499.stl"))  # 15 separate flat bodies
    mesh = normalize_mesh(vertices, faces)
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=128)
    record = assert_closed_outward(result)
    assert record["components"] == 15


def test_rerun_is_bit_identical():
    vertices, faces = load_mesh(shared_mesh("suzanne.obj"))
    mesh = normalize_mesh(vertices, faces)
    first = watertight_mesh(mesh.vertices, mesh.faces, resolution=48)
    second = watertight_mesh(mesh.vertices, mesh.faces, resolution=48)
    assert np.array_equal(first.vertices, second.vertices) and np.array_equal(first.faces, second.faces)
