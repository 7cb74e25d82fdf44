"""Normalize job: load every object of a shard list, clean it, map it into the cube."""

from __future__ import annotations

from ..atomic import write_table
from ..loaders import load_mesh
from ..manifest import read_shard_list
from ..meshstore import mesh_store_writer
from ..normalize import normalize_mesh
from ..stage import run_objects


def run(shard_list: str, mesh_store: str, status_table: str, params: dict) -> None:
    """Write the normalised meshes of one shard and their status table.

    Parameters
    ----------
    shard_list : path of the shard's manifest TSV
    mesh_store : output HDF5 of normalised meshes
    status_table : output parquet
    params : dict
        ``bound``, ``weld_tolerance``, ``min_face_area``.
    """
    objects = read_shard_list(shard_list)
    locations = dict(zip(objects["object_id"], objects["location"]))
    with mesh_store_writer(mesh_store) as add:

        def process(object_id: str) -> dict:
            vertices, faces = load_mesh(locations[object_id])
            mesh = normalize_mesh(
                vertices, faces, params["bound"], params["weld_tolerance"], params["min_face_area"]
            )
            record = {"center": mesh.center.tolist(), "scale": mesh.scale, **mesh.counts}
            add(object_id, mesh.vertices, mesh.faces, record)
            return {
                "center_x": mesh.center[0],
                "center_y": mesh.center[1],
                "center_z": mesh.center[2],
                "scale": mesh.scale,
                **mesh.counts,
            }

        status = run_objects(objects["object_id"], process, "normalize")
    write_table(status, status_table)
