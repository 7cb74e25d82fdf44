"""A torch reader of render shards: random views of each object with their cameras.

    from torch.utils.data import DataLoader
    from shapeprep.data import ViewDataset

    dataset = ViewDataset("results/render", views_per_item=2, background=1.0)
    loader = DataLoader(dataset, batch_size=8, num_workers=2, shuffle=True)
    batch = next(iter(loader))
    # batch["image"] (B, 2, 3, r, r) float in [0, 1], composited over the background
    # batch["alpha"] (B, 2, 1, r, r); batch["normal"] (B, 2, 3, r, r) in [-1, 1]; batch["depth"] (B, 2, r, r)
    # batch["c2w"] (B, 2, 4, 4) (OpenGL/Blender camera: looks along -z); batch["intrinsics"] (B, 3, 3) pixels

Views are drawn at random, or from ``(seed, epoch, index)`` with a fixed ``seed``
(:meth:`ViewDataset.set_epoch`), so a run can be repeated exactly.
"""

from __future__ import annotations

import numpy as np

from ..shardfiles import ShardHandles, shard_paths
from .store import read_views

try:  # torch is optional: without it items are numpy arrays
    from torch.utils.data import Dataset as _DatasetBase
except ImportError:  # pragma: no cover - exercised only where torch is absent
    _DatasetBase = object


def intrinsics_matrix(transforms: dict) -> np.ndarray:
    """``(3, 3)`` pixel intrinsics ``[[fl_x, 0, cx], [0, fl_y, cy], [0, 0, 1]]`` of a transforms.json (OpenCV form:
    with the camera's y and z negated, as OpenCV looks along +z with y down)."""
    return np.array([[transforms["fl_x"], 0.0, transforms["cx"]], [0.0, transforms["fl_y"], transforms["cy"]],
                     [0.0, 0.0, 1.0]], dtype=np.float32)


class ViewDataset(_DatasetBase):
    """One item per object: ``views_per_item`` of its views.

    Parameters
    ----------
    source : folder of render shards, one shard, or a list of shards
    views_per_item : views drawn per item (without replacement; at most the object's views)
    background : None keeps ``rgba``; a value in [0, 1] gives ``image`` composited over that grey and ``alpha``
    seed : None draws views at random; an int draws them from ``(seed, epoch, index)``
    tensors : return torch tensors, channels first (when torch imports)
    """

    def __init__(self, source, views_per_item: int = 1, background: float | None = 1.0, seed: int | None = None,
                 tensors: bool = True):
        import h5py

        self.files = shard_paths(source)
        self.items = []
        for path in self.files:
            with h5py.File(path, "r") as handle:
                ids = handle["objects/object_id"].asstr()[()]
                counts = np.diff(handle["offsets"][()])
                self.items += [(path, position, str(object_id), int(count))
                               for position, (object_id, count) in enumerate(zip(ids, counts))]
        self.views_per_item, self.background, self.seed, self.tensors = views_per_item, background, seed, tensors
        self.epoch = 0
        self._handle = ShardHandles()

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the views drawn when ``seed`` is fixed (call once per epoch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        path, position, object_id, count = self.items[index]
        rng = np.random.default_rng(None if self.seed is None else [self.seed, self.epoch, index])
        picks = rng.choice(count, size=min(self.views_per_item, count), replace=False)
        arrays = read_views(self._handle(path), position, np.sort(picks))
        transforms = arrays["transforms"]
        rgba = arrays["rgba"].astype(np.float32) / 255.0
        item = {"normal": arrays["normal"].astype(np.float32) / 127.5 - 1.0, "depth": arrays["depth"],
                "c2w": arrays["c2w"], "intrinsics": intrinsics_matrix(transforms),
                "view_index": np.sort(picks).astype(np.int64)}
        if self.background is None:
            item["rgba"] = rgba
        else:
            item["image"] = rgba[..., :3] * rgba[..., 3:] + self.background * (1.0 - rgba[..., 3:])
            item["alpha"] = rgba[..., 3:]
        if self.tensors and _DatasetBase is not object:
            import torch

            channels_first = {"rgba", "image", "alpha", "normal"}
            item = {key: torch.from_numpy(np.ascontiguousarray(np.moveaxis(value, -1, 1) if key in channels_first else value))
                    for key, value in item.items()}
        item["object_id"] = object_id
        return item
