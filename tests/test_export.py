"""Peer npz layouts: keys, shapes, dtypes and the peers' sign (positive inside)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from shapeprep.samples.export import export_shard
from shapeprep.samples.sampling import sample_object
from shapeprep.samples.shards import write_shard_arrays

from .conftest import box

PARAMS = {
    "surface_points": 40000, "salient_points": 36000, "salient_angle_deg": 30.0, "salient_engine": "numpy",
    "salient_project": True, "volume_points": 3000, "volume_bound": 1.05,
    "near_surface_sigmas": [0.005, 0.05], "near_surface_points_per_sigma": 1000,
    "near_salient_sigmas": [0.005], "near_salient_points_per_sigma": 800,
}


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    vertices, faces = box([1.0, 0.8, 0.6])
    arrays, _ = sample_object(vertices, faces, vertices, faces, PARAMS, np.random.default_rng(0))
    path = tmp_path_factory.mktemp("export") / "00000.h5"
    write_shard_arrays(path, [("cube", arrays)], {"shard": "00000", "volume_bound": 1.05})
    return path


def inside(points):
    return np.all(np.abs(points) < np.array([0.5, 0.4, 0.3]) - 0.01, axis=1)


def outside(points):
    return np.any(np.abs(points) > np.array([0.5, 0.4, 0.3]) + 0.01, axis=1)


def assert_positive_inside(points, labels):
    points, labels = points.astype(np.float64), labels.astype(np.float64)
    assert inside(points).sum() > 10 and outside(points).sum() > 10
    assert (labels[inside(points)] > 0).all() and (labels[outside(points)] < 0).all()


def test_dora_layout(shard, tmp_path):
    (path,) = export_shard(shard, tmp_path, "dora")
    data = np.load(path)
    assert path.name == "cube.npz" and set(data.files) == {"fps_sharp_surface", "sharp_near_surface", "fps_coarse_surface", "rand_points"}
    assert data["fps_coarse_surface"].shape == data["fps_sharp_surface"].shape == (32768, 1, 6)  # Dora's loader indexes both alike
    assert data["rand_points"].shape == (5000, 4) and data["sharp_near_surface"].shape == (800, 4)
    assert all(data[key].dtype == np.float32 for key in data.files)
    assert_positive_inside(data["rand_points"][:, :3], data["rand_points"][:, 3])
    # Dora's loader takes [:, 0] and needs at least 16384 sharp points.
    assert data["fps_sharp_surface"][:, 0].shape[0] >= 16384
    assert len(np.unique(data["fps_coarse_surface"][:, 0, :3], axis=0)) == 32768  # FPS picks distinct points


def test_step1x_layout(shard, tmp_path):
    (path,) = export_shard(shard, tmp_path, "step1x")
    data = np.load(path)
    assert path.relative_to(tmp_path).as_posix() == "cube/samples.npz"
    assert set(data.files) == {"surface", "sharp_surface", "near_surface_points", "volume_rand_points", "bounds"}
    assert data["surface"].shape == (40000, 6) and data["sharp_surface"].shape == (36000, 6)
    assert data["near_surface_points"].shape == (2800, 4) and data["volume_rand_points"].shape == (3000, 4)
    assert np.array_equal(data["bounds"], [-1.05, 1.05])
    assert_positive_inside(data["volume_rand_points"][:, :3], data["volume_rand_points"][:, 3])


def test_hunyuan_layout(shard, tmp_path):
    surface_path, sdf_path = export_shard(shard, tmp_path, "hunyuan")
    assert (surface_path.name, sdf_path.name) == ("cube_surface.npz", "cube_sdf.npz")
    surface, sdf = np.load(surface_path), np.load(sdf_path)
    assert set(surface.files) == {"random_surface", "sharp_surface"}
    assert set(sdf.files) == {f"{kind}_{part}" for kind in ("vol", "random_near", "sharp_near") for part in ("points", "label")}
    assert all(surface[key].dtype == np.float16 for key in surface.files) and all(sdf[key].dtype == np.float16 for key in sdf.files)
    assert sdf["vol_points"].shape == (3000, 3) and sdf["vol_label"].shape == (3000,)
    assert sdf["random_near_points"].shape == (2000, 3) and sdf["sharp_near_label"].shape == (800,)
    assert_positive_inside(sdf["vol_points"], sdf["vol_label"])


def test_export_manifest_and_cli(shard, tmp_path):
    run = subprocess.run([sys.executable, "-m", "shapeprep", "export", str(shard), str(tmp_path), "--layout", "dora",
                          "--object", "cube"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert manifest["layout"] == "dora" and manifest["objects"]["cube"]["files"] == ["cube.npz"]
    missing = subprocess.run([sys.executable, "-m", "shapeprep", "export", str(shard), str(tmp_path), "--layout", "dora",
                              "--object", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr
