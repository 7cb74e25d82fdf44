"""Render shards: one HDF5 file per shard of objects, views concatenated like the point shards.

Layout (``layout`` attribute ``views``, ``schema_version`` :data:`VIEWS_SCHEMA_VERSION`)::

    /              attrs: resolution, fov_deg, radius, shading, camera_convention, frame, shard, num_objects,
                          params (JSON), package_versions (JSON)
    /rgba          (V, r, r, 4) uint8    colour of the textured source, straight alpha, background 0
    /normal        (V, r, r, 3) uint8    world-space normal turned to the camera, (n + 1) / 2 * 255; background 0
    /depth         (V, r, r)    float16  distance along the viewing axis, normalised-frame units; background 0
    /c2w           (V, 4, 4)    float32  camera-to-world (OpenGL / Blender / NeRF: the camera looks along -z)
    /offsets       (n + 1,)     int64    object i owns views offsets[i]:offsets[i+1]
    /transforms    (n,) str              each object's transforms.json (NeRF / TRELLIS), JSON text
    /objects/...   the per-object table (shapeprep.tables), as in the point shards

Images are chunked one view per chunk (a training step reads views at
random), compressed with ``compression`` (``gzip`` level 4 by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..tables import read_object_table, write_object_table

VIEWS_SCHEMA_VERSION = 1
CAMERA_CONVENTION = ("camera-to-world; columns right (+x), up (+y), backward (+z), position; the camera looks "
                     "along -z (OpenGL, Blender, NeRF transforms.json); pixel (u, v) from the top-left corner")


def write_view_shard(path: str | Path, objects: list[dict], load: Callable[[str], dict], counts: list[int],
                     attrs: dict, compression: str | None = "gzip") -> None:
    """Write a render shard atomically, one object in memory at a time.

    Parameters
    ----------
    objects : per-object rows of the object table (``object_id``, ``center``, ``scale``, ...)
    load : ``object_id -> {"rgba", "normal", "depth", "c2w", "transforms"}`` (one object's views)
    counts : views per object, in order
    attrs : ``resolution``, ``fov_deg``, ``radius``, ``shading``, ``shard``; optional ``params``,
        ``package_versions``
    compression : ``none``, ``lzf`` or ``gzip``
    """
    import h5py

    options = {} if compression in (None, "none") else (
        {"compression": "gzip", "compression_opts": 4} if compression == "gzip" else {"compression": compression})
    size = int(attrs["resolution"])
    offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    total = int(offsets[-1])
    with atomic_path(path) as temporary, h5py.File(temporary, "w", track_order=True) as out:
        out.attrs.update({
            "layout": "views", "schema_version": VIEWS_SCHEMA_VERSION, "resolution": size,
            "fov_deg": float(attrs["fov_deg"]), "radius": float(attrs["radius"]), "shading": str(attrs["shading"]),
            "camera_convention": CAMERA_CONVENTION, "frame": "the normalised frame of the point shards (+y up)",
            "shard": str(attrs["shard"]), "num_objects": len(objects),
            "params": json.dumps(attrs.get("params", {}), sort_keys=True, default=str),
            "package_versions": json.dumps(attrs.get("package_versions", {}), sort_keys=True),
        })
        write_object_table(out.create_group("objects"), objects)
        out.create_dataset("offsets", data=offsets).attrs["description"] = "object i owns views offsets[i]:offsets[i+1]"
        images = {}
        for name, channels, dtype, description in (
                ("rgba", (4,), np.uint8, "colour of the textured source, straight alpha, transparent background"),
                ("normal", (3,), np.uint8, "world-space unit normal turned towards the camera, (n + 1) / 2 * 255"),
                ("depth", (), np.float16, "distance along the viewing axis in normalised-frame units, 0 = background")):
            shape = (size, size, *channels)
            images[name] = out.create_dataset(name, shape=(total, *shape), dtype=dtype,
                                              chunks=(1, *shape) if total else None, **(options if total else {}))
            images[name].attrs["description"] = description
        c2w = out.create_dataset("c2w", shape=(total, 4, 4), dtype=np.float32)
        c2w.attrs["description"] = CAMERA_CONVENTION
        transforms = out.create_dataset("transforms", shape=(len(objects),), dtype=h5py.string_dtype())
        for position, row in enumerate(objects):
            views = load(row["object_id"])
            start, stop = offsets[position], offsets[position + 1]
            if len(views["rgba"]) != stop - start:
                raise ValueError(f"{row['object_id']}: {len(views['rgba'])} views, {stop - start} announced")
            for name, dataset in images.items():
                dataset[start:stop] = np.asarray(views[name], dtype=dataset.dtype)
            c2w[start:stop] = views["c2w"]
            transforms[position] = json.dumps(views["transforms"])


def read_views(handle, position: int, views=None) -> dict:
    """Views of one object of an open render shard: ``rgba (k, r, r, 4) uint8``, ``normal``, ``depth float32``,
    ``c2w (k, 4, 4)``, ``transforms`` (dict); ``views`` picks some (indices within the object)."""
    offsets = handle["offsets"]
    start, stop = int(offsets[position]), int(offsets[position + 1])
    rows = np.arange(start, stop) if views is None else start + np.asarray(views, dtype=np.int64)
    rows = np.sort(rows)
    return {"rgba": handle["rgba"][rows], "normal": handle["normal"][rows],
            "depth": handle["depth"][rows].astype(np.float32), "c2w": handle["c2w"][rows],
            "transforms": json.loads(handle["transforms"][position])}


def view_objects(path: str | Path):
    """The object table of a render shard (DataFrame)."""
    import h5py

    with h5py.File(path, "r") as handle:
        return read_object_table(handle["objects"])

