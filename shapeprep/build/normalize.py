"""Normalize job: load every downloaded object of a shard, curate it, clean it, map it into the cube."""

from __future__ import annotations

import os
from functools import partial

import pandas as pd

from ..atomic import write_table
from ..geometry.curate import check_file_size, curate_counts, curate_shape, far_parts
from ..geometry.loaders import load_mesh
from ..geometry.normalize import NormalizedMesh, normalize_mesh, to_original_frame
from .meshstore import mesh_store_writer
from .objects import run_objects
from .worker import Limits


def drop_far_parts(mesh: NormalizedMesh, params: dict, factor: float) -> tuple[NormalizedMesh, int]:
    """``mesh`` without parts far from its main body, renormalised so that they no longer set the frame.

    The returned centre and scale still map the normalised mesh onto the
    original file's coordinates.
    """
    keep, dropped = far_parts(mesh.vertices, mesh.faces, factor)
    if not dropped:
        return mesh, 0
    original = to_original_frame(mesh.vertices, mesh.center, mesh.scale)
    kept = normalize_mesh(original, mesh.faces[keep], params["bound"], params["weld_tolerance"], params["min_face_area"])
    counts = {**mesh.counts, "vertices": kept.counts["vertices"], "faces": kept.counts["faces"]}
    return NormalizedMesh(kept.vertices, kept.faces, kept.center, kept.scale, counts), dropped


def normalize_object(object_id: str, locations: dict[str, str], settings: dict, curate: dict) -> tuple[dict, dict]:
    """Load, curate and normalise one object: ``(metrics, payload)``, payload the mesh to store.

    Runs in the job's worker process (:mod:`shapeprep.build.worker`).
    """
    location = locations[object_id]
    check_file_size(os.path.getsize(location), curate)
    vertices, faces = load_mesh(location)
    curate_counts(len(vertices), len(faces), curate)
    mesh = normalize_mesh(vertices, faces, settings["bound"], settings["weld_tolerance"], settings["min_face_area"])
    parts_dropped = 0
    if curate["drop_far_parts"] is not None:
        mesh, parts_dropped = drop_far_parts(mesh, settings, curate["drop_far_parts"])
    shape = curate_shape(mesh.vertices, mesh.faces, curate)
    counts = {**mesh.counts, "parts_dropped": parts_dropped}
    record = {"center": mesh.center.tolist(), "scale": mesh.scale, **counts}
    metrics = {"center_x": mesh.center[0], "center_y": mesh.center[1], "center_z": mesh.center[2],
               "scale": mesh.scale, **counts, **shape}
    return metrics, {"vertices": mesh.vertices, "faces": mesh.faces, "record": record}


def run(downloads: str, settings: dict, curate: dict, meshes: str, status: str, limits: Limits | None = None,
        journal: str | None = None) -> None:
    """Write the normalised meshes of one shard and their status table.

    Only objects the download stage brought to disk are processed; the others
    keep their download status in the index.

    Parameters
    ----------
    downloads : the shard's download status parquet (``object_id, status, path``)
    settings : dict
        ``bound``, ``weld_tolerance``, ``min_face_area`` (and ``code``).
    curate : dict
        The curation thresholds (see :mod:`shapeprep.geometry.curate`).
    meshes : output HDF5 of normalised meshes
    status : output parquet
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    downloaded = pd.read_parquet(downloads)
    downloaded = downloaded[downloaded["status"] == "ok"]
    locations = dict(zip(downloaded["object_id"], downloaded["path"]))
    process = partial(normalize_object, locations=locations, settings=settings, curate=curate)
    with mesh_store_writer(meshes) as add:

        def store(object_id: str, mesh: dict) -> None:
            add(object_id, mesh["vertices"], mesh["faces"], mesh["record"])

        table = run_objects(downloaded["object_id"], process, "normalize", store, limits, journal)
    write_table(table, status)
