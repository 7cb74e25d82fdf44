"""Salient (sharp-edge) point sampling, as in Dora: dihedral-angle edges, endpoints
plus length-proportional interpolation, then farthest point sampling.

Two engines give the same kind of output: a vectorized numpy path and
meshiki's C++ sampler (``Mesh.salient_point_sample``, positions only). Both
return unit normals: the normalised sum of the two faces adjacent to the edge
a point lies on. Every function takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..geometry.distance import IglDistance
from ..geometry.surface import face_normals


def manifold_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges shared by exactly two faces, with those faces.

    Parameters
    ----------
    faces : (m, 3) int

    Returns
    -------
    edges : (e, 2) int64
        Sorted vertex pairs.
    face_a, face_b : (e,) int64
        The two faces of each edge.
    consistent : (e,) bool
        Whether the two faces traverse the edge in opposite directions
        (consistent winding). Source meshes often mix windings.
    """
    faces = np.asarray(faces, dtype=np.int64)
    directed = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    forward = directed[:, 0] < directed[:, 1]
    low, high = directed.min(axis=1), directed.max(axis=1)
    # One int64 key per undirected edge: a 1-D sort is several times faster than np.unique(axis=0).
    key = low * (int(faces.max(initial=0)) + 1) + high
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]]))
    counts = np.diff(np.concatenate([starts, [len(key)]]))
    shared = starts[counts == 2]
    first, second = order[shared], order[shared + 1]
    edges = np.stack([low[first], high[first]], axis=1)
    return edges, first // 3, second // 3, forward[first] != forward[second]


def salient_edges(vertices: np.ndarray, faces: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Manifold edges whose two face normals differ by more than ``angle_deg``.

    Where the two faces are wound inconsistently, one normal is flipped
    first, so a smooth surface with mixed winding is not taken for a sharp
    fold. Boundary and non-manifold edges are not salient (their dihedral
    angle is undefined).

    Returns
    -------
    edges : (e, 2) int64
        Vertex indices.
    normals : (e, 3) float64
        Unit sum of the two adjacent face normals (with the same flip).
    """
    edges, face_a, face_b, consistent = manifold_edges(faces)
    normals = face_normals(vertices, faces)
    normal_a = normals[face_a]
    normal_b = normals[face_b] * np.where(consistent, 1.0, -1.0)[:, None]
    sharp = np.einsum("ij,ij->i", normal_a, normal_b) < np.cos(np.deg2rad(angle_deg))
    mean = normal_a[sharp] + normal_b[sharp]
    length = np.linalg.norm(mean, axis=1, keepdims=True)
    mean = np.divide(mean, length, out=normal_a[sharp].copy(), where=length > 1e-12)
    return edges[sharp], mean


def salient_candidates(vertices: np.ndarray, edges: np.ndarray, edge_normals: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Edge endpoints plus ``count`` points spread along edges in proportion to length.

    Returns
    -------
    points : (2e + count, 3) float64
    normals : (2e + count, 3) float64
    """
    start, end = vertices[edges[:, 0]], vertices[edges[:, 1]]
    lengths = np.linalg.norm(end - start, axis=1)
    share = lengths / max(lengths.sum(), 1e-300) * count
    per_edge = np.floor(share).astype(np.int64)
    remainder = count - per_edge.sum()
    if remainder > 0:
        per_edge[np.argsort(per_edge - share, kind="stable")[:remainder]] += 1
    owner = np.repeat(np.arange(len(edges)), per_edge)
    t = rng.random(len(owner))[:, None]
    along = start[owner] + t * (end[owner] - start[owner])
    points = np.concatenate([start, end, along])
    normals = np.concatenate([edge_normals, edge_normals, edge_normals[owner]])
    return points, normals


def farthest_point_indices(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` farthest-point samples (fpsample's bucket kd-line).

    The start index is fixed at 0 (fpsample picks a random one otherwise),
    so the result depends only on the input.

    Returns
    -------
    (min(count, k),) int64
    """
    import fpsample

    if count >= len(points):
        return np.arange(len(points))
    height = 7 if len(points) > 2048 else 3
    indices = fpsample.bucket_fps_kdline_sampling(np.ascontiguousarray(points, np.float32), count, h=height, start_idx=0)
    return np.asarray(indices, dtype=np.int64)


def _fill_to_count(points, normals, count, rng):
    """Repeat random rows when fewer distinct points than wanted exist."""
    if len(points) >= count:
        return points[:count], normals[:count]
    extra = rng.integers(0, len(points), count - len(points))
    return np.concatenate([points, points[extra]]), np.concatenate([normals, normals[extra]])


class SalientSample(NamedTuple):
    """Output of the salient samplers.

    Attributes
    ----------
    points : (k, 3) float64
        k == the count asked for, or 0 when the mesh has no salient edge.
    normals : (k, 3) float64
    edges : int
        Number of salient edges found.
    engine : str
        ``numpy`` or ``meshiki``.
    """

    points: np.ndarray
    normals: np.ndarray
    edges: int
    engine: str


def sample_salient_numpy(vertices, faces, count, angle_deg, rng, oversample: int = 2) -> SalientSample:
    """Salient-edge points with normals, vectorized numpy + fpsample.

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
        Candidates along edges per wanted point before FPS. 2 spaces the
        points within about 10% of what 4 gives (mean nearest-neighbour
        distance, shared meshes) at two thirds of the time.

    Returns
    -------
    SalientSample
    """
    edges, edge_normals = salient_edges(vertices, faces, angle_deg)
    if len(edges) == 0:
        return SalientSample(np.zeros((0, 3)), np.zeros((0, 3)), 0, "numpy")
    points, normals = salient_candidates(vertices, edges, edge_normals, oversample * count, rng)
    keep = farthest_point_indices(points, count)
    return SalientSample(*_fill_to_count(points[keep], normals[keep], count, rng), len(edges), "numpy")


def nearest_edge(vertices: np.ndarray, edges: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest edge to each point (libigl AABB over segments).

    Returns
    -------
    edge : (k,) int64
    distance : (k,) float64
    """
    squared, edge = IglDistance(vertices, edges).squared_distance_and_face(points)
    return edge, np.sqrt(squared)


def sample_salient_meshiki(vertices, faces, count, angle_deg, rng) -> SalientSample:
    """Salient-edge points from meshiki's C++ sampler, normals from the edge each lies on.

    meshiki detects salient edges with its own face normals (no winding
    repair) and returns positions only; each point takes the normal of the
    closest edge found by :func:`salient_edges`.

    Returns
    -------
    SalientSample
    """
    from meshiki import Mesh

    edges, edge_normals = salient_edges(vertices, faces, angle_deg)
    empty = SalientSample(np.zeros((0, 3)), np.zeros((0, 3)), 0, "meshiki")
    if len(edges) == 0:
        return empty
    mesh = Mesh(np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(faces, np.int32).tolist(), clean=False)
    points = np.asarray(mesh.salient_point_sample(count, thresh_bihedral=angle_deg), dtype=np.float64).reshape(-1, 3)
    if len(points) == 0:
        return empty
    edge, _ = nearest_edge(vertices, edges, points)
    return SalientSample(*_fill_to_count(points, edge_normals[edge], count, rng), len(edges), "meshiki")


def meshiki_available() -> bool:
    """Whether the meshiki fast path can be imported."""
    try:
        import meshiki  # noqa: F401
    except ImportError:
        return False
    return True


def sample_salient(vertices, faces, count, angle_deg, rng, engine: str = "numpy") -> SalientSample:
    """Salient points with the chosen engine, ``numpy`` or ``meshiki``."""
    if engine == "meshiki":
        return sample_salient_meshiki(vertices, faces, count, angle_deg, rng)
    if engine == "numpy":
        return sample_salient_numpy(vertices, faces, count, angle_deg, rng)
    raise ValueError(f"unknown salient engine {engine!r}")
