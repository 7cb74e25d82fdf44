"""Shard round trip through the torch Dataset and DataLoader workers."""

import h5py
import numpy as np
import pytest

from shapeprep.samples.data import ShardDataset
from shapeprep.samples.shards import (
    SAMPLE_KEYS,
    read_shard_object,
    shard_objects,
    write_shard,
    write_shard_arrays,
)

torch = pytest.importorskip("torch")

ROWS = {"surface": 300, "salient": 200, "volume": 400, "near_surface": 250, "near_salient": 150}


def fake_object(tag: int, rows=ROWS) -> dict:
    """Arrays whose every row is tagged with the object (first column) and unique (second)."""
    arrays = {}
    for key, count in rows.items():
        width = 6 if key in ("surface", "salient") else 4
        data = np.zeros((count, width), dtype=np.float32)
        data[:, 0] = tag
        data[:, 1] = np.arange(count)
        data[:, -1] = -0.5 + np.arange(count) / count  # sdf / normal-z column: both signs
        arrays[key] = data
    return arrays


@pytest.fixture
def shard(tmp_path):
    path = tmp_path / "00000.h5"
    write_shard_arrays(path, [(f"obj{tag}", fake_object(tag)) for tag in range(5)], {"shard": "00000"})
    return path


def small_dataset(path, **options):
    counts = dict(surface_points=64, salient_points=32, volume_points=40, near_surface_points=30, near_salient_points=20)
    return ShardDataset(path, **{**counts, **options})


@pytest.mark.parametrize("subset", ["window", "random"])
def test_items_hold_distinct_rows_of_their_own_object(shard, subset):
    dataset = small_dataset(shard, subset=subset)
    assert len(dataset) == 5
    for index in range(5):
        item = dataset[index]
        assert item["object_id"] == f"obj{index}"
        assert tuple(item["surface"].shape) == (64, 6) and tuple(item["salient"].shape) == (32, 6)
        assert tuple(item["query_points"].shape) == (90, 3) and tuple(item["query_sdf"].shape) == (90,)
        assert (item["surface"][:, 0] == index).all() and (item["query_points"][:, 0] == index).all()
        assert len(torch.unique(item["surface"][:, 1])) == 64  # a subset, no repeats


def test_window_subsets_cover_every_row_over_epochs(shard):
    dataset = small_dataset(shard, seed=0)
    seen = set()
    for epoch in range(60):
        dataset.set_epoch(epoch)
        seen |= set(dataset[2]["surface"][:, 1].int().tolist())
    assert seen == set(range(ROWS["surface"]))


def test_fixed_seed_is_reproducible_and_epochs_differ(shard):
    first, second = small_dataset(shard, seed=7), small_dataset(shard, seed=7)
    assert torch.equal(first[1]["surface"], second[1]["surface"])
    second.set_epoch(1)
    assert not torch.equal(first[1]["surface"], second[1]["surface"])


def test_occupancy_is_one_inside(shard):
    item = small_dataset(shard, occupancy=True)[0]
    assert torch.equal(item["query_occupancy"], (item["query_sdf"] < 0).float())


def test_dataloader_with_two_workers_reads_every_object(shard):
    from torch.utils.data import DataLoader

    dataset = small_dataset(shard, seed=1)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, shuffle=True)
    batches = list(loader)
    ids = [object_id for batch in batches for object_id in batch["object_id"]]
    assert sorted(ids) == [f"obj{tag}" for tag in range(5)]
    assert tuple(batches[0]["surface"].shape) == (2, 64, 6)
    for batch in batches:
        for object_id, queries in zip(batch["object_id"], batch["query_points"]):
            assert (queries[:, 0] == int(object_id[3:])).all()


def test_objects_with_fewer_rows_than_asked_repeat_rows(tmp_path):
    path = tmp_path / "small.h5"
    write_shard_arrays(path, [("tiny", fake_object(0, {**ROWS, "salient": 10}))], {"shard": "x"})
    item = small_dataset(path)[0]
    assert tuple(item["salient"].shape) == (32, 6) and set(item["salient"][:, 1].int().tolist()) == set(range(10))


@pytest.mark.parametrize("options", [dict(dtype="float16"), dict(compression="lzf"), dict(layout="groups")])
def test_other_storage_options_read_back(tmp_path, options):
    path = tmp_path / "variant.h5"
    items = [(f"obj{tag}", fake_object(tag)) for tag in range(3)]
    write_shard_arrays(path, items, {"shard": "v"}, **options)
    for object_id, arrays in items:
        stored, _ = read_shard_object(path, object_id)
        for key in SAMPLE_KEYS:
            assert stored[key].dtype == np.float32
            assert np.allclose(stored[key], arrays[key], atol=1e-3 if options.get("dtype") == "float16" else 0)
    assert small_dataset(path)[2]["surface"][:, 0].eq(2).all()


def test_shard_metadata_and_an_interrupted_write_leaves_nothing(tmp_path):
    path = tmp_path / "meta.h5"
    objects = [{"object_id": "a", "center": (1.0, 2.0, 3.0), "scale": 0.5, "salient_fallback": True,
                "validation": {"genus": 0}}]
    arrays = fake_object(0)
    write_shard(path, objects, lambda _: arrays, {key: [len(arrays[key])] for key in SAMPLE_KEYS},
                {"shard": "s", "volume_bound": 1.05, "params": {"sample": {"seed": 0}}})
    table = shard_objects(path)
    assert table.loc[0, "center_z"] == 3.0 and table.loc[0, "scale"] == 0.5 and table.loc[0, "salient_fallback"]
    assert table.loc[0, "validation"] == {"genus": 0}
    with h5py.File(path) as handle:
        assert handle.attrs["sdf_sign_convention"].startswith("negative inside") and handle.attrs["volume_bound"] == 1.05
        assert list(handle["offsets/surface"][()]) == [0, ROWS["surface"]]

    def crash(_):
        raise RuntimeError("killed mid-write")

    broken = tmp_path / "broken.h5"
    with pytest.raises(RuntimeError):
        write_shard(broken, objects, crash, {key: [len(arrays[key])] for key in SAMPLE_KEYS}, {"shard": "s"})
    assert list(tmp_path.glob("*broken*")) == []
