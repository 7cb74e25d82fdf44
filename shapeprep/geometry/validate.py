"""The validate stage's checks of a watertight mesh, all in numpy.

A mesh passes when it is a closed, oriented 2-manifold with outward normals
(every component has positive volume, even Euler characteristic) and stays
within the configured deviation from its source surface. The record lists
every figure and, when it fails, every reason.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .bvh import TriangleBVH
from .nearsurface import ExactDistance
from .surface import sample_surface_faces, triangle_areas
from .topology import HalfEdges, euler_per_component, face_components, signed_volumes

#: Distances up to this many voxels come from the binned index (:mod:`.nearsurface`), farther ones from a
#: tree (:func:`_exact_distances`).
DEVIATION_REACH_VOXELS = 3.0
#: Output surface farther than this (voxels) from every source surface counts as invented.
INVENTED_VOXELS = 1.5


def validate_mesh(vertices: np.ndarray, faces: np.ndarray) -> dict:
    """Topology record of a mesh that should be a closed outward 2-manifold.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64

    Returns
    -------
    dict
        ``faces, vertices, components, boundary_edges, non_manifold_edges,
        non_manifold_vertices, winding_consistent, volume, min_component_volume,
        euler_characteristic, genus`` (sum over components; -1 if any
        component has an odd characteristic), ``genus_per_component`` (list),
        ``reasons`` (list of str; empty when valid).
    """
    reasons = []
    if len(faces) == 0:
        return {"faces": 0, "vertices": int(len(vertices)), "components": 0, "reasons": ["empty_mesh"]}
    half_edges = HalfEdges(faces, len(vertices))
    counts = half_edges.counts
    boundary = int((counts == 1).sum())
    non_manifold_edges = int((counts > 2).sum())
    edge_manifold = boundary == 0 and non_manifold_edges == 0
    counts = None
    consistent = half_edges.consistent()
    non_manifold_vertices = half_edges.non_manifold_vertices() if edge_manifold else -1
    edge_vertices = half_edges.low_vertices
    half_edges = None  # three arrays per half-edge: gone before the components' (a watertight mesh at 1024: 12M faces)
    n_components, face_label = face_components(faces, len(vertices))
    volumes = signed_volumes(vertices, faces, face_label, n_components)
    euler = euler_per_component(faces, face_label, n_components, edge_vertices)
    genus = (2 - euler) // 2
    integer_genus = bool(((euler % 2) == 0).all() and (euler <= 2).all())
    if boundary:
        reasons.append(f"open: {boundary} boundary edges")
    if non_manifold_edges:
        reasons.append(f"non_manifold_edges: {non_manifold_edges}")
    if non_manifold_vertices > 0:
        reasons.append(f"non_manifold_vertices: {non_manifold_vertices}")
    if not consistent:
        reasons.append("inconsistent_winding")
    if (volumes <= 0).any():
        reasons.append(f"non_positive_volume: {int((volumes <= 0).sum())} components")
    if not integer_genus:
        reasons.append("non_integer_genus")
    return {
        "faces": int(len(faces)),
        "vertices": int(len(vertices)),
        "components": n_components,
        "boundary_edges": boundary,
        "non_manifold_edges": non_manifold_edges,
        "non_manifold_vertices": non_manifold_vertices,
        "winding_consistent": consistent,
        "volume": float(volumes.sum()),
        "min_component_volume": float(volumes.min()),
        "euler_characteristic": int(euler.sum()),
        "genus": int(genus.sum()) if integer_genus else -1,
        "genus_per_component": genus.astype(int).tolist(),
        "reasons": reasons,
    }


def surface_deviation(
    vertices: np.ndarray,
    faces: np.ndarray,
    source_vertices: np.ndarray,
    source_faces: np.ndarray,
    voxel: float,
    samples: int,
    rng: np.random.Generator,
) -> dict:
    """Two-sided surface distance between a mesh and its source, in voxels.

    ``to_source`` measures how far the output lies from the source (the
    eps offset shows here); ``from_source`` measures how much of the source
    the output misses (lost parts show here).

    Parameters
    ----------
    vertices, faces : the output mesh
    source_vertices, source_faces : the normalised source mesh
    voxel : float
        Grid spacing the figures are divided by.
    samples : int
        Area-weighted points drawn on each surface.
    rng : numpy Generator

    Returns
    -------
    dict
        ``to_source_mean, to_source_p95, to_source_max, from_source_mean,
        from_source_p95, from_source_max, chamfer`` (mean of both means),
        ``hausdorff`` (max of both maxima); all in voxels. ``invented_fraction``
        (share of the output's area farther than :data:`INVENTED_VOXELS` from
        the source) and ``invented_area`` (that area, in voxel faces: voxel^2);
        ``source_parts`` and ``source_parts_missing`` (connected parts of the
        source with no sample point within :data:`INVENTED_VOXELS` of the output:
        enclosed parts that vanished into a solid).
    """
    out_points, _ = sample_surface_faces(vertices, faces, samples, rng)
    src_points, src_faces = sample_surface_faces(source_vertices, source_faces, samples, rng)
    # Exact either way: within a few voxels (nearly every point) the binned index answers, at a cost that
    # depends neither on the triangles' shape (sources are full of long, thin, overlapping ones) nor much on
    # their number (binning a million-face output for 10k points: 0.17 s, building a BVH: 0.45 s).
    reach = DEVIATION_REACH_VOXELS * voxel
    to_source = _exact_distances(source_vertices, source_faces, out_points, reach) / voxel
    from_source = _exact_distances(vertices, faces, src_points, reach, well_shaped=True) / voxel
    record = {}
    for name, values in (("to_source", to_source), ("from_source", from_source)):
        record[f"{name}_mean"] = float(values.mean())
        record[f"{name}_p95"] = float(np.percentile(values, 95))
        record[f"{name}_max"] = float(values.max())
    # Source parts the output lost entirely (an engine inside its closed housing vanishes into the solid).
    n_parts, part = face_components(source_faces, len(source_vertices))
    sampled = np.bincount(part[src_faces], minlength=n_parts)
    kept = np.bincount(part[src_faces], weights=from_source <= INVENTED_VOXELS, minlength=n_parts)
    record["source_parts"] = int(n_parts)
    record["source_parts_missing"] = int(((sampled > 0) & (kept == 0)).sum())
    record["invented_fraction"] = float((to_source > INVENTED_VOXELS).mean())
    record["invented_area"] = record["invented_fraction"] * float(triangle_areas(vertices, faces).sum()) / voxel**2
    record["chamfer"] = (record["to_source_mean"] + record["from_source_mean"]) / 2.0
    record["hausdorff"] = max(record["to_source_max"], record["from_source_max"])
    return record


#: The few points beyond the binned index's reach (a cap across a hole, a part swallowed by the fill) go to
#: an index this many times wider before libigl's tree: binning a million faces again costs less than
#: building that tree over them.
WIDER_REACH = 4.0


def _exact_distances(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, reach: float,
                     well_shaped: bool = False) -> np.ndarray:
    """Exact unsigned distance from each point ``(k, 3)`` to the mesh: ``(k,)``.

    The binned index first; the points beyond its reach go to a wider one and then libigl's tree, or, for a
    ``well_shaped`` mesh (marching-cubes output), to a :class:`~.bvh.TriangleBVH` over the faces that can hold
    their closest points (:func:`beyond_reach_bounds`): over those triangles it is exact at any distance and
    builds several times faster than libigl's tree (3M faces at 512: a few tenths of a second against 3.5 s).
    """
    # Only the faces that come within reach of a point can answer within reach: a check's ten thousand points
    # need a third of a 14M-face output at 1024, whose whole index was gigabytes and seconds. The index's
    # cells follow the vertices, not the faces, so the answers are the same.
    near = faces[faces_near_points(vertices, faces, points, reach)]
    squared, _, _ = ExactDistance(vertices, near, reach=reach).query(points, want_closest=False, within=reach)
    near = None
    beyond = ~np.isfinite(squared)
    if beyond.any() and well_shaped:
        # Two points beyond reach once built a tree over all 14M faces of a 1024 output (over a GB, 4 s): only the
        # faces within each point's bound can hold its closest point.
        bounds = beyond_reach_bounds(points[beyond], points[~beyond], np.sqrt(squared[~beyond]))
        candidates = faces
        if np.isfinite(bounds).all():
            candidates = faces[faces_near_points(vertices, faces, points[beyond], bounds)]
        squared[beyond] = TriangleBVH(vertices, candidates).query(points[beyond], want_closest=False)[0]
    elif beyond.any():
        wider = ExactDistance(vertices, faces, reach=WIDER_REACH * reach)
        squared[beyond] = wider.query(points[beyond], want_closest=False)[0]
    return np.sqrt(squared)


def beyond_reach_bounds(points: np.ndarray, known: np.ndarray, known_distances: np.ndarray,
                        chunk: int = 1 << 20) -> np.ndarray:
    """An upper bound on each point's distance to a mesh ``(k, 3) -> (k,)`` from points whose distance is known
    (``known (j, 3)``, ``known_distances (j,)``): ``min_q |p - q| + d(q)`` (the triangle inequality), grown by a
    few ulps so rounding cannot put the closest face outside it; ``inf`` when nothing is known. Pairs in
    chunks of about ``chunk``."""
    bounds = np.full(len(points), np.inf)
    if len(known) == 0:
        return bounds
    step = max(chunk // len(known), 1)
    for start in range(0, len(points), step):
        gaps = np.linalg.norm(points[start:start + step, None, :] - known[None, :, :], axis=2)
        bounds[start:start + step] = (gaps + known_distances[None, :]).min(axis=1)
    return bounds * (1.0 + 1e-9) + 1e-12


#: Cells per axis, at most, of the points' footprint grid in :func:`faces_near_points` (int32: 68 MB at 256).
NEAR_POINTS_MAX_CELLS = 256


def faces_near_points(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, reach) -> np.ndarray:
    """Every face whose bounding box comes within ``reach`` of a point (per axis), and some more: ``(m,)`` bool.

    A superset of the faces within ``reach`` of some point. ``reach``: a float, or ``(k,)`` one per point.
    Each point's cube of half-side ``reach`` is painted into a grid of cells about the smallest reach wide (at
    most ``NEAR_POINTS_MAX_CELLS`` per axis); a face is kept when its box meets a painted cell (a summed-volume
    table: one test per face, one pass over the faces without temporaries). Cells as wide as the reach keep
    about a third of a 1024 output's faces for ten thousand points on it (64 cells per axis kept three quarters).

    Parameters
    ----------
    vertices : (n, 3) float, faces : (m, 3) int, points : (k, 3) float, reach : float or (k,) float
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) == 0 or len(faces) == 0:
        return np.zeros(len(faces), dtype=bool)
    reach = np.broadcast_to(np.asarray(reach, dtype=np.float64), (len(points),))
    low, high = (points - reach[:, None]).min(axis=0), (points + reach[:, None]).max(axis=0)
    extent = float((high - low).max())
    n_cells = int(min(max(math.ceil(extent / max(float(reach.min()), 1e-12)), 1), NEAR_POINTS_MAX_CELLS))
    cell = max(extent / n_cells, 1e-12) * (1.0 + 1e-9)
    table = _painted_cells(points, np.ascontiguousarray(reach), low, cell, n_cells)
    return _faces_near(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces), low, cell, table)


@njit(cache=True)
def _painted_cells(points, reach, origin, cell, n):
    """Summed-volume table ``(n + 1,) * 3`` int32 of the cells that a point's cube (``reach`` either side) meets:
    ``table[i, j, k]`` counts the painted cells below ``(i, j, k)``. Painted by a difference array (eight
    corners per cube, then prefix sums), so a wide cube costs no more than a narrow one."""
    table = np.zeros((n + 1, n + 1, n + 1), np.int32)
    low, high = np.empty(3, np.int64), np.empty(3, np.int64)
    for p in range(points.shape[0]):
        for axis in range(3):
            low[axis] = min(max(int((points[p, axis] - reach[p] - origin[axis]) / cell), 0), n - 1)
            high[axis] = min(max(int((points[p, axis] + reach[p] - origin[axis]) / cell), 0), n - 1) + 1
        for corner in range(8):
            x = high[0] if corner & 4 else low[0]
            y = high[1] if corner & 2 else low[1]
            z = high[2] if corner & 1 else low[2]
            upper_ends = (corner & 1) + ((corner >> 1) & 1) + ((corner >> 2) & 1)
            table[x, y, z] += -1 if upper_ends % 2 else 1
    _prefix_sums(table)  # now: how many cubes meet each cell (the last row and columns are beyond the grid)
    for i in range(n + 1):
        for j in range(n + 1):
            for k in range(n + 1):
                table[i, j, k] = 1 if i < n and j < n and k < n and table[i, j, k] > 0 else 0
    _prefix_sums(table)
    # Shift by one cell so that table[i, j, k] counts the painted cells in [0, i) x [0, j) x [0, k).
    for i in range(n, -1, -1):
        for j in range(n, -1, -1):
            for k in range(n, -1, -1):
                table[i, j, k] = table[i - 1, j - 1, k - 1] if i > 0 and j > 0 and k > 0 else 0
    return table


@njit(cache=True)
def _prefix_sums(table):
    """Inclusive prefix sums along each axis of a 3D array, in place."""
    a, b, c = table.shape
    for i in range(1, a):
        table[i] += table[i - 1]
    for i in range(a):
        for j in range(1, b):
            table[i, j] += table[i, j - 1]
    for i in range(a):
        for j in range(b):
            for k in range(1, c):
                table[i, j, k] += table[i, j, k - 1]


@njit(cache=True)
def _faces_near(vertices, faces, origin, cell, table):
    n = table.shape[0] - 1
    keep = np.zeros(faces.shape[0], np.bool_)
    low, high = np.empty(3, np.int64), np.empty(3, np.int64)
    for f in range(faces.shape[0]):
        inside = True
        for axis in range(3):
            a, b, c = vertices[faces[f, 0], axis], vertices[faces[f, 1], axis], vertices[faces[f, 2], axis]
            lo = (min(a, b, c) - origin[axis]) / cell
            hi = (max(a, b, c) - origin[axis]) / cell
            if hi < 0 or lo >= n:
                inside = False
                break
            low[axis] = max(int(np.floor(lo)), 0)
            high[axis] = min(int(np.floor(hi)), n - 1) + 1
        if inside:
            x0, y0, z0, x1, y1, z1 = low[0], low[1], low[2], high[0], high[1], high[2]
            total = (table[x1, y1, z1] - table[x0, y1, z1] - table[x1, y0, z1] - table[x1, y1, z0]
                     + table[x0, y0, z1] + table[x0, y1, z0] + table[x1, y0, z0] - table[x0, y0, z0])
            keep[f] = total > 0
    return keep


def deviation_reasons(deviation: dict, max_chamfer: float, max_hausdorff: float) -> list[str]:
    """Reasons a deviation record exceeds its thresholds (both in voxels)."""
    reasons = []
    if deviation["chamfer"] > max_chamfer:
        reasons.append(f"chamfer {deviation['chamfer']:.2f} > {max_chamfer} voxels")
    if deviation["hausdorff"] > max_hausdorff:
        reasons.append(f"hausdorff {deviation['hausdorff']:.2f} > {max_hausdorff} voxels")
    return reasons
