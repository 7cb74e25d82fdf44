"""Watertight job: remesh every normalised object of a shard into a closed manifold."""

from __future__ import annotations

from functools import partial

from ..geometry.nearsurface import set_threads
from ..status import ok_objects, read_status
from ..watertight import WatertightOptions, resolve_backend, watertight_mesh
from .meshstore import mesh_store_writer, read_mesh
from .objects import run_objects
from .resume import ResumeCache, array_digest, settle
from .worker import Limits

OPTION_KEYS = tuple(WatertightOptions.__dataclass_fields__)

def watertight_object(object_id: str, normalized: str, backend: str, options: dict, resume: ResumeCache,
                      threads: int) -> tuple[dict, dict]:
    """Remesh one object: ``(metrics, payload)``, payload the mesh and its record to store.

    Runs in the job's worker process; a finished object is also kept in the
    resume cache, so a killed job does not redo it.
    """
    set_threads(threads)
    vertices, faces, _ = read_mesh(normalized, object_id)
    source = array_digest(vertices, faces)
    finished = resume.load(object_id, source)
    resumed = finished is not None
    if finished is None:
        result = watertight_mesh(vertices, faces, backend=backend, **options)
        metrics = {"backend": backend, "faces": len(result.faces), "vertices": len(result.vertices), **result.stats}
        arrays = {"vertices": result.vertices, "faces": result.faces}
        finished = arrays, {"stats": result.stats, "metrics": metrics}
        resume.save(object_id, source, *finished)
    arrays, record = finished
    return {**record["metrics"], "resumed": resumed}, {**arrays, "stats": record["stats"]}


def run(normalized: str, normalized_status: str, settings: dict, meshes: str, status: str, threads: int = 1,
        limits: Limits | None = None, journal: str | None = None) -> None:
    """Write the watertight meshes (normalised frame) of one shard and their status table.

    Parameters
    ----------
    normalized, normalized_status : the normalize stage's mesh store and status table
    settings : dict
        ``backend`` and the fields of :class:`~shapeprep.watertight.WatertightOptions` (and ``code``).
    meshes : output mesh store
    status : output parquet
    threads : the rule's threads, used by the distance kernels
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    backend = resolve_backend(settings["backend"])
    options = {key: settings[key] for key in OPTION_KEYS}
    resume = ResumeCache(meshes, {**settings, "backend": backend})
    process = partial(watertight_object, normalized=normalized, backend=backend, options=options, resume=resume,
                      threads=threads)
    with mesh_store_writer(meshes) as add:

        def store(object_id: str, mesh: dict) -> None:
            add(object_id, mesh["vertices"], mesh["faces"], mesh["stats"])

        table = run_objects(ok_objects(read_status(normalized_status)), process, "watertight", store, limits, journal)
    settle(resume, table, status, "watertight")
