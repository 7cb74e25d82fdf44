"""Watertight job: remesh every normalised object of a shard into a closed manifold."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..meshstore import mesh_store_writer, read_mesh
from ..resume import ResumeCache, array_digest
from ..stage import ok_objects, read_status, run_objects
from ..watertight import WatertightOptions, watertight_mesh

OPTION_KEYS = tuple(WatertightOptions.__dataclass_fields__)

logger = logging.getLogger("shapeprep")


def resolve_backend(name: str) -> str:
    """``auto`` is cubvh where it imports and CUDA is present, else cpu."""
    if name != "auto":
        return name
    from ..watertight_torch import cubvh_available

    return "cubvh" if cubvh_available() else "cpu"


def run(normalized_store: str, normalized_status: str, mesh_store: str, status_table: str, params: dict) -> None:
    """Write the watertight meshes (normalised frame) of one shard and their status table.

    Parameters
    ----------
    params : dict
        ``backend`` and the fields of :class:`~shapeprep.watertight.WatertightOptions`.
    """
    backend = resolve_backend(params["backend"])
    options = {key: params[key] for key in OPTION_KEYS if key in params}
    resume = ResumeCache(mesh_store, {**params, "backend": backend})
    with mesh_store_writer(mesh_store) as add:

        def process(object_id: str) -> dict:
            vertices, faces, _ = read_mesh(normalized_store, object_id)
            source = array_digest(vertices, faces)
            finished = resume.load(object_id, source)
            if finished is None:
                result = watertight_mesh(vertices, faces, backend=backend, **options)
                metrics = {"backend": backend, "faces": len(result.faces), "vertices": len(result.vertices),
                           **result.stats}
                arrays = {"vertices": result.vertices, "faces": result.faces}
                finished = arrays, {"stats": result.stats, "metrics": metrics}
                resume.save(object_id, source, *finished)
            arrays, record = finished
            add(object_id, arrays["vertices"], arrays["faces"], record["stats"])
            return dict(record["metrics"])

        status = run_objects(ok_objects(read_status(normalized_status)), process, "watertight")
    write_table(status, status_table)
    if resume.reused:
        logger.info("watertight: %d objects reused from a killed run", resume.reused)
    resume.clear()
