"""Sample job: training points and SDF labels for every validated object of a shard."""

from __future__ import annotations

from functools import partial

import numpy as np

from ..geometry.nearsurface import set_threads
from ..samples.sampling import sample_object
from ..samples.shards import sample_store_writer
from ..status import ok_objects, read_status
from .meshstore import read_mesh
from .objects import run_objects
from .provenance import object_rng
from .resume import ResumeCache, array_digest, settle
from .worker import Limits


def sample_one(object_id: str, watertight: str, normalized: str, settings: dict, resume: ResumeCache,
               threads: int) -> tuple[dict, dict]:
    """Every point set of one object: ``(metrics, arrays)``. Runs in the job's worker process; kept for resuming."""
    set_threads(threads)
    seeding = {key: value for key, value in settings.items() if key != "code"}
    vertices, faces, _ = read_mesh(watertight, object_id)
    source_vertices, source_faces, _ = read_mesh(normalized, object_id)
    factor = frame_scale(source_vertices, settings.get("frame_bound"))
    vertices = vertices * factor
    if settings["salient_mesh"] == "source":
        salient_vertices, salient_faces = source_vertices * factor, source_faces
    else:
        salient_vertices, salient_faces = vertices, faces
    inputs = array_digest(vertices, faces, salient_vertices, salient_faces)
    finished = resume.load(object_id, inputs)
    resumed = finished is not None
    if finished is None:
        rng = object_rng(object_id, seeding, settings["seed"])
        finished = sample_object(vertices, faces, salient_vertices, salient_faces, settings, rng)
        resume.save(object_id, inputs, *finished)
    arrays, metrics = finished
    metrics = {**metrics, "frame_scale": factor}
    return {**metrics, "resumed": resumed}, (arrays, metrics)


def frame_scale(source_vertices: np.ndarray, frame_bound: float | None) -> float:
    """Factor taking the normalised frame to the sampling frame, where the source's longest axis spans ``±frame_bound``.

    The normalised source spans ``±normalize.bound`` on its longest axis (the
    watertight grid needs the margin); peers such as Dora and TripoSG train on
    ``[-1, 1]``. Scaling is a similarity, so distances (SDF labels) scale
    exactly with it. ``None`` keeps the normalised frame (factor 1).

    Parameters
    ----------
    source_vertices : (n, 3) float64, the normalised source
    frame_bound : float or None
    """
    if frame_bound is None or len(source_vertices) == 0:
        return 1.0
    return float(frame_bound) / float(np.abs(source_vertices).max())


def run(watertight: str, validate_status: str, normalized: str, settings: dict, samples: str, status: str,
        threads: int = 1, limits: Limits | None = None, journal: str | None = None) -> None:
    """Write one shard's point samples (only objects that passed validation).

    Parameters
    ----------
    watertight : the watertight meshes
    validate_status : the validate stage's status table
    normalized : the normalised sources (salient edges are found on them by default)
    settings : dict
        The ``sample`` config section (see the schema) plus ``code``.
    samples : output sample store
    status : output parquet
    threads : the rule's threads, used by the distance kernels
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    resume = ResumeCache(samples, settings)
    process = partial(sample_one, watertight=watertight, normalized=normalized, settings=settings, resume=resume,
                      threads=threads)
    with sample_store_writer(samples) as add:

        def store(object_id: str, payload: tuple) -> None:
            add(object_id, *payload)

        table = run_objects(ok_objects(read_status(validate_status)), process, "sample", store, limits, journal)
    settle(resume, table, status, "sample")
