"""Watertight job: remesh every normalised object of a shard into a closed manifold."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..geometry.nearsurface import set_threads
from ..status import ok_objects, read_status
from ..watertight import WatertightOptions, resolve_backend, watertight_mesh
from .meshstore import mesh_store_writer, read_mesh
from .objects import run_objects
from .resume import ResumeCache, array_digest

OPTION_KEYS = tuple(WatertightOptions.__dataclass_fields__)

logger = logging.getLogger("shapeprep")


def run(normalized: str, normalized_status: str, settings: dict, meshes: str, status: str, threads: int = 1) -> None:
    """Write the watertight meshes (normalised frame) of one shard and their status table.

    Parameters
    ----------
    normalized, normalized_status : the normalize stage's mesh store and status table
    settings : dict
        ``backend`` and the fields of :class:`~shapeprep.watertight.WatertightOptions` (and ``code``).
    meshes : output mesh store
    status : output parquet
    threads : the rule's threads, used by the distance kernels
    """
    set_threads(threads)
    backend = resolve_backend(settings["backend"])
    options = {key: settings[key] for key in OPTION_KEYS}
    resume = ResumeCache(meshes, {**settings, "backend": backend})
    with mesh_store_writer(meshes) as add:

        def process(object_id: str) -> dict:
            vertices, faces, _ = read_mesh(normalized, object_id)
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

        table = run_objects(ok_objects(read_status(normalized_status)), process, "watertight")
    write_table(table, status)
    if resume.reused:
        logger.info("watertight: %d objects reused from a killed run", resume.reused)
    resume.clear()
