"""Render shards as TRELLIS's dataset loaders read them: ``renders_cond/<object id>/{NNN.png, transforms.json}``.

TRELLIS's image-conditioned datasets open ``<root>/renders_cond/<instance>/transforms.json``,
pick a frame and load ``<that folder>/<frame["file_path"]>`` as RGBA (cropping to the
alpha's bounding box). The instance is the object's sha256, which is our object id for
Objaverse-XL and local files. Cameras stay in our normalised frame (+y up, objects in
+-0.95), not TRELLIS's Blender frame (+z up, +-0.5): image conditioning reads only the
images; ``scale`` and ``offset`` in the file map the source to our frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..tables import decode_strings
from .store import read_views


def export_trellis(shards: list[str | Path], output: str | Path, objects: set[str] | None = None) -> dict:
    """Write every object of the render shards (or only ``objects``) under ``output/renders_cond``.

    Returns ``{"objects": n, "views": k}``. Each object's folder is complete when
    its ``transforms.json`` exists (written last, atomically).
    """
    import h5py
    from PIL import Image

    root = Path(output) / "renders_cond"
    count = views = 0
    for shard in shards:
        with h5py.File(shard, "r") as handle:
            for position, object_id in enumerate(decode_strings(handle["objects/object_id"][()])):
                if objects is not None and object_id not in objects:
                    continue
                arrays = read_views(handle, position)
                folder = root / object_id
                folder.mkdir(parents=True, exist_ok=True)
                transforms = arrays["transforms"]
                for frame, rgba in zip(transforms["frames"], arrays["rgba"]):
                    with atomic_path(folder / frame["file_path"]) as temporary:
                        Image.fromarray(np.ascontiguousarray(rgba)).save(temporary, format="PNG")
                with atomic_path(folder / "transforms.json") as temporary:
                    temporary.write_text(json.dumps(transforms, indent=1))
                count += 1
                views += len(arrays["rgba"])
    return {"objects": count, "views": views}
