"""The torch side of the GPU backend, run on CPU tensors; cubvh calls only where cubvh and CUDA exist."""

import numpy as np
import pytest

from shapeprep.geometry.distance import IglDistance
from shapeprep.geometry.grid import grid_spacing
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import validate_mesh
from shapeprep.watertight import WatertightOptions
from shapeprep.watertight.band import narrow_band
from shapeprep.watertight.engine import watertight_from_distance

from .conftest import shared_mesh

torch = pytest.importorskip("torch")

from shapeprep.watertight.cubvh_backend import (  # noqa: E402
    CUBVH_FLOODFILL_MAX_RESOLUTION,
    CUBVH_FLOODFILL_MAX_SIDE,
    FLOODFILL_BYTES_PER_VOXEL,
    TorchDistanceFromNumpy,
    cubvh_available,
    dense_floodfill_lookup,
    floodfill_fits,
    narrow_band_torch,
    watertight_mesh_torch,
)
from shapeprep.watertight.engine import DenseFloodFillUnavailable  # noqa: E402

from .cubvh_emulation import fake_cubvh  # noqa: E402


@pytest.fixture(scope="module")
def spider():
    return normalize_mesh(*load_mesh(shared_mesh("spider_obj/spider.obj")))


def test_torch_band_equals_numpy_band(spider):
    distance = IglDistance(spider.vertices, spider.faces)
    resolution = 57
    band = 2.0 * grid_spacing(resolution)
    indices, udf, queries = narrow_band(distance, resolution, band)
    t_indices, t_udf, t_queries = narrow_band_torch(TorchDistanceFromNumpy(distance), resolution, band, "cpu")
    assert queries == t_queries
    assert np.array_equal(indices, t_indices.numpy()) and np.array_equal(udf, t_udf.numpy())


@pytest.mark.parametrize("fill_holes", ["winding_number", "none"])
def test_torch_engine_on_cpu_equals_cpu_engine(spider, fill_holes):
    options = WatertightOptions(resolution=64, fill_holes=fill_holes)
    distance = IglDistance(spider.vertices, spider.faces)
    expected = watertight_from_distance(distance, options)
    result = watertight_mesh_torch(spider.vertices, spider.faces, options, TorchDistanceFromNumpy(distance), "cpu")
    assert np.array_equal(result.vertices, expected.vertices) and np.array_equal(result.faces, expected.faces)


@pytest.fixture
def emulated_cubvh(monkeypatch):
    """Put the cubvh stand-in (tests/cubvh_emulation.py) in ``sys.modules``; returns a setter for its options."""
    import sys

    def install(**options):
        module = fake_cubvh(**options)
        monkeypatch.setitem(sys.modules, "cubvh", module)
        return module

    return install


def dense_result(vertices, faces, options, **dense_options):
    distance = TorchDistanceFromNumpy(IglDistance(vertices, faces))
    dense_options = {"free_bytes": lambda: 64 << 30, **dense_options}
    return watertight_mesh_torch(vertices, faces, options, distance, "cpu", floodfill="dense", dense_options=dense_options)


def test_dense_flood_fill_gives_the_block_graph_mesh(spider, emulated_cubvh):
    """cubvh.floodfill's corner-seeded labels (emulated faithfully) on the padded grid, against the block graph."""
    emulated_cubvh()
    options = WatertightOptions(resolution=61, fill_holes="none")
    result = dense_result(spider.vertices, spider.faces, options)
    expected = watertight_from_distance(IglDistance(spider.vertices, spider.faces), options)
    assert result.stats["floodfill"] == "dense" and expected.stats["floodfill"] == "block_graph"
    assert result.stats["interior_voxels"] == expected.stats["interior_voxels"]
    assert np.array_equal(result.vertices, expected.vertices) and np.array_equal(result.faces, expected.faces)


def open_tube(length=2.0, radius=0.4, sections=48):
    """A cylinder without caps along z, normalised so that it reaches z = +-0.95."""
    import trimesh

    cylinder = trimesh.creation.cylinder(radius=radius, height=length, sections=sections)
    side = np.abs(cylinder.face_normals[:, 2]) < 0.5
    source = normalize_mesh(np.asarray(cylinder.vertices), np.asarray(cylinder.faces)[side])
    return source.vertices, source.faces


def test_shell_touching_a_grid_face_leaves_the_channel_open(emulated_cubvh):
    """At 32 with eps 1 voxel the shell reaches the z faces of the grid: corner-seeded labels on an
    unpadded grid would fill the tube's channel; on the padded grid it stays outside."""
    import igl

    emulated_cubvh()
    vertices, faces = open_tube()
    options = WatertightOptions(resolution=32, fill_holes="none")
    assert options.eps_voxels > 0.05 * (32 - 1) / 2  # the condition for touching
    result = dense_result(vertices, faces, options)
    expected = watertight_from_distance(IglDistance(vertices, faces), options)
    assert result.stats["floodfill"] == "dense"
    assert np.array_equal(result.vertices, expected.vertices) and np.array_equal(result.faces, expected.faces)
    # The channel is outside: the winding number of the result on the tube's axis is 0.
    axis = np.array([[0.0, 0.0, z] for z in (-0.9, 0.0, 0.9)])
    assert np.allclose(igl.winding_number(result.vertices, result.faces, axis), 0.0, atol=1e-6)
    record = validate_mesh(result.vertices, result.faces)
    assert record["reasons"] == [] and record["genus"] == 1


def test_unconverged_flood_fill_falls_back_to_the_block_graph(spider, emulated_cubvh):
    emulated_cubvh(max_passes=4)  # cubvh's iteration cap: unfinished labels, no error
    options = WatertightOptions(resolution=61, fill_holes="none")
    result = dense_result(spider.vertices, spider.faces, options)
    expected = watertight_from_distance(IglDistance(spider.vertices, spider.faces), options)
    assert result.stats["floodfill"] == "block_graph" and "did not converge" in result.stats["floodfill_fallback"]
    assert np.array_equal(result.vertices, expected.vertices) and np.array_equal(result.faces, expected.faces)


def test_failed_kernel_labels_fall_back(spider, emulated_cubvh):
    emulated_cubvh(floodfill_result=lambda grid: torch.zeros(grid.shape, dtype=torch.int32))  # a failed launch
    result = dense_result(spider.vertices, spider.faces, WatertightOptions(resolution=40, fill_holes="none"))
    assert result.stats["floodfill"] == "block_graph" and "walls" in result.stats["floodfill_fallback"]


def test_flood_fill_that_does_not_fit_falls_back_before_allocating(spider, emulated_cubvh):
    def refuse(grid):
        raise AssertionError("floodfill must not run")

    emulated_cubvh(floodfill_result=refuse)
    result = dense_result(spider.vertices, spider.faces, WatertightOptions(resolution=40, fill_holes="none"),
                          free_bytes=lambda: 42**3 * FLOODFILL_BYTES_PER_VOXEL)
    assert result.stats["floodfill"] == "block_graph" and "GiB" in result.stats["floodfill_fallback"]
    # At cubvh's largest side the call needs about 21 GB of device memory.
    assert floodfill_fits(CUBVH_FLOODFILL_MAX_SIDE, 24 << 30) and not floodfill_fits(CUBVH_FLOODFILL_MAX_SIDE, 20 << 30)
    lookup = dense_floodfill_lookup(CUBVH_FLOODFILL_MAX_RESOLUTION + 1, "cpu", floodfill=refuse, free_bytes=lambda: 1 << 50)
    with pytest.raises(DenseFloodFillUnavailable, match="beyond"):
        lookup(np.zeros((0, 3), dtype=np.int64))


def test_default_hole_filling_says_it_floods_the_block_graph(spider, emulated_cubvh):
    emulated_cubvh()
    result = dense_result(spider.vertices, spider.faces, WatertightOptions(resolution=40))
    assert result.stats["floodfill"] == "block_graph" and "narrow_holes" in result.stats["floodfill_fallback"]


def test_tiny_and_empty_meshes_are_guarded(emulated_cubvh):
    from shapeprep.status import MeshError
    from shapeprep.watertight.cubvh_backend import CubvhDistance, bvh_faces

    module = emulated_cubvh()
    tetrahedron = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]])
    assert len(bvh_faces(tetrahedron)) > 8 and set(map(tuple, bvh_faces(tetrahedron))) == set(map(tuple, tetrahedron))
    CubvhDistance(np.eye(4)[:, :3], tetrahedron)  # the stand-in asserts > 8 triangles, as cubvh
    assert module.cuBVH.built == 1
    with pytest.raises(MeshError, match="no_faces"):
        watertight_mesh_torch(np.zeros((3, 3)), np.zeros((0, 3), dtype=np.int64), WatertightOptions(resolution=32),
                              TorchDistanceFromNumpy(None), "cpu")
    with pytest.raises(MeshError, match="no_faces"):
        bvh_faces(np.zeros((0, 3), dtype=np.int64))


def test_cubvh_renderer_builds_one_bvh_for_four_views_and_matches_the_cpu(emulated_cubvh):
    from shapeprep.report.render import normal_views

    module = emulated_cubvh()
    vertices = np.array([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 0.8]]) - 0.2
    tetrahedron = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # 4 faces: cubvh alone would assert
    gpu = normal_views(vertices, tetrahedron, size=48, backend="cubvh")
    cpu = normal_views(vertices, tetrahedron, size=48, backend="cpu")
    assert module.cuBVH.built == 1
    assert np.array_equal(gpu, cpu) and (cpu != 255).any()


def test_report_gallery_uses_the_configured_renderer(monkeypatch):
    import shapeprep.build.report as report

    seen = []
    monkeypatch.setattr(report, "thumbnails", lambda meshes, points, size, backend="cpu": seen.append(backend) or [])
    row = {"shard": "00000", "object_id": "x", "status": "failed"}
    report.object_images(row, {}, {}, 32, renderer="cubvh")
    assert seen == ["cubvh"]


@pytest.mark.skipif(not cubvh_available(), reason="needs cubvh and a CUDA device")
def test_cubvh_backend_matches_cpu_backend(spider):
    from shapeprep.watertight import watertight_mesh

    for fill_holes in ("none", "winding_number"):
        gpu = watertight_mesh(spider.vertices, spider.faces, 128, backend="cubvh", fill_holes=fill_holes)
        cpu = watertight_mesh(spider.vertices, spider.faces, 128, backend="cpu", fill_holes=fill_holes)
        assert validate_mesh(gpu.vertices, gpu.faces)["reasons"] == []
        # float32 distances on the GPU: the same surface up to tiny vertex moves.
        assert abs(len(gpu.faces) - len(cpu.faces)) <= 0.01 * len(cpu.faces)
        assert gpu.stats["backend"] == "cubvh"
