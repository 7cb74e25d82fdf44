"""Sparse SDF job: the active voxels and signed distances of every validated object's watertight mesh."""

from __future__ import annotations

import os
import time
from functools import partial

import numpy as np

from ..atomic import write_table
from ..geometry.nearsurface import set_threads
from ..sources.manifest import read_shard_list
from ..status import ok_objects, read_status
from ..volumes.sparse import sparse_sdf
from ..volumes.store import write_sparse_shard
from .meshstore import read_mesh
from .objects import run_objects
from .provenance import package_versions
from .worker import Limits


def sparse_one(object_id: str, watertight: str, resolution: int, truncation_voxels: float,
               threads: int) -> tuple[dict, tuple]:
    """One object's active voxels: ``(metrics, (coords, sdf))``. Runs in the job's worker process."""
    set_threads(threads)
    vertices, faces, _ = read_mesh(watertight, object_id)
    start = time.perf_counter()
    coords, sdf = sparse_sdf(vertices, faces, resolution, truncation_voxels)
    # inside_voxels 0: the object is thinner than a voxel (a sheet's slab): exact values, but no sign change
    # for marching cubes to find. Kept and counted, never dropped.
    metrics = {"active_voxels": int(len(coords)), "inside_voxels": int((sdf < 0).sum()),
               "inside_fraction": float((sdf < 0).mean()) if len(sdf) else 0.0,
               "seconds_sparse": time.perf_counter() - start}
    return metrics, (coords.astype(np.uint16), sdf.astype(np.float32))


def run(shard_list: str, normalize_status: str, validate_status: str, watertight: str, settings: dict,
        sparse_file: str, status: str, shard: str, threads: int = 1, limits: Limits | None = None,
        journal: str | None = None) -> None:
    """Write ``sparse_file`` (:mod:`shapeprep.volumes.store`) for every object that passed validation.

    Parameters
    ----------
    shard_list, normalize_status, validate_status : the shard's manifest, normalize and validate tables
    watertight : the watertight meshes
    settings : the ``sparse_sdf`` config section (``resolution``, ``truncation_voxels``, ``storage``,
        ``compression``, ``coarse_resolution``) plus ``code``
    sparse_file : output HDF5; status : output parquet (active voxels and seconds per object)
    shard : the shard's name
    threads : the rule's threads, used by the distance kernels
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    import h5py

    objects = read_shard_list(shard_list).set_index("object_id")
    normalized = read_status(normalize_status).set_index("object_id")
    parts = f"{sparse_file}.parts"  # each object as it finishes; the final file is written from it in order
    process = partial(sparse_one, watertight=watertight, resolution=settings["resolution"],
                      truncation_voxels=settings["truncation_voxels"], threads=threads)
    with h5py.File(parts, "w") as store_file:

        def store(object_id: str, payload: tuple) -> None:
            group = store_file.create_group(object_id)
            group.create_dataset("coords", data=payload[0])
            group.create_dataset("sdf", data=payload[1])

        table = run_objects(ok_objects(read_status(validate_status)), process, "sparse_sdf", store, limits, journal)
    try:
        done = table.loc[table["status"] == "ok", "object_id"].tolist()
        with h5py.File(parts, "r") as store_file:
            rows = [{"object_id": oid, "source": objects.loc[oid, "source"], "location": objects.loc[oid, "location"],
                     "name": objects.loc[oid, "name"],
                     "center": normalized.loc[oid, ["center_x", "center_y", "center_z"]].to_numpy(float),
                     "scale": float(normalized.loc[oid, "scale"])} for oid in done]
            write_sparse_shard(
                sparse_file, rows, lambda oid: (store_file[oid]["coords"][()], store_file[oid]["sdf"][()]),
                [store_file[oid]["coords"].shape[0] for oid in done],
                {"resolution": settings["resolution"], "truncation_voxels": settings["truncation_voxels"],
                 "coarse_resolution": settings["coarse_resolution"], "shard": shard,
                 "params": dict(settings), "package_versions": package_versions()},
                storage=settings["storage"], compression=settings["compression"],
            )
    finally:
        os.remove(parts)
    write_table(table, status)
