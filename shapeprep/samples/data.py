"""PyTorch-friendly reader over shapeprep shards (torch is optional at import).

    from torch.utils.data import DataLoader
    from shapeprep.samples.data import ShardDataset

    dataset = ShardDataset("results/index.parquet")           # or a shard path, or a list of them
    loader = DataLoader(dataset, batch_size=16, shuffle=True, num_workers=8)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)                              # only matters with a fixed seed
        for batch in loader:
            batch["surface"]       # (B, 16384, 6) xyz + normal on the watertight surface
            batch["salient"]       # (B, 16384, 6) xyz + normal on sharp edges
            batch["query_points"]  # (B, 32768, 3) volume, then near-surface, then near-salient
            batch["query_sdf"]     # (B, 32768) signed distance, negative inside

Each item draws a fresh random subset of every point set. Stored rows are in
random order, so by default (``subset="window"``) a subset is one contiguous
window at a random offset (wrapping around): one HDF5 read per set, and each
epoch's subset is a uniform random subset of the stored points.
``subset="random"`` reads the object's rows and picks exact random rows, as
the peers' npz loaders do. HDF5 files are opened lazily in each worker
process, never shared across a fork.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import READABLE_SHARD_SCHEMAS
from .shards import SAMPLE_KEYS, shard_objects

try:  # torch is optional: without it the dataset still works and returns numpy arrays
    from torch.utils.data import Dataset as _DatasetBase
except ImportError:  # pragma: no cover - exercised only where torch is absent
    _DatasetBase = object

#: Points drawn per item by default: 32768 input points (as Dora's VAE) and 32768 SDF queries.
DEFAULT_COUNTS = {"surface": 16384, "salient": 16384, "volume": 8192, "near_surface": 12288, "near_salient": 12288}
QUERY_SETS = ("volume", "near_surface", "near_salient")


def _list_objects(source, require_salient: bool) -> list[tuple[str, int, str]]:
    """``(shard path, position, object id)`` per object, from an index parquet, a shard, or a list of shards.

    With an index no shard is opened here, so start-up stays fast at 500k objects.
    """
    if isinstance(source, (str, Path)) and str(source).endswith(".parquet"):
        import pandas as pd

        index = pd.read_parquet(source)
        index = index[(index["status"] == "ok") & (index["shard_file"] != "")]
        if require_salient:
            index = index[~index["salient_fallback"].astype(bool)]
        root = Path(source).parent
        return [(str(root / row.shard_file), int(row.position), row.object_id) for row in index.itertuples()]
    paths = [source] if isinstance(source, (str, Path)) else source
    items = []
    for path in paths:
        table = shard_objects(path)
        for position, row in table.iterrows():
            if not (require_salient and row["salient_fallback"]):
                items.append((str(path), int(position), row["object_id"]))
    return items


class ShardDataset(_DatasetBase):
    """Random subsets of every object's point sets, one item per object.

    Parameters
    ----------
    source : str, Path or list
        ``index.parquet`` (objects with status ``ok``), one shard, or a list of shards.
    surface_points, salient_points, volume_points, near_surface_points, near_salient_points : int
        Rows drawn per item from each set (defaults: :data:`DEFAULT_COUNTS`).
        When an object stores fewer rows than asked, random rows are repeated.
    subset : ``"window"`` or ``"random"``
    occupancy : bool
        Also return ``query_occupancy`` (1.0 inside, i.e. sdf < 0; 0.0 outside).
    seed : int or None
        None draws fresh subsets every time. An int makes item ``i`` of epoch
        ``e`` (see :meth:`set_epoch`) depend only on ``(seed, e, i)``.
    require_salient : bool
        Leave out objects flagged ``salient_fallback`` (no sharp edges; their
        salient set holds uniform surface points).
    tensors : bool
        Return torch tensors (when torch is installed) instead of numpy arrays.

    Items
    -----
    dict with ``surface (N, 6)``, ``salient (K, 6)``, ``query_points (M, 3)``,
    ``query_sdf (M,)`` float32 (queries: volume rows, then near-surface, then
    near-salient), optionally ``query_occupancy (M,)``, and ``object_id``.
    """

    def __init__(
        self,
        source,
        surface_points: int = DEFAULT_COUNTS["surface"],
        salient_points: int = DEFAULT_COUNTS["salient"],
        volume_points: int = DEFAULT_COUNTS["volume"],
        near_surface_points: int = DEFAULT_COUNTS["near_surface"],
        near_salient_points: int = DEFAULT_COUNTS["near_salient"],
        subset: str = "window",
        occupancy: bool = False,
        seed: int | None = None,
        require_salient: bool = False,
        tensors: bool = True,
    ):
        if subset not in ("window", "random"):
            raise ValueError(f"subset must be 'window' or 'random', not {subset!r}")
        self.counts = {
            "surface": surface_points, "salient": salient_points, "volume": volume_points,
            "near_surface": near_surface_points, "near_salient": near_salient_points,
        }
        self.subset, self.occupancy, self.seed, self.tensors = subset, occupancy, seed, tensors
        self.epoch = 0
        self.items = _list_objects(source, require_salient)
        self._handles: dict = {}
        self._offsets: dict = {}
        self._pid = None

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the subsets drawn when ``seed`` is fixed (call once per epoch)."""
        self.epoch = int(epoch)

    def __getstate__(self):
        # Open HDF5 handles must not cross into DataLoader workers; each reopens its own.
        state = dict(self.__dict__)
        state["_handles"], state["_offsets"], state["_pid"] = {}, {}, None
        return state

    def _handle(self, path: str):
        import h5py

        if self._pid != os.getpid():  # forked since the files were opened
            self._handles, self._offsets, self._pid = {}, {}, os.getpid()
        if path not in self._handles:
            handle = h5py.File(path, "r")
            version = int(handle.attrs.get("schema_version", 0))
            if version not in READABLE_SHARD_SCHEMAS:
                handle.close()
                raise ValueError(f"{path}: shard schema {version}; this reader reads {READABLE_SHARD_SCHEMAS}")
            self._handles[path] = handle
            if handle.attrs["layout"] == "concatenated":
                self._offsets[path] = {key: handle[f"offsets/{key}"][()] for key in SAMPLE_KEYS}
            else:
                self._offsets[path] = None
        return self._handles[path]

    def _rows(self, path: str, key: str, position: int, object_id: str):
        """The dataset holding one object's rows of a set, and the row range."""
        handle = self._handle(path)
        offsets = self._offsets[path]
        if offsets is None:  # per-object groups (benchmark layout)
            dataset = handle[f"groups/{object_id}/{key}"]
            return dataset, 0, dataset.shape[0]
        return handle[key], int(offsets[key][position]), int(offsets[key][position + 1])

    def _draw(self, dataset, start: int, stop: int, count: int, rng: np.random.Generator) -> np.ndarray:
        available = stop - start
        if count == 0 or available == 0:
            return np.zeros((count if available else 0, dataset.shape[1]), dtype=np.float32)
        if count >= available or self.subset == "random":
            rows = dataset[start:stop]
            if count >= available:
                extra = rng.integers(0, available, count - available)
                return np.concatenate([rows, rows[extra]]).astype(np.float32, copy=False)
            return rows[np.sort(rng.choice(available, count, replace=False))].astype(np.float32, copy=False)
        offset = int(rng.integers(0, available))
        first = dataset[start + offset : start + min(offset + count, available)]
        if len(first) == count:
            return first.astype(np.float32, copy=False)
        second = dataset[start : start + count - len(first)]
        return np.concatenate([first, second]).astype(np.float32, copy=False)

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict:
        path, position, object_id = self.items[index]
        rng = self._rng(index)
        drawn = {key: self._draw(*self._rows(path, key, position, object_id), count, rng) for key, count in self.counts.items()}
        queries = np.concatenate([drawn[key] for key in QUERY_SETS])
        item = {
            "surface": drawn["surface"],
            "salient": drawn["salient"],
            "query_points": np.ascontiguousarray(queries[:, :3]),
            "query_sdf": np.ascontiguousarray(queries[:, 3]),
        }
        if self.occupancy:
            item["query_occupancy"] = (item["query_sdf"] < 0).astype(np.float32)
        if self.tensors and _DatasetBase is not object:
            import torch

            item = {key: torch.from_numpy(value) for key, value in item.items()}
        item["object_id"] = object_id
        return item
