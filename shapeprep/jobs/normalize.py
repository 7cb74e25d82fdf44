"""Normalize job: load every downloaded object of a shard, curate it, clean it, map it into the cube."""

from __future__ import annotations

import os

import pandas as pd

from ..atomic import write_table
from ..curate import check_file_size, curate_counts, curate_shape, far_parts
from ..loaders import load_mesh
from ..meshstore import mesh_store_writer
from ..normalize import NormalizedMesh, normalize_mesh, to_original_frame
from ..stage import run_objects


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


def run(downloads: str, mesh_store: str, status_table: str, params: dict, curate: dict) -> None:
    """Write the normalised meshes of one shard and their status table.

    Only objects the download stage brought to disk are processed; the others
    keep their download status in the index.

    Parameters
    ----------
    downloads : the shard's download status parquet (``object_id, status, path``)
    mesh_store : output HDF5 of normalised meshes
    status_table : output parquet
    params : dict
        ``bound``, ``weld_tolerance``, ``min_face_area``.
    curate : dict
        The curation thresholds (see :mod:`shapeprep.curate`).
    """
    downloaded = pd.read_parquet(downloads)
    downloaded = downloaded[downloaded["status"] == "ok"]
    locations = dict(zip(downloaded["object_id"], downloaded["path"]))
    with mesh_store_writer(mesh_store) as add:

        def process(object_id: str) -> dict:
            check_file_size(os.path.getsize(locations[object_id]), curate)
            vertices, faces = load_mesh(locations[object_id])
            curate_counts(len(vertices), len(faces), curate)
            mesh = normalize_mesh(vertices, faces, params["bound"], params["weld_tolerance"], params["min_face_area"])
            parts_dropped = 0
            if curate.get("drop_far_parts") is not None:
                mesh, parts_dropped = drop_far_parts(mesh, params, curate["drop_far_parts"])
            shape = curate_shape(mesh.vertices, mesh.faces, curate)
            counts = {**mesh.counts, "parts_dropped": parts_dropped}
            record = {"center": mesh.center.tolist(), "scale": mesh.scale, **counts}
            add(object_id, mesh.vertices, mesh.faces, record)
            return {
                "center_x": mesh.center[0],
                "center_y": mesh.center[1],
                "center_z": mesh.center[2],
                "scale": mesh.scale,
                **counts,
                **shape,
            }

        status = run_objects(downloaded["object_id"], process, "normalize")
    write_table(status, status_table)
