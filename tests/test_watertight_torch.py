"""The torch side of the GPU backend, run on CPU tensors; cubvh calls only where cubvh and CUDA exist."""

import numpy as np
import pytest

from shapeprep.geometry.distance import IglDistance
from shapeprep.geometry.grid import grid_spacing
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import validate_mesh
from shapeprep.watertight import WatertightOptions
from shapeprep.watertight.band import band_distances, narrow_band
from shapeprep.watertight.engine import watertight_from_band, watertight_from_distance
from shapeprep.watertight.reference import exterior_mask

from .conftest import shared_mesh

torch = pytest.importorskip("torch")

from shapeprep.watertight.cubvh_backend import (  # noqa: E402
    DenseExterior,
    TorchDistanceFromNumpy,
    cubvh_available,
    exterior_from_labels,
    narrow_band_torch,
    watertight_mesh_torch,
)


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


def test_dense_flood_fill_lookup_gives_the_same_mesh(spider):
    """The cubvh.floodfill path (dense exterior mask on the device) against the block graph."""
    resolution = 61
    options = WatertightOptions(resolution=resolution, fill_holes="none")
    distance = IglDistance(spider.vertices, spider.faces)
    indices, udf, queries = band_distances(distance, resolution, grid_spacing(resolution))

    def dense(shell_padded):
        shell = np.zeros((resolution,) * 3, dtype=bool)
        shell[tuple((shell_padded - 1).T)] = True
        # The labels cubvh.floodfill would return: walls -1, exterior one label.
        labels = torch.where(torch.from_numpy(shell), -1, 7).int()
        labels[~torch.from_numpy(exterior_mask(shell) | shell)] = 3
        return DenseExterior(exterior_from_labels(labels), len(shell_padded))

    result = watertight_from_band(indices, udf, queries, distance, options, {}, dense_exterior=dense)
    expected = watertight_from_band(indices, udf, queries, distance, options, {})
    assert result.stats["floodfill"] == "dense" and expected.stats["floodfill"] == "block_graph"
    assert result.stats["interior_voxels"] == expected.stats["interior_voxels"]
    assert np.array_equal(result.vertices, expected.vertices) and np.array_equal(result.faces, expected.faces)


def test_exterior_from_labels_refuses_a_wall_corner():
    labels = torch.full((4, 4, 4), 5, dtype=torch.int32)
    labels[0, 0, 0] = -1
    with pytest.raises(ValueError, match="corner"):
        exterior_from_labels(labels)


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
