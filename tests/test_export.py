"""Peer exports: each preset's shard, exported, read the way each peer's loader reads it.

The loaders are emulated from their documented behaviour (tests/peer_loaders.py):
Dora's fixed split of ``rand_points`` at row 400,000, Step1X-3D's
``surfaces/<uid>.npz`` and its reuse of the surface indices for the sharp set,
Hunyuan3D-2.1's ``<item>/geo_data/<uid>_surface.npz`` and its 81,920-point
draw without replacement, TripoSG's pickled ``.npy`` dict, 3DShape2VecSet's
``.lst`` parsing. Each finding of issue 16 fails one of these tests.
"""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from shapeprep.build.sample import frame_scale
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.samples.data import ShardDataset
from shapeprep.samples.export import ContractError, export, split_objects
from shapeprep.samples.sampling import sample_object
from shapeprep.samples.shards import read_shard_object, write_shard_arrays
from shapeprep.watertight import watertight_mesh

from . import peer_loaders
from .conftest import REPO, box, shared_mesh, validated_config

PRESETS = {"dora": "dora", "step1x": "step1x", "hunyuan": "hunyuan21", "triposg": "triposg", "vecset": "vecset"}
BOX_HALF = np.array([0.95, 0.76, 0.57])  # the box object's half extents in the normalised frame (bound 0.95)


def preset_config(name: str) -> dict:
    """config/config.yaml with a preset laid over it, as ``snakemake --configfile`` merges them."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section, values in yaml.safe_load((REPO / "config" / "presets" / f"{name}.yaml").read_text()).items():
        config[section] = {**config.get(section, {}), **values}
    return validated_config(config)


@pytest.fixture(scope="module")
def meshes():
    """Two normalised objects and their watertight meshes: fandisk (a real CAD part) and a box."""
    vertices, faces = load_mesh(shared_mesh("fandisk.obj"))
    fandisk = normalize_mesh(vertices, faces)
    closed = watertight_mesh(fandisk.vertices, fandisk.faces, 64)
    box_vertices, box_faces = box(2 * BOX_HALF)
    return {"fandisk": (fandisk.vertices, fandisk.faces, closed.vertices, closed.faces),
            "box": (box_vertices, box_faces, box_vertices, box_faces)}


def build_shard(path: Path, config: dict, meshes: dict) -> Path:
    """What the sample and shard stages write for ``meshes`` with ``config`` (frame rescale included)."""
    sample = config["sample"]
    items = []
    for object_id, (source, source_faces, vertices, faces) in meshes.items():
        factor = frame_scale(source, sample["frame_bound"])
        arrays, _ = sample_object(vertices * factor, faces, source * factor, source_faces, sample, np.random.default_rng(0))
        items.append((object_id, arrays))
    params = {"sample": sample, "normalize": config["normalize"]}
    write_shard_arrays(path, items, {"shard": "00000", "volume_bound": sample["volume_bound"], "params": params},
                       dtype=config["shard"]["dtype"])
    return path


@pytest.fixture(scope="module")
def preset_shards(meshes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("presets")
    return {layout: build_shard(folder / f"{preset}.h5", preset_config(preset), meshes) for layout, preset in PRESETS.items()}


def inside_box(points, frame_bound, margin=0.02):
    """Points certainly inside the box object, in a sampling frame where the box spans ±frame_bound."""
    half = BOX_HALF * frame_bound / BOX_HALF.max()
    return np.all(np.abs(points) < half - margin, axis=1)


def outside_box(points, frame_bound, margin=0.02):
    half = BOX_HALF * frame_bound / BOX_HALF.max()
    return np.any(np.abs(points) > half + margin, axis=1)


def assert_positive_inside(points, labels, frame_bound):
    points, labels = np.asarray(points, np.float64), np.asarray(labels, np.float64)
    inside, outside = inside_box(points, frame_bound), outside_box(points, frame_bound)
    assert inside.sum() > 10 and outside.sum() > 10
    assert (labels[inside] > 0).all() and (labels[outside] <= 0).all()


def test_every_preset_validates_against_the_schema():
    for preset in PRESETS.values():
        config = preset_config(preset)
        assert config["sample"]["frame_bound"] is not None


@pytest.mark.parametrize("supervision", ["tsdf", "occupancy"])
def test_dora_loader_reads_the_dora_preset(preset_shards, tmp_path, supervision):
    summary = export({preset_shards["dora"]: None}, tmp_path, "dora", val_fraction=0.0)
    assert summary["objects"] == 2
    items = {Path(item["uid"]).stem: item for item in peer_loaders.dora_items(str(tmp_path), supervision_type=supervision)}
    assert set(items) == {"fandisk", "box"}
    for item in items.values():
        assert item["coarse_surface"].shape == item["sharp_surface"].shape == (32768, 6)
        assert item["rand_points"].shape == (21384 + 10000 + 10000, 3)
    data = np.load(tmp_path / "box.npz")
    near, volume = data["rand_points"][:400000], data["rand_points"][400000:]
    # The fixed split: near-surface rows lie within a few sigma of the surface, volume rows fill [-1.05, 1.05]^3.
    assert np.percentile(np.abs(near[:, 3]), 99) < 0.02 and np.abs(volume[:, :3]).max() > 1.0
    assert len(volume) == 200000
    assert_positive_inside(data["rand_points"][:, :3], data["rand_points"][:, 3], 1.0)
    box_item = items["box"]
    label = box_item["sdf"] if supervision == "tsdf" else box_item["occupancies"]
    inside = inside_box(box_item["rand_points"], 1.0)
    assert inside.sum() > 100 and (label[inside] > 0).all()
    # Dora normalises to (-1, 1): the box's longest axis spans it (plus the 0.25-voxel residual offset at 64).
    assert 1.0 <= np.abs(box_item["coarse_surface"][:, :3]).max() < 1.0 + 0.25 * 2 / 63 + 1e-6


def test_step1x_loader_reads_the_step1x_preset(preset_shards, tmp_path):
    export({preset_shards["step1x"]: None}, tmp_path, "step1x", val_fraction=0.0)
    assert sorted(p.name for p in (tmp_path / "surfaces").iterdir()) == ["box.npz", "fandisk.npz"]
    items = {item["uid"]: item for item in peer_loaders.step1x_items(str(tmp_path))}
    assert set(items) == {"fandisk", "box"}  # the uid it reports is the object, not "samples"
    for item in items.values():
        assert item["surface"].shape == item["sharp_surface"].shape == (32768, 6)
        assert item["rand_points"].shape == (10000, 3)
    inside = inside_box(items["box"]["rand_points"], 1.0)
    assert inside.sum() > 100 and (items["box"]["occupancies"][inside] == 1).all()
    box_sdf = next(item for item in peer_loaders.step1x_items(str(tmp_path), supervision_type="sdf") if item["uid"] == "box")
    inside = inside_box(box_sdf["rand_points"], 1.0)
    assert (box_sdf["sdf"][inside] > 0).all()  # pysdf's sign: positive inside
    data = np.load(tmp_path / "surfaces" / "box.npz")
    assert_positive_inside(data["volume_rand_points"][:, :3], data["volume_rand_points"][:, 3], 1.0)


@pytest.mark.parametrize("pc_size, pc_sharpedge_size", [(81920, 0), (30720, 30720), (10240, 10240)])
def test_hunyuan_loader_reads_the_hunyuan21_preset(preset_shards, tmp_path, pc_size, pc_sharpedge_size):
    export({preset_shards["hunyuan"]: None}, tmp_path, "hunyuan", val_fraction=0.0)
    items = list(peer_loaders.hunyuan_items(str(tmp_path / "train"), pc_size, pc_sharpedge_size))
    assert sorted(item["uid"] for item in items) == ["box", "fandisk"]
    assert all(item["surface"].shape == (pc_size + pc_sharpedge_size, 6) for item in items)
    surface = np.load(tmp_path / "train" / "box" / "geo_data" / "box_surface.npz")
    sdf = np.load(tmp_path / "train" / "box" / "geo_data" / "box_sdf.npz")
    assert surface["random_surface"].shape == surface["sharp_surface"].shape == (124928, 6)
    assert {array.dtype for array in (*surface.values(), *sdf.values())} == {np.dtype(np.float16)}
    assert_positive_inside(sdf["vol_points"], sdf["vol_label"], 0.99)
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert "render_cond" in manifest["missing"]


def test_triposg_loader_reads_the_triposg_preset(preset_shards, tmp_path):
    export({preset_shards["triposg"]: None}, tmp_path, "triposg", val_fraction=0.0)
    for path in json.loads((tmp_path / "train.json").read_text()):
        surface = peer_loaders.triposg_surface(path)
        assert surface.shape == (204800, 6)
        # [-1, 1] plus the watertight mesh's residual offset (0.25 voxel; at 256 that is 1.002, inside its decoder's 1.005).
        assert 1.0 - 1e-6 <= np.abs(surface[:, :3]).max() <= 1.0 + 0.25 * (2 / 63) / 0.95 + 1e-5
        assert np.allclose(np.linalg.norm(surface[:, 3:], axis=1), 1.0, atol=1e-4)


def test_vecset_loader_reads_the_vecset_preset(preset_shards, tmp_path):
    export({preset_shards["vecset"]: None}, tmp_path, "vecset", val_fraction=0.5)
    lists = sorted((tmp_path / "ShapeNetV2_point" / "02691156").glob("*.lst"))
    # No trailing newline and no empty list: its loader would read a model named "".
    assert lists and all(path.read_text() and not path.read_text().endswith("\n") for path in lists)
    items = [item for path in lists for item in peer_loaders.vecset_items(str(tmp_path), path.stem)]
    assert sorted(item["model"] for item in items) == ["box", "fandisk"]
    for item in items:
        assert item["points"].shape == (2048, 3) and item["surface"].shape == (2048, 3)
        assert set(np.unique(item["labels"])) <= {0.0, 1.0}
    item = next(item for item in items if item["model"] == "box")
    inside = inside_box(item["points"], 0.9)
    assert inside.sum() > 10 and (item["labels"][inside] == 1).all()


# --- refusals: a shard that cannot satisfy a contract writes nothing -------------------------------


def rows_only_shard(path: Path, sample: dict, normalize_bound=0.95) -> Path:
    """A shard with the row counts ``sample`` produces (values are placeholders: contracts read counts only)."""
    near = len(sample["near_surface_sigmas"]) * sample["near_surface_points_per_sigma"]
    near_salient = len(sample["near_salient_sigmas"]) * sample["near_salient_points_per_sigma"]
    counts = {"surface": (sample["surface_points"], 6), "salient": (sample["salient_points"], 6),
              "volume": (sample["volume_points"], 4), "near_surface": (near, 4), "near_salient": (near_salient, 4)}
    arrays = {key: np.zeros(shape, np.float32) for key, shape in counts.items()}
    params = {"sample": sample, "normalize": {"bound": normalize_bound}}
    write_shard_arrays(path, [("object", arrays)], {"shard": "00000", "volume_bound": 1.05, "params": params})
    return path


@pytest.mark.parametrize("layout, key", [
    ("dora", "sample.near_surface_points_per_sigma"),  # 4 x 37,500 near rows: Dora's split at 400,000 breaks
    ("hunyuan", "sample.surface_points"),  # 65,536 < its pc_size 81,920
    ("triposg", "sample.surface_points"),  # 65,536 < 204,800
])
def test_default_build_is_refused_with_the_key_to_change(tmp_path, layout, key):
    sample = {**preset_config("dora")["sample"], **validated_config({})["sample"], "frame_bound": 1.0}
    shard = rows_only_shard(tmp_path / "default.h5", sample)
    with pytest.raises(ContractError, match=key.replace(".", r"\.")) as error:
        export({shard: None}, tmp_path / "out", layout)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_frame_mismatch_is_refused(tmp_path):
    sample = preset_config("dora")["sample"] | {"frame_bound": None}
    shard = rows_only_shard(tmp_path / "frame.h5", sample)
    with pytest.raises(ContractError, match=r"sample\.frame_bound: 1\.0"):
        export({shard: None}, tmp_path / "out", "dora")


def test_step1x_needs_as_many_sharp_as_surface_points(tmp_path):
    sample = preset_config("step1x")["sample"] | {"salient_points": 50000}
    with pytest.raises(ContractError, match=r"sample\.salient_points"):
        export({rows_only_shard(tmp_path / "s.h5", sample): None}, tmp_path / "out", "step1x")


def test_cli_refusal_is_one_line_without_traceback(tmp_path):
    shard = rows_only_shard(tmp_path / "default.h5", {**validated_config({})["sample"], "frame_bound": 1.0})
    run = subprocess.run([sys.executable, "-m", "shapeprep", "export", str(shard), str(tmp_path / "out"), "--layout", "dora"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and "sample.near_surface_points_per_sigma" in run.stderr


# --- shards describe themselves -------------------------------------------------------------------


def test_shard_describes_itself_to_plain_h5py(preset_shards):
    with h5py.File(preset_shards["dora"], "r") as handle:
        assert handle.attrs["schema_version"] == 3
        assert "original = point / scale + center" in handle.attrs["to_source_frame"]
        assert "offsets[i]:offsets[i+1]" in handle["offsets/volume"].attrs["description"]
        assert list(handle["volume"].attrs["columns"]) == ["x", "y", "z", "sdf"]
        assert "negative inside" in handle["volume"].attrs["sign"]
        assert handle["objects/object_id"].asstr()[()].tolist() == ["fandisk", "box"]
        assert h5py.check_string_dtype(handle["objects/name"].dtype).encoding == "utf-8"
        sigmas = handle["near_surface_sigma"].attrs["sigmas"]
        assert sigmas.tolist() == [0.001, 0.005]
        assert len(handle["near_salient_sigma"]) == len(handle["near_salient"])


def test_sigma_labels_say_which_sigma_each_near_row_came_from(preset_shards):
    """On a box, |sdf| of a row perturbed with sigma is half-normal with median 0.674 sigma."""
    arrays, _ = read_shard_object(preset_shards["hunyuan"], "box")
    with h5py.File(preset_shards["hunyuan"], "r") as handle:
        sigmas = {"near_surface": handle["near_surface_sigma"].attrs["sigmas"], "near_salient": handle["near_salient_sigma"].attrs["sigmas"]}
    for key in ("near_surface", "near_salient"):
        labels = arrays[f"{key}_sigma"]
        assert set(np.unique(labels)) == set(range(len(sigmas[key])))
        for index, sigma in enumerate(sigmas[key]):
            if sigma > 0.05:
                continue  # wide offsets leave the box's faces near its edges
            ratio = np.median(np.abs(arrays[key][labels == index, 3].astype(np.float64))) / sigma
            assert 0.45 < ratio < 0.9, (key, sigma, ratio)


def test_reader_and_export_read_a_schema_2_shard(tmp_path):
    old = REPO / "tests" / "data" / "schema2_shard.h5"
    with h5py.File(old, "r") as handle:
        assert handle.attrs["schema_version"] == 2 and "near_surface_sigma" not in handle
    dataset = ShardDataset(str(old), surface_points=256, salient_points=128, volume_points=100, near_surface_points=100,
                           near_salient_points=56, tensors=False)
    item = dataset[0]
    assert item["surface"].shape == (256, 6) and item["query_points"].shape == (256, 3)
    export({old: None}, tmp_path, "vecset", val_fraction=0.0)
    assert sorted(p.name for p in (tmp_path / "ShapeNetV2_point" / "02691156").glob("*.npz")) == ["box.npz", "sphere.npz"]


def test_split_is_deterministic_and_stable_as_the_dataset_grows():
    ids = [f"object-{i}" for i in range(2000)]
    splits = split_objects(ids, 0.05, 0.02)
    assert 60 < len(splits["val"]) < 140 and 15 < len(splits["test"]) < 60
    grown = split_objects(ids + [f"new-{i}" for i in range(500)], 0.05, 0.02)
    assert set(splits["val"]) <= set(grown["val"]) and set(splits["train"]) <= set(grown["train"])
    assert split_objects(["a", "b"], 0.01, 0.0)["val"] != []  # a positive fraction never leaves val empty


def test_cli_exports_an_index_into_one_root(preset_shards, tmp_path):
    run = subprocess.run([sys.executable, "-m", "shapeprep", "export", str(preset_shards["step1x"]), str(tmp_path),
                          "--layout", "step1x", "--object", "box"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert list(manifest["objects"]) == ["box"] and manifest["objects"]["box"]["files"] == ["surfaces/box.npz"]
    assert manifest["sdf_sign"].startswith("positive inside")
    missing = subprocess.run([sys.executable, "-m", "shapeprep", "export", str(preset_shards["step1x"]), str(tmp_path),
                              "--layout", "step1x", "--object", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr
