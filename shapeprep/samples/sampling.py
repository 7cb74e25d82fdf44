"""Training point sets of one object: surface, salient, volume and near-surface SDF samples.

Every random draw comes from the ``numpy.random.Generator`` passed in; the
sample stage derives it from the object id and the sampling parameters
(:func:`shapeprep.build.provenance.object_rng`), so reruns are bit-identical.
**SDF labels are negative inside.** Every stored set is in random order, so
any contiguous run of rows is a uniform random subset of it (the reader
relies on this).
"""

from __future__ import annotations

import time

import numpy as np

from ..geometry.sdf import SignedDistance
from ..geometry.surface import face_normals, sample_surface
from .salient import sample_salient

#: Point sets written per object, with their columns.
POINT_SETS = {
    "surface": "x y z nx ny nz",
    "salient": "x y z nx ny nz",
    "volume": "x y z sdf",
    "near_surface": "x y z sdf",
    "near_salient": "x y z sdf",
}

#: Per-row labels stored beside a point set: label -> (the set it labels, the config key of its sigma list).
#: Row i of ``near_surface_sigma`` is the index into ``near_surface_sigmas`` of row i of ``near_surface``.
ROW_LABELS = {
    "near_surface_sigma": ("near_surface", "near_surface_sigmas"),
    "near_salient_sigma": ("near_salient", "near_salient_sigmas"),
}


def sample_volume(count: int, bound: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform points in ``[-bound, bound]^3``.

    Returns
    -------
    (count, 3) float64
    """
    return rng.uniform(-bound, bound, size=(count, 3))


def perturb(points: np.ndarray, sigmas, count_per_sigma: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian perturbations of random rows of ``points``, ``count_per_sigma`` per sigma, in sigma order.

    Returns
    -------
    (len(sigmas) * count_per_sigma, 3) float64
        Rows ``[i * count_per_sigma, (i + 1) * count_per_sigma)`` use ``sigmas[i]``
        (:func:`sigma_index` gives that index per row).
    """
    blocks = []
    for sigma in sigmas:
        base = points[rng.integers(0, len(points), count_per_sigma)]
        blocks.append(base + rng.normal(scale=sigma, size=base.shape))
    return np.concatenate(blocks) if blocks else np.zeros((0, 3))


def sigma_index(n_sigmas: int, count_per_sigma: int) -> np.ndarray:
    """The sigma index of every row :func:`perturb` returns, before shuffling.

    Returns
    -------
    (n_sigmas * count_per_sigma,) uint8
    """
    return np.repeat(np.arange(n_sigmas, dtype=np.uint8), count_per_sigma)


def orient_outward(normals: np.ndarray, reference_normals: np.ndarray) -> np.ndarray:
    """Flip normals that point against the closest face of an outward reference mesh.

    Source meshes are often wound inconsistently; the watertight mesh is not.

    Parameters
    ----------
    normals : (k, 3)
    reference_normals : (k, 3)
        Unit normal of each point's closest face of the reference mesh.

    Returns
    -------
    (k, 3) float64
    """
    agree = np.einsum("ij,ij->i", normals, reference_normals) >= 0
    return np.where(agree[:, None], normals, -normals)


def sample_object(vertices, faces, salient_vertices, salient_faces, params: dict, rng: np.random.Generator) -> tuple[dict, dict]:
    """Every point set of one object.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
        The watertight mesh (normalised frame): surface points and SDF labels refer to it.
    salient_vertices, salient_faces :
        The mesh salient edges are detected on (the source or the watertight mesh).
    params : dict
        The ``sample`` config section: ``surface_points``, ``salient_points``,
        ``salient_angle_deg``, ``salient_engine``, ``salient_project``,
        ``volume_points``, ``volume_bound``, ``near_surface_sigmas``,
        ``near_surface_points_per_sigma``, ``near_salient_sigmas``,
        ``near_salient_points_per_sigma``.
    rng : numpy Generator

    Returns
    -------
    arrays : dict of float32 arrays, rows in random order
        ``surface (N, 6)`` and ``salient (K, 6)``: xyz, unit outward normal;
        ``volume (M, 4)``, ``near_surface (P, 4)``, ``near_salient (Q, 4)``: xyz, sdf;
        ``near_surface_sigma (P,)``, ``near_salient_sigma (Q,)`` uint8: each row's
        index into its sigma list (:data:`ROW_LABELS`), shuffled with its set.
    metrics : dict
        ``salient_engine``, ``salient_fallback`` (no salient edge: uniform
        points were used), ``salient_edges``, ``salient_offset`` (mean
        distance of salient points to the watertight surface before
        projection), ``volume_inside_fraction``, ``seconds_*`` (per phase: ``trees``, ``surface``,
        ``salient``, ``volume_sdf``, ``near_sdf``, ``pack``).
    """
    clock = time.perf_counter()
    seconds = {}

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[f"seconds_{name}"] = now - clock
        clock = now

    distance = SignedDistance(vertices, faces)
    lap("trees")
    surface_points, surface_normals = sample_surface(vertices, faces, params["surface_points"], rng)
    lap("surface")

    salient = sample_salient(
        salient_vertices, salient_faces, params["salient_points"], params["salient_angle_deg"], rng, params["salient_engine"]
    )
    salient_points, salient_normals = salient.points, salient.normals
    salient_fallback = len(salient_points) == 0
    salient_offset = 0.0
    if salient_fallback:  # no sharp edge: keep the object, fill with uniform points, flag it
        salient_points, salient_normals = sample_surface(vertices, faces, params["salient_points"], rng)
    else:
        _, hit_face, closest = distance.closest(salient_points)
        salient_offset = float(np.linalg.norm(closest - salient_points, axis=1).mean())
        salient_normals = orient_outward(salient_normals, face_normals(vertices, faces[hit_face]))
        if params["salient_project"]:
            salient_points = closest
    lap("salient")

    # Volume points are mostly far from the surface, where an exact distance costs the most: timed apart.
    volume_points = sample_volume(params["volume_points"], params["volume_bound"], rng)
    volume_sdf = distance(volume_points)
    lap("volume_sdf")
    near_surface_points = perturb(surface_points, params["near_surface_sigmas"], params["near_surface_points_per_sigma"], rng)
    near_salient_points = perturb(salient_points, params["near_salient_sigmas"], params["near_salient_points_per_sigma"], rng)
    sdf = [volume_sdf, *np.split(distance(np.concatenate([near_surface_points, near_salient_points])), [len(near_surface_points)])]
    lap("near_sdf")

    arrays = {
        "surface": np.hstack([surface_points, surface_normals]),
        "salient": np.hstack([salient_points, salient_normals]),
        "volume": np.hstack([volume_points, sdf[0][:, None]]),
        "near_surface": np.hstack([near_surface_points, sdf[1][:, None]]),
        "near_salient": np.hstack([near_salient_points, sdf[2][:, None]]),
    }
    labels = {
        "near_surface_sigma": sigma_index(len(params["near_surface_sigmas"]), params["near_surface_points_per_sigma"]),
        "near_salient_sigma": sigma_index(len(params["near_salient_sigmas"]), params["near_salient_points_per_sigma"]),
    }
    # FPS order and per-sigma blocks are not random; shuffle so any window is a uniform subset.
    orders = {key: rng.permutation(len(value)) for key, value in arrays.items()}
    arrays = {key: value.astype(np.float32)[orders[key]] for key, value in arrays.items()}
    arrays |= {label: labels[label][orders[labelled]] for label, (labelled, _) in ROW_LABELS.items()}
    lap("pack")
    metrics = {
        "salient_engine": salient.engine,
        "salient_fallback": salient_fallback,
        "salient_edges": salient.edges,
        "salient_offset": salient_offset,
        "volume_inside_fraction": float((sdf[0] < 0).mean()) if len(sdf[0]) else 0.0,
        **seconds,
    }
    return arrays, metrics
