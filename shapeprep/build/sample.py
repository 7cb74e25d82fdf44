"""Sample job: training points and SDF labels for every validated object of a shard."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..geometry.nearsurface import set_threads
from ..samples.sampling import sample_object
from ..samples.shards import sample_store_writer
from ..status import ok_objects, read_status
from .meshstore import read_mesh
from .objects import run_objects
from .provenance import object_rng
from .resume import ResumeCache, array_digest

logger = logging.getLogger("shapeprep")


def run(watertight: str, validate_status: str, normalized: str, settings: dict, samples: str, status: str,
        threads: int = 1) -> None:
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
    """
    set_threads(threads)
    seeding = {key: value for key, value in settings.items() if key != "code"}
    resume = ResumeCache(samples, settings)
    with sample_store_writer(samples) as add:

        def process(object_id: str) -> dict:
            vertices, faces, _ = read_mesh(watertight, object_id)
            if settings["salient_mesh"] == "source":
                salient_vertices, salient_faces, _ = read_mesh(normalized, object_id)
            else:
                salient_vertices, salient_faces = vertices, faces
            inputs = array_digest(vertices, faces, salient_vertices, salient_faces)
            finished = resume.load(object_id, inputs)
            if finished is None:
                rng = object_rng(object_id, seeding, settings["seed"])
                finished = sample_object(vertices, faces, salient_vertices, salient_faces, settings, rng)
                resume.save(object_id, inputs, *finished)
            arrays, metrics = finished
            add(object_id, arrays, metrics)
            return dict(metrics)

        table = run_objects(ok_objects(read_status(validate_status)), process, "sample")
    write_table(table, status)
    if resume.reused:
        logger.info("sample: %d objects reused from a killed run", resume.reused)
    resume.clear()
