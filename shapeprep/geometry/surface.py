"""Per-face geometry (area vectors, areas, unit normals) and uniform area-weighted surface sampling."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def face_area_vectors(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals: the cross product of two edges, twice the face area long.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int

    Returns
    -------
    (m, 3) float64
    """
    return _face_area_vectors(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64))


@njit(cache=True, parallel=True)
def _face_area_vectors(vertices, faces):
    # np.cross's formula (each product rounded, then the difference): the bits of the numpy version, in one
    # pass without the (m, 3) gathers.
    out = np.empty((faces.shape[0], 3))
    for f in prange(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        u0, u1, u2 = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1], vertices[b, 2] - vertices[a, 2]
        v0, v1, v2 = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1], vertices[c, 2] - vertices[a, 2]
        out[f, 0] = u1 * v2 - u2 * v1
        out[f, 1] = u2 * v0 - u0 * v2
        out[f, 2] = u0 * v1 - u1 * v0
    return out


@njit(cache=True, inline="always")
def unit_face_normal(vertices, faces, f):
    """Unit normal of face ``f`` (numba, one face) and the length of its area vector before normalising; a zero
    normal and length for a zero-area face. The area vector is :func:`face_area_vectors`' arithmetic."""
    a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
    ux, uy, uz = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1], vertices[b, 2] - vertices[a, 2]
    vx, vy, vz = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1], vertices[c, 2] - vertices[a, 2]
    nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    length = np.sqrt(nx * nx + ny * ny + nz * nz)
    if not length > 0.0:
        return 0.0, 0.0, 0.0, 0.0
    return nx / length, ny / length, nz / length, length


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangle areas.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int

    Returns
    -------
    (m,) float64
    """
    return 0.5 * np.linalg.norm(face_area_vectors(vertices, faces), axis=1)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals (zero for degenerate faces).

    Returns
    -------
    (m, 3) float64
    """
    normals = face_area_vectors(vertices, faces)
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
    points, chosen = sample_surface_faces(vertices, faces, count, rng)
    return points, face_normals(vertices, np.asarray(faces)[chosen])  # the chosen faces' only, not every face's


def sample_surface_faces(vertices: np.ndarray, faces: np.ndarray, count: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The draws of :func:`sample_surface`, with the face each point lies on instead of its normal.

    Returns
    -------
    points : (count, 3) float64
    face : (count,) int64
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
    return points, chosen
