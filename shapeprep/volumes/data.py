"""A torch reader of sparse SDF shards, and the collate that sparse convolution libraries take.

    from torch.utils.data import DataLoader
    from shapeprep.data import SparseSDFDataset, sparse_collate

    dataset = SparseSDFDataset("results/sparse_sdf")           # a folder, one shard, or a list of shards
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=sparse_collate)
    batch = next(iter(loader))
    # batch["coords"] (sum N, 4) int32: batch index, i, j, k   (spconv, torchsparse, TRELLIS SparseTensor)
    # batch["feats"]  (sum N, 1) float32: signed distance in voxels, negative inside
    # batch["occupancy"] (B, 64, 64, 64) bool; batch["object_id"] list

Files open lazily in each worker process and are never shared across a fork.
"""

from __future__ import annotations

import numpy as np

from ..shardfiles import ShardHandles, shard_paths
from .store import read_sparse_object

try:  # torch is optional: without it items are numpy arrays
    from torch.utils.data import Dataset as _DatasetBase
except ImportError:  # pragma: no cover - exercised only where torch is absent
    _DatasetBase = object


class SparseSDFDataset(_DatasetBase):
    """Items ``coords (N, 3) int64``, ``sdf (N,) float32`` (voxels, negative inside), ``occupancy64`` and ``object_id``.

    Parameters
    ----------
    source : folder of sparse shards, one shard, or a list of shards
    tensors : return torch tensors (when torch imports)
    """

    def __init__(self, source, tensors: bool = True):
        import h5py

        self.files = shard_paths(source)
        self.items = []
        for path in self.files:
            with h5py.File(path, "r") as handle:
                ids = handle["objects/object_id"].asstr()[()]
                self.items += [(path, position, str(object_id)) for position, object_id in enumerate(ids)]
        self.tensors = tensors
        self._handle = ShardHandles()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, position, object_id = self.items[index]
        arrays = read_sparse_object(self._handle(path), position)
        item = {"coords": arrays["coords"], "sdf": arrays["sdf"], "occupancy64": arrays["occupancy"]}
        if self.tensors and _DatasetBase is not object:
            import torch

            item = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in item.items()}
        item["object_id"] = object_id
        return item


def sparse_collate(items: list[dict]) -> dict:
    """Batch sparse items: ``coords (sum N, 4) int32`` with the batch index first, ``feats (sum N, 1) float32``,
    ``occupancy (B, 64, 64, 64) bool``, ``object_id`` list."""
    import torch

    coords = [torch.as_tensor(item["coords"]) for item in items]
    batch = torch.cat([torch.full((len(c), 1), b, dtype=torch.int32) for b, c in enumerate(coords)])
    return {
        "coords": torch.cat([batch, torch.cat(coords).to(torch.int32)], dim=1),
        "feats": torch.cat([torch.as_tensor(item["sdf"]).reshape(-1, 1) for item in items]).to(torch.float32),
        "occupancy": torch.stack([torch.as_tensor(item["occupancy64"]) for item in items]),
        "object_id": [item["object_id"] for item in items],
    }
