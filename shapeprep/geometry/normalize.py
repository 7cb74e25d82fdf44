"""Clean a triangle soup and map it into the cube ``[-bound, bound]^3``.

The normalised frame is ``normalized = (original - center) * scale``, so any
output maps back with :func:`to_original_frame`. ``center`` is the centre of
the axis-aligned bounding box and ``scale = bound / (max_extent / 2)``, so the
longest axis spans exactly ``[-bound, bound]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..status import MeshError
from .surface import triangle_areas


@dataclass(frozen=True)
class NormalizedMesh:
    """A cleaned mesh in the normalised frame plus what maps it back.

    Attributes
    ----------
    vertices : (n, 3) float64
        In ``[-bound, bound]^3``.
    faces : (m, 3) int64
    center : (3,) float64
        Bounding-box centre in the original frame.
    scale : float
        ``normalized = (original - center) * scale``.
    counts : dict
        Input and cleaning counts (vertices, faces, welded, dropped faces).
    """

    vertices: np.ndarray
    faces: np.ndarray
    center: np.ndarray
    scale: float
    counts: dict


def normalization_transform(vertices: np.ndarray, bound: float) -> tuple[np.ndarray, float]:
    """Bounding-box centre and the scale that fits the longest axis into ``[-bound, bound]``.

    Parameters
    ----------
    vertices : (n, 3) float64
    bound : float

    Returns
    -------
    center : (3,) float64
    scale : float
    """
    lower, upper = vertices.min(axis=0), vertices.max(axis=0)
    extent = float((upper - lower).max())
    if not extent > 0.0:
        raise MeshError("zero_extent", "all vertices coincide: the mesh has no size")
    return (lower + upper) / 2.0, 2.0 * bound / extent


def to_original_frame(points: np.ndarray, center: np.ndarray, scale: float) -> np.ndarray:
    """Map points from the normalised frame back to the source file's frame.

    Parameters
    ----------
    points : (n, 3) float
    center : (3,) float
    scale : float

    Returns
    -------
    (n, 3) float64
    """
    return np.asarray(points, dtype=np.float64) / scale + np.asarray(center, dtype=np.float64)


def weld_vertices(vertices: np.ndarray, faces: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices that fall in the same ``tolerance``-sized cell and drop unused ones.

    Many GLB/OBJ files split vertices at UV or normal seams; they only
    become closed once welded.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    tolerance : float
        Cell size in the units of ``vertices``; 0 merges exact duplicates only.

    Returns
    -------
    vertices : (k, 3) float64
        One representative (the first) per cell, in order of first use.
    faces : (m, 3) int64
    """
    keys = np.round(vertices / tolerance).astype(np.int64) if tolerance > 0 else vertices
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    used, compact = np.unique(faces, return_inverse=True)
    # unique() sorts; keep the position of each cell's first vertex.
    representative = first[used]
    return vertices[representative], compact.reshape(-1, 3).astype(np.int64)


def drop_bad_faces(vertices: np.ndarray, faces: np.ndarray, min_area: float) -> tuple[np.ndarray, dict]:
    """Remove degenerate (repeated index or area <= ``min_area``) and duplicate faces.

    Duplicates are faces over the same three vertices in any order; the first
    is kept.

    Returns
    -------
    faces : (k, 3) int64
    dropped : dict
        ``{"degenerate_faces": int, "duplicate_faces": int}``
    """
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    degenerate = repeated | (triangle_areas(vertices, faces) <= min_area)
    kept = faces[~degenerate]
    _, first = np.unique(np.sort(kept, axis=1), axis=0, return_index=True)
    unique = kept[np.sort(first)]
    return unique, {"degenerate_faces": int(degenerate.sum()), "duplicate_faces": int(len(kept) - len(unique))}


def normalize_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    bound: float = 0.95,
    weld_tolerance: float = 1e-6,
    min_face_area: float = 1e-12,
) -> NormalizedMesh:
    """Weld, clean and normalise a triangle soup.

    Parameters
    ----------
    vertices : (n, 3) float64
        In the source frame.
    faces : (m, 3) int64
    bound : float
        Half-size of the target cube; 0.95 leaves room for the watertight
        shell's dilation inside the ``[-1, 1]`` grid.
    weld_tolerance : float
        Weld distance in normalised units (fraction of the half-size ``bound``).
    min_face_area : float
        Faces at or below this area in normalised units are dropped.

    Returns
    -------
    NormalizedMesh
    """
    if len(faces) == 0:
        raise MeshError("no_faces", "the mesh has no faces")
    used = np.unique(faces)
    center, scale = normalization_transform(vertices[used], bound)
    normalized = (vertices - center) * scale
    welded_vertices, welded_faces = weld_vertices(normalized, faces, weld_tolerance)
    clean_faces, dropped = drop_bad_faces(welded_vertices, welded_faces, min_face_area)
    if len(clean_faces) == 0:
        raise MeshError("no_faces", "every face is degenerate (zero area or repeated vertices)")
    final_vertices, final_faces = weld_vertices(welded_vertices, clean_faces, 0.0)
    counts = {
        "source_vertices": int(len(vertices)),
        "source_faces": int(len(faces)),
        "vertices": int(len(final_vertices)),
        "faces": int(len(final_faces)),
        **dropped,
    }
    return NormalizedMesh(final_vertices, final_faces, center, float(scale), counts)
