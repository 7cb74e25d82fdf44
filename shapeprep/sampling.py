"""Point samples for training: surface, salient edges, volume and near-surface SDF.

Every function takes an explicit ``numpy.random.Generator``; stages derive it
from the object id and the stage parameters (:func:`shapeprep.provenance.object_rng`),
so reruns are bit-identical. **SDF labels are negative inside.**
"""

from __future__ import annotations

import numpy as np

from .normalize import triangle_areas


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals (zero for degenerate faces).

    Returns
    -------
    (m, 3) float64
    """
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform area-weighted surface points with their face normals.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    count : int
    rng : numpy Generator

    Returns
    -------
    points : (count, 3) float64
    normals : (count, 3) float64
    """
    areas = triangle_areas(vertices, faces)
    cumulative = np.cumsum(areas)
    chosen = np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")
    chosen = np.minimum(chosen, len(faces) - 1)
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1.0
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    corners = vertices[faces[chosen]]
    points = corners[:, 0] + u[:, None] * (corners[:, 1] - corners[:, 0]) + v[:, None] * (corners[:, 2] - corners[:, 0])
    return points, face_normals(vertices, faces)[chosen]


def salient_edges(vertices: np.ndarray, faces: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges shared by exactly two faces whose normals differ by more than ``angle_deg``.

    Boundary and non-manifold edges are not salient (their dihedral angle
    is undefined).

    Returns
    -------
    edges : (e, 2) int64
        Vertex indices.
    normals : (e, 3) float64
        Unit mean of the two adjacent face normals.
    """
    half = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    half = np.sort(half, axis=1)
    edges, inverse, counts = np.unique(half, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    manifold = counts == 2
    face_a = order[starts[manifold]] // 3
    face_b = order[starts[manifold] + 1] // 3
    normals = face_normals(vertices, faces)
    cosine = np.einsum("ij,ij->i", normals[face_a], normals[face_b])
    sharp = cosine < np.cos(np.deg2rad(angle_deg))
    mean = normals[face_a][sharp] + normals[face_b][sharp]
    length = np.linalg.norm(mean, axis=1, keepdims=True)
    mean = np.divide(mean, length, out=normals[face_a][sharp].copy(), where=length > 1e-12)
    return edges[manifold][sharp], mean


def salient_candidates(vertices: np.ndarray, edges: np.ndarray, edge_normals: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Edge endpoints plus points spread along edges in proportion to length.

    Returns
    -------
    points : (k, 3) float64
    normals : (k, 3) float64
    """
    start, end = vertices[edges[:, 0]], vertices[edges[:, 1]]
    lengths = np.linalg.norm(end - start, axis=1)
    share = lengths / lengths.sum() * count
    per_edge = np.floor(share).astype(np.int64)
    remainder = count - per_edge.sum()
    if remainder > 0:
        per_edge[np.argsort(per_edge - share, kind="stable")[:remainder]] += 1
    owner = np.repeat(np.arange(len(edges)), per_edge)
    t = rng.random(len(owner))[:, None]
    along = start[owner] + t * (end[owner] - start[owner])
    endpoints = np.concatenate([start, end])
    points = np.concatenate([endpoints, along])
    normals = np.concatenate([edge_normals, edge_normals, edge_normals[owner]])
    return points, normals


def farthest_point_indices(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` farthest-point samples (fpsample's bucket kd-line, h=7).

    The start index is fixed at 0 (fpsample picks a random one otherwise),
    so the result depends only on the input.

    Returns
    -------
    (count,) int64
    """
    import fpsample

    if count >= len(points):
        return np.arange(len(points))
    height = 7 if len(points) > 2048 else 3
    indices = fpsample.bucket_fps_kdline_sampling(np.ascontiguousarray(points, np.float32), count, h=height, start_idx=0)
    return np.asarray(indices, dtype=np.int64)


def sample_salient_numpy(vertices, faces, count, angle_deg, rng, oversample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Salient-edge points with normals, pure numpy + fpsample.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    count : int
        Points wanted.
    angle_deg : float
        Dihedral threshold.
    rng : numpy Generator
    oversample : int
        Candidates along edges per wanted point before FPS.

    Returns
    -------
    points : (k, 3) float64, k == count, or 0 when the mesh has no salient edge
    normals : (k, 3) float64
    """
    edges, edge_normals = salient_edges(vertices, faces, angle_deg)
    if len(edges) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    points, normals = salient_candidates(vertices, edges, edge_normals, oversample * count, rng)
    keep = farthest_point_indices(points, count)
    if len(keep) < count:  # fewer distinct candidates than wanted: repeat them
        keep = np.concatenate([keep, rng.choice(keep, count - len(keep))])
    return points[keep], normals[keep]


def sample_salient_meshiki(vertices, faces, count, angle_deg, rng) -> tuple[np.ndarray, np.ndarray]:
    """Salient-edge points from meshiki's C++ sampler; normals from the nearest salient edge.

    meshiki returns positions only, so each point takes the mean normal of
    the closest candidate on the salient edges found by :func:`salient_edges`.

    Returns
    -------
    points : (k, 3) float64, k == count or 0
    normals : (k, 3) float64
    """
    from meshiki import Mesh
    from scipy.spatial import cKDTree

    edges, edge_normals = salient_edges(vertices, faces, angle_deg)
    if len(edges) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    mesh = Mesh(np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(faces, np.int32).tolist(), clean=False)
    points = np.asarray(mesh.salient_point_sample(count, thresh_bihedral=angle_deg), dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    reference, reference_normals = salient_candidates(vertices, edges, edge_normals, 4 * count, rng)
    _, nearest = cKDTree(reference).query(points)
    return points, reference_normals[nearest]


def meshiki_available() -> bool:
    """Whether the meshiki fast path can be imported."""
    try:
        import meshiki  # noqa: F401
    except ImportError:
        return False
    return True


def sample_salient(vertices, faces, count, angle_deg, rng, engine: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """Salient points with the chosen engine (``auto``, ``meshiki`` or ``numpy``).

    Returns
    -------
    points : (k, 3) float64
    normals : (k, 3) float64
    engine : str
        The engine that ran.
    """
    if engine == "auto":
        engine = "meshiki" if meshiki_available() else "numpy"
    if engine == "meshiki":
        return (*sample_salient_meshiki(vertices, faces, count, angle_deg, rng), engine)
    if engine == "numpy":
        return (*sample_salient_numpy(vertices, faces, count, angle_deg, rng), engine)
    raise ValueError(f"unknown salient engine {engine!r}")


def signed_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact distance to a closed mesh, negative inside (generalised winding number sign).

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    points : (k, 3) float

    Returns
    -------
    (k,) float64
    """
    import igl

    sdf, _, _, _ = igl.signed_distance(
        np.ascontiguousarray(points, np.float64),
        np.ascontiguousarray(vertices, np.float64),
        np.ascontiguousarray(faces, np.int64),
        sign_type=igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER,
    )
    return sdf


def sample_volume(count: int, bound: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform points in ``[-bound, bound]^3``.

    Returns
    -------
    (count, 3) float64
    """
    return rng.uniform(-bound, bound, size=(count, 3))


def perturb(points: np.ndarray, sigmas, count_per_sigma: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian perturbations of random subsets of ``points``, one block per sigma.

    Returns
    -------
    (len(sigmas) * count_per_sigma, 3) float64
    """
    blocks = []
    for sigma in sigmas:
        base = points[rng.integers(0, len(points), count_per_sigma)]
        blocks.append(base + rng.normal(scale=sigma, size=base.shape))
    return np.concatenate(blocks) if blocks else np.zeros((0, 3))
