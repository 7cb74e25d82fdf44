"""Sample job: training points and SDF labels for every validated object of a shard."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..meshstore import read_mesh
from ..provenance import object_rng
from ..resume import ResumeCache, array_digest
from ..sampling import sample_object
from ..shards import sample_store_writer
from ..stage import ok_objects, read_status, run_objects

logger = logging.getLogger("shapeprep")


def run(watertight_store: str, validate_status: str, normalized_store: str, sample_store: str, status_table: str, params: dict) -> None:
    """Write one shard's point samples (only objects that passed validation).

    Parameters
    ----------
    params : dict
        The ``sample`` config section (see config/schema.yaml) plus ``code``.
    """
    seeding = {key: value for key, value in params.items() if key != "code"}
    resume = ResumeCache(sample_store, params)
    with sample_store_writer(sample_store) as add:

        def process(object_id: str) -> dict:
            vertices, faces, _ = read_mesh(watertight_store, object_id)
            if params["salient_mesh"] == "source":
                salient_vertices, salient_faces, _ = read_mesh(normalized_store, object_id)
            else:
                salient_vertices, salient_faces = vertices, faces
            inputs = array_digest(vertices, faces, salient_vertices, salient_faces)
            finished = resume.load(object_id, inputs)
            if finished is None:
                rng = object_rng(object_id, seeding, params["seed"])
                finished = sample_object(vertices, faces, salient_vertices, salient_faces, params, rng)
                resume.save(object_id, inputs, *finished)
            arrays, metrics = finished
            add(object_id, arrays, metrics)
            return dict(metrics)

        status = run_objects(ok_objects(read_status(validate_status)), process, "sample")
    write_table(status, status_table)
    if resume.reused:
        logger.info("sample: %d objects reused from a killed run", resume.reused)
    resume.clear()
