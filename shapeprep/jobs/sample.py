"""Sample job: training points and SDF labels for every validated object of a shard."""

from __future__ import annotations

import numpy as np

from ..atomic import write_table
from ..meshstore import read_mesh
from ..provenance import object_rng
from ..sampling import perturb, sample_salient, sample_surface, sample_volume, signed_distance
from ..shards import sample_store_writer
from ..stage import ok_objects, read_status, run_objects


def sample_object(vertices, faces, salient_vertices, salient_faces, params: dict, rng) -> tuple[dict, dict]:
    """All point sets of one object.

    Parameters
    ----------
    vertices, faces : the watertight mesh (normalised frame)
    salient_vertices, salient_faces : the mesh salient edges are detected on
    params : the ``sample`` config section
    rng : numpy Generator

    Returns
    -------
    arrays : dict
        ``surface (N, 6)``, ``salient (K, 6)`` (xyz, normal),
        ``volume (M, 4)``, ``near_surface (P, 4)`` (xyz, sdf; negative inside), float32.
    metrics : dict
    """
    surface_points, surface_normals = sample_surface(vertices, faces, params["surface_points"], rng)
    salient_points, salient_normals, engine = sample_salient(
        salient_vertices, salient_faces, params["salient_points"], params["salient_angle_deg"], rng, params["salient_engine"]
    )
    salient_fallback = len(salient_points) == 0
    if salient_fallback:  # no sharp edge: keep the object, fill with uniform points, flag it
        salient_points, salient_normals = sample_surface(vertices, faces, params["salient_points"], rng)
    volume_points = sample_volume(params["volume_points"], params["volume_bound"], rng)
    anchors = np.concatenate([surface_points, salient_points])
    near_points = perturb(anchors, params["near_surface_sigmas"], params["near_surface_points_per_sigma"], rng)
    queries = np.concatenate([volume_points, near_points])
    sdf = signed_distance(vertices, faces, queries)
    arrays = {
        "surface": np.hstack([surface_points, surface_normals]).astype(np.float32),
        "salient": np.hstack([salient_points, salient_normals]).astype(np.float32),
        "volume": np.hstack([volume_points, sdf[: len(volume_points), None]]).astype(np.float32),
        "near_surface": np.hstack([near_points, sdf[len(volume_points) :, None]]).astype(np.float32),
    }
    metrics = {
        "salient_engine": engine,
        "salient_fallback": salient_fallback,
        "volume_inside_fraction": float((sdf[: len(volume_points)] < 0).mean()),
    }
    return arrays, metrics


def run(watertight_store: str, validate_status: str, normalized_store: str, sample_store: str, status_table: str, params: dict) -> None:
    """Write one shard's point samples (only objects that passed validation).

    Parameters
    ----------
    params : dict
        The ``sample`` config section (see config/schema.yaml).
    """
    seeding = {key: value for key, value in params.items() if key != "code"}
    with sample_store_writer(sample_store) as add:

        def process(object_id: str) -> dict:
            vertices, faces, _ = read_mesh(watertight_store, object_id)
            if params["salient_mesh"] == "source":
                salient_vertices, salient_faces, _ = read_mesh(normalized_store, object_id)
            else:
                salient_vertices, salient_faces = vertices, faces
            rng = object_rng(object_id, seeding, params["seed"])
            arrays, metrics = sample_object(vertices, faces, salient_vertices, salient_faces, params, rng)
            add(object_id, arrays, metrics)
            return metrics

        status = run_objects(ok_objects(read_status(validate_status)), process, "sample")
    write_table(status, status_table)
