"""Curation filters: which objects are not worth training on, and why.

Each test is a pure function on arrays; :func:`curate_counts` and
:func:`curate_shape` raise :class:`~shapeprep.status.Filtered` with a reason
when a configured threshold is crossed (a threshold of None turns the test
off). The normalize stage applies them and records every rejection with status
``filtered``.

- File size and source face / vertex counts: ``file_too_large``,
  ``too_few_faces``, ``too_many_faces``, ``too_few_vertices``, ``too_many_vertices``.
- Flat geometry: the shortest bounding-box side is a tiny fraction of the
  longest (``flat_geometry``): cards, decals, single sheets.
- Planar patch (TripoSG's filter): most of the surface area lies in one plane
  (``planar_patch``): ground planes and billboards with small things on them.
  A box, whose area is spread over six planes, passes.
- Extraneous parts: connected parts far from the main body (the part with the
  largest area) are dropped, not rejected; :func:`far_parts` says which.
"""

from __future__ import annotations

import numpy as np

from ..status import Filtered
from .surface import triangle_areas
from .topology import face_components


def check_bounds(value: float, low, high, what: str, unit: str = "") -> None:
    """Raise Filtered(``too_few_<what>`` / ``too_many_<what>``) outside ``[low, high]`` (None: unbounded)."""
    if low is not None and value < low:
        raise Filtered(f"too_few_{what}", f"{value}{unit} {what}, minimum {low}")
    if high is not None and value > high:
        raise Filtered(f"too_many_{what}", f"{value}{unit} {what}, maximum {high}")


def check_file_size(size: int, params: dict) -> None:
    """Raise Filtered(``file_too_large``) above ``params["max_file_bytes"]``."""
    limit = params.get("max_file_bytes")
    if limit is not None and size > limit:
        raise Filtered("file_too_large", f"{size} bytes, maximum {limit}")


def curate_counts(num_vertices: int, num_faces: int, params: dict) -> None:
    """Face and vertex bounds on the source mesh as loaded."""
    check_bounds(num_faces, params.get("min_faces"), params.get("max_faces"), "faces")
    check_bounds(num_vertices, params.get("min_vertices"), params.get("max_vertices"), "vertices")


def extent_ratio(vertices: np.ndarray) -> float:
    """Shortest over longest side of the axis-aligned bounding box of ``vertices (n, 3)``."""
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    return float(extent.min() / extent.max()) if extent.max() > 0 else 0.0


def planar_fraction(vertices: np.ndarray, faces: np.ndarray, tolerance: float, candidates: int = 8) -> float:
    """Largest share of surface area lying in a single plane.

    Faces are grouped by normal direction (either orientation: a two-sided
    card is one plane) into bins about ``10 * tolerance`` radians wide; for the
    ``candidates`` heaviest directions the faces within that angle are binned
    by plane offset ``n . centroid`` with width ``tolerance`` (two adjacent bins
    are summed, so a plane on a bin edge is not split).

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int
    tolerance : plane thickness, in the vertices' units

    Returns
    -------
    float in [0, 1]
    """
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    keep = double_area > 0
    if not keep.any():
        return 0.0
    normals = cross[keep] / double_area[keep, None]
    areas = double_area[keep] / 2
    centroids = corners[keep].mean(axis=1)
    # One orientation per direction: the largest-magnitude component positive.
    flip = np.take_along_axis(normals, np.abs(normals).argmax(axis=1)[:, None], axis=1)[:, 0] < 0
    normals[flip] *= -1
    angle = 10.0 * tolerance
    keys = np.round(normals / angle).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    bin_area = np.bincount(inverse.ravel(), weights=areas)
    best = 0.0
    for direction in np.argsort(bin_area)[::-1][:candidates]:
        members = inverse.ravel() == direction
        mean_normal = (normals[members] * areas[members, None]).sum(axis=0)
        mean_normal /= np.linalg.norm(mean_normal)
        aligned = np.abs(normals @ mean_normal) > np.cos(angle)
        offsets = np.floor(centroids[aligned] @ mean_normal / tolerance).astype(np.int64)
        if not len(offsets):
            continue
        offset_keys, offset_inverse = np.unique(offsets, return_inverse=True)
        per_offset = np.bincount(offset_inverse.ravel(), weights=areas[aligned])
        lookup = dict(zip(offset_keys.tolist(), per_offset.tolist()))
        pairs = [value + lookup.get(key + 1, 0.0) for key, value in lookup.items()]
        best = max(best, max(pairs))
    return float(min(best / areas.sum(), 1.0))


def far_parts(vertices: np.ndarray, faces: np.ndarray, factor: float) -> tuple[np.ndarray, int]:
    """Faces to keep when parts far from the main body are dropped.

    The main body grows from the part with the largest area: any part whose
    bounding box lies within ``factor`` times the body's bounding-box diagonal
    of the body's box joins it, and the body's box grows, until no part joins.
    Multi-part objects (an engine of 60 parts) stay whole; a lamp standing
    three room-widths away from a chair does not join.

    Returns
    -------
    keep : (m,) bool
    dropped : number of parts dropped
    """
    count, labels = face_components(faces, len(vertices))
    if count <= 1:
        return np.ones(len(faces), dtype=bool), 0
    area = np.bincount(labels, weights=triangle_areas(vertices, faces), minlength=count)
    corners = vertices[faces]
    lower = np.full((count, 3), np.inf)
    upper = np.full((count, 3), -np.inf)
    np.minimum.at(lower, labels, corners.min(axis=1))
    np.maximum.at(upper, labels, corners.max(axis=1))
    body = np.zeros(count, dtype=bool)
    body[area.argmax()] = True
    while True:
        body_lower, body_upper = lower[body].min(axis=0), upper[body].max(axis=0)
        gap = np.linalg.norm(np.maximum(0.0, np.maximum(lower - body_upper, body_lower - upper)), axis=1)
        joining = ~body & (gap <= factor * np.linalg.norm(body_upper - body_lower))
        if not joining.any():
            break
        body |= joining
    return body[labels], int((~body).sum())


def curate_shape(vertices: np.ndarray, faces: np.ndarray, params: dict) -> dict:
    """Flat and planar-patch tests on a normalised mesh; returns the measured values.

    Raises
    ------
    Filtered ``flat_geometry`` or ``planar_patch``.
    """
    metrics = {}
    ratio_limit = params.get("min_extent_ratio")
    if ratio_limit is not None:
        metrics["extent_ratio"] = ratio = extent_ratio(vertices[np.unique(faces)])
        if ratio < ratio_limit:
            raise Filtered("flat_geometry", f"shortest side is {ratio:.4f} of the longest, minimum {ratio_limit}")
    planar_limit = params.get("max_planar_fraction")
    if planar_limit is not None:
        metrics["planar_fraction"] = fraction = planar_fraction(vertices, faces, params["planar_tolerance"])
        if fraction > planar_limit:
            raise Filtered("planar_patch", f"{fraction:.1%} of the area lies in one plane, maximum {planar_limit:.0%}")
    return metrics
