"""Mesh topology on ``(m, 3)`` face arrays: edges, components, volumes, Euler characteristic.

Each helper is defined once here and shared by normalisation curation,
the watertight finish (small parts, decimation checks) and validation.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """Half-edges ``(a, b)`` of every face, face-major.

    Parameters
    ----------
    faces : (m, 3) int64

    Returns
    -------
    (3 m, 2) int64
        Row ``3 f + c`` is the edge from corner ``c`` to corner ``c + 1`` of face ``f``.
    """
    return np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)


def edge_keys(edges: np.ndarray, n_vertices: int) -> np.ndarray:
    """One int64 per vertex pair ``(a, b)``: ``a * n_vertices + b`` (order kept).

    Sorting int64 keys is several times faster than ``np.unique(axis=0)``.
    """
    return edges[:, 0].astype(np.int64) * n_vertices + edges[:, 1]


def edge_face_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges and how many faces use each.

    Returns
    -------
    edges : (e, 2) int64
        Sorted vertex pairs.
    counts : (e,) int64
    """
    n_vertices = int(faces.max()) + 1
    half = np.sort(directed_edges(faces), axis=1)
    keys, counts = np.unique(edge_keys(half, n_vertices), return_counts=True)
    return np.stack([keys // n_vertices, keys % n_vertices], axis=1), counts


def winding_is_consistent(faces: np.ndarray) -> bool:
    """True when no directed edge is used twice (neighbours traverse shared edges oppositely)."""
    keys = np.sort(edge_keys(directed_edges(faces), int(faces.max()) + 1))
    return not bool((keys[1:] == keys[:-1]).any())


def non_manifold_vertex_count(faces: np.ndarray, n_vertices: int) -> int:
    """Vertices whose incident faces do not form a single edge-connected fan.

    Corners ``(face, vertex)`` are linked when their faces share an edge
    through that vertex; a manifold vertex has exactly one group of corners.

    Parameters
    ----------
    faces : (m, 3) int64
    n_vertices : int

    Returns
    -------
    int
    """
    n_faces = len(faces)
    sorted_half = np.sort(directed_edges(faces), axis=1)
    keys = edge_keys(sorted_half, n_vertices)
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    first, second = order[:-1][same], order[1:][same]  # half-edge pairs on a shared edge
    face_a, face_b = first // 3, second // 3
    corner = np.arange(3 * n_faces).reshape(n_faces, 3)

    def corner_of(face, vertex):
        return corner[face, np.argmax(faces[face] == vertex[:, None], axis=1)]

    rows, cols = [], []
    for endpoint in (0, 1):
        vertex = sorted_half[first, endpoint]
        rows.append(corner_of(face_a, vertex))
        cols.append(corner_of(face_b, vertex))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(3 * n_faces,) * 2)
    _, corner_group = connected_components(graph, directed=False)
    groups = np.unique(faces.reshape(-1).astype(np.int64) * (3 * n_faces) + corner_group)
    fans_per_vertex = np.bincount(groups // (3 * n_faces), minlength=n_vertices)
    return int((fans_per_vertex > 1).sum())


def face_components(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of faces through shared vertices.

    Returns
    -------
    count : int
    face_label : (m,) int64
    """
    n_faces = len(faces)
    rows = np.repeat(np.arange(n_faces), 3)
    graph = coo_matrix(
        (np.ones(3 * n_faces, dtype=np.int8), (rows, n_faces + faces.reshape(-1))),
        shape=(n_faces + n_vertices,) * 2,
    )
    _, labels = connected_components(graph, directed=False)
    _, face_label = np.unique(labels[:n_faces], return_inverse=True)
    return int(face_label.max()) + 1 if n_faces else 0, face_label.reshape(-1)


def signed_volumes(vertices: np.ndarray, faces: np.ndarray, face_label: np.ndarray, n_components: int) -> np.ndarray:
    """Enclosed volume per component by the divergence theorem (positive if wound outward).

    Returns
    -------
    (n_components,) float64
    """
    corners = vertices[faces]
    tetra = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6.0
    return np.bincount(face_label, weights=tetra, minlength=n_components)


def euler_per_component(faces: np.ndarray, face_label: np.ndarray, n_components: int, edges: np.ndarray) -> np.ndarray:
    """Euler characteristic ``V - E + F`` of each component.

    Returns
    -------
    (n_components,) int64
    """
    n_faces = np.bincount(face_label, minlength=n_components)
    vertex_label = np.full(int(faces.max()) + 1, -1, dtype=np.int64)
    vertex_label[faces.reshape(-1)] = np.repeat(face_label, 3)
    used = vertex_label >= 0
    n_vertices = np.bincount(vertex_label[used], minlength=n_components)
    n_edges = np.bincount(vertex_label[edges[:, 0]], minlength=n_components)
    return n_vertices - n_edges + n_faces
