"""Sparse SDF shards: one HDF5 file per shard of objects, concatenated like the point shards.

Layout (``layout`` attribute ``sparse_sdf``, ``schema_version`` :data:`SPARSE_SCHEMA_VERSION`)::

    /                 attrs: resolution, truncation_voxels, sdf_units ("voxels"), sdf_sign_convention,
                             sdf_storage, coarse_resolution, occupancy, order ("morton"), shard, num_objects,
                             params (JSON), package_versions (JSON), to_source_frame
    /coords           (sum N, 3) uint16   grid indices (i, j, k) of the active voxels, Morton order per object;
                                          grid point i is at -1 + i * 2 / (resolution - 1)
    /sdf              (sum N,)  float16   signed distance to the watertight mesh in voxels, negative inside
                      (or int8: value * truncation_voxels / 127, attribute ``scale``)
    /offsets          (n + 1,)  int64     object i owns rows offsets[i]:offsets[i+1]
    /occupancy        (n, coarse^3 / 8) uint8   np.packbits of the (coarse,)^3 bool grid in C order:
                                          coarse cells holding an active voxel
    /objects/...      the per-object table (shapeprep.tables), as in the point shards
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import SDF_SIGN_CONVENTION
from ..atomic import atomic_path
from ..tables import TO_SOURCE_FRAME, read_object_table, write_object_table
from .sparse import occupancy_grid

SPARSE_SCHEMA_VERSION = 1
#: Storage types of the SDF values.
SDF_STORAGE = ("float16", "int8")


def encode_sdf(sdf: np.ndarray, storage: str, truncation_voxels: float) -> np.ndarray:
    """Voxel-unit SDF ``(N,)`` to its stored form (float16, or int8 steps of ``truncation / 127``)."""
    if storage == "float16":
        return np.asarray(sdf, dtype=np.float16)
    if storage == "int8":
        return np.clip(np.round(np.asarray(sdf) / truncation_voxels * 127.0), -127, 127).astype(np.int8)
    raise ValueError(f"sdf storage must be one of {SDF_STORAGE}, not {storage!r}")


def decode_sdf(stored: np.ndarray, storage: str, truncation_voxels: float) -> np.ndarray:
    """Stored SDF back to voxel units: ``(N,)`` float32."""
    if storage == "int8":
        return stored.astype(np.float32) * np.float32(truncation_voxels / 127.0)
    return stored.astype(np.float32)


def write_sparse_shard(path: str | Path, objects: list[dict], load: Callable[[str], tuple[np.ndarray, np.ndarray]],
                       counts: list[int], attrs: dict, storage: str = "float16", compression: str | None = None) -> None:
    """Write a sparse SDF shard atomically, one object in memory at a time.

    Parameters
    ----------
    objects : per-object rows of the object table (``object_id``, ``center``, ``scale``, ...)
    load : ``object_id -> (coords (N, 3) int, sdf (N,) float voxels)``
    counts : active voxels per object, in order
    attrs : ``resolution``, ``truncation_voxels``, ``shard``; optional ``coarse_resolution`` (64),
        ``params``, ``package_versions``
    storage : ``float16`` or ``int8``
    compression : None/``none``, ``lzf`` or ``gzip``
    """
    import h5py

    compression = None if compression in (None, "none") else compression
    resolution, truncation = int(attrs["resolution"]), float(attrs["truncation_voxels"])
    coarse = int(attrs.get("coarse_resolution", 64))
    offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    total = int(offsets[-1])
    with atomic_path(path) as temporary, h5py.File(temporary, "w", track_order=True) as out:
        out.attrs.update({
            "layout": "sparse_sdf", "schema_version": SPARSE_SCHEMA_VERSION, "resolution": resolution,
            "truncation_voxels": truncation, "sdf_units": "voxels (grid spacing 2 / (resolution - 1))",
            "sdf_sign_convention": SDF_SIGN_CONVENTION, "sdf_storage": storage, "coarse_resolution": coarse,
            "occupancy": f"np.packbits of the ({coarse},)^3 C-order grid of coarse cells holding an active voxel",
            "order": "morton", "shard": str(attrs["shard"]), "num_objects": len(objects),
            "to_source_frame": TO_SOURCE_FRAME.replace("point", "(-1 + index * 2 / (resolution - 1))", 1),
            "params": json.dumps(attrs.get("params", {}), sort_keys=True, default=str),
            "package_versions": json.dumps(attrs.get("package_versions", {}), sort_keys=True),
        })
        write_object_table(out.create_group("objects"), objects)
        offset_set = out.create_dataset("offsets", data=offsets)
        offset_set.attrs["description"] = "object i owns rows offsets[i]:offsets[i+1] of /coords and /sdf"
        chunks = (min(1 << 16, max(total, 1)), 3) if compression else None
        coords_set = out.create_dataset("coords", shape=(total, 3), dtype=np.uint16, chunks=chunks, compression=compression)
        coords_set.attrs["description"] = "grid indices (i, j, k) of the active voxels, Morton order within each object"
        sdf_set = out.create_dataset("sdf", shape=(total,), dtype=storage, chunks=chunks and (chunks[0],),
                                     compression=compression)
        sdf_set.attrs["description"] = f"signed distance in voxels, {SDF_SIGN_CONVENTION}"
        if storage == "int8":
            sdf_set.attrs["scale"] = truncation / 127.0
        occupancy = out.create_dataset("occupancy", shape=(len(objects), coarse**3 // 8), dtype=np.uint8)
        for position, row in enumerate(objects):
            coords, sdf = load(row["object_id"])
            start, stop = offsets[position], offsets[position + 1]
            if len(coords) != stop - start:
                raise ValueError(f"{row['object_id']}: {len(coords)} active voxels, {stop - start} announced")
            coords_set[start:stop] = np.asarray(coords, dtype=np.uint16)
            sdf_set[start:stop] = encode_sdf(sdf, storage, truncation)
            occupancy[position] = np.packbits(occupancy_grid(coords, resolution, coarse).ravel())


def read_sparse_object(handle, position: int) -> dict:
    """One object of an open sparse shard: ``coords (N, 3) int64``, ``sdf (N,) float32`` voxels, ``occupancy`` bool grid."""
    offsets = handle["offsets"]
    start, stop = int(offsets[position]), int(offsets[position + 1])
    coarse = int(handle.attrs["coarse_resolution"])
    storage, truncation = str(handle.attrs["sdf_storage"]), float(handle.attrs["truncation_voxels"])
    occupancy = np.unpackbits(handle["occupancy"][position])[: coarse**3].reshape((coarse,) * 3).astype(bool)
    return {"coords": handle["coords"][start:stop].astype(np.int64),
            "sdf": decode_sdf(handle["sdf"][start:stop], storage, truncation), "occupancy": occupancy}


def sparse_objects(path: str | Path):
    """The object table of a sparse shard (DataFrame)."""
    import h5py

    with h5py.File(path, "r") as handle:
        return read_object_table(handle["objects"])
