"""Exact distances near a triangle mesh at a cost that does not depend on triangle shape.

A BVH (libigl's AABB) answers each query by descending a tree of boxes; long,
thin or overlapping triangles make the boxes overlap, and the cost per query
was measured to vary from 0.6 to 170 us between objects. Near the surface this
module works the other way round, as OpenVDB's mesh-to-volume and SDFGen do:

1. **Binning.** Space is cut into cubic cells of side ``cell``. Each triangle
   is listed in every cell whose centre lies within ``reach`` plus the cell's
   half-diagonal of it, so a cell's list holds every triangle that comes
   within ``reach`` of any point of the cell.
2. **Queries.** A point's distance is the minimum over its cell's list, and
   each triangle only visits the points inside its own box grown by
   ``reach``. For a point within ``reach`` of the mesh this is exact (its
   closest triangle is in the list and the point is in that triangle's box);
   a point farther away is reported as ``inf``.

Work is spread over cells with numba's ``prange`` (``threads`` of them); each
cell writes only its own points, so there are no races. :class:`ExactDistance`
answers the rest with libigl, so every query stays exact.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from .distance import DistanceQueries, IglDistance
from .grid import morton_codes

#: Grid points per cell side for the watertight grid: cells line up with the grid's 8^3 blocks.
GRID_CELL_POINTS = 8

#: Grid points per batch of cells in :meth:`GridBand.grid_band` (bounds the float64 scratch to 16 MB).
GRID_BATCH_POINTS = 4096 * 8**3


# ----------------------------------------------------------------------------- kernels


@njit(cache=True, inline="always")
def _closest_on_segment(px, py, pz, ax, ay, az, bx, by, bz):
    abx, aby, abz = bx - ax, by - ay, bz - az
    length = abx * abx + aby * aby + abz * abz
    t = 0.0
    if length > 0.0:
        t = ((px - ax) * abx + (py - ay) * aby + (pz - az) * abz) / length
        t = min(max(t, 0.0), 1.0)
    return ax + t * abx, ay + t * aby, az + t * abz


@njit(cache=True, inline="always")
def _is_proper(abx, aby, abz, acx, acy, acz):
    """Whether the triangle with sides ``ab`` and ``ac`` is not degenerate (its corners not collinear)."""
    nx, ny, nz = aby * acz - abz * acy, abz * acx - abx * acz, abx * acy - aby * acx
    scale = (abx * abx + aby * aby + abz * abz) * (acx * acx + acy * acy + acz * acz)
    return not (nx * nx + ny * ny + nz * nz <= 1e-24 * scale or scale == 0.0)


@njit(cache=True, inline="always")
def _closest_on_triangle(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz):
    """Closest point of triangle ``abc`` to ``p`` (Ericson, Real-Time Collision Detection 5.1.5).

    Degenerate triangles (collinear corners) fall back to the closest of their three edges.
    """
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    if not _is_proper(abx, aby, abz, acx, acy, acz):
        best = np.inf
        rx, ry, rz = ax, ay, az
        for edge in range(3):
            if edge == 0:
                qx, qy, qz = _closest_on_segment(px, py, pz, ax, ay, az, bx, by, bz)
            elif edge == 1:
                qx, qy, qz = _closest_on_segment(px, py, pz, bx, by, bz, cx, cy, cz)
            else:
                qx, qy, qz = _closest_on_segment(px, py, pz, cx, cy, cz, ax, ay, az)
            d = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
            if d < best:
                best, rx, ry, rz = d, qx, qy, qz
        return rx, ry, rz
    return _closest_on_proper_triangle(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz, abx, aby, abz, acx, acy, acz)


@njit(cache=True, inline="always")
def _closest_on_proper_triangle(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz, abx, aby, abz, acx, acy, acz):
    """The non-degenerate case of :func:`_closest_on_triangle`, given the sides ``ab`` and ``ac`` (so that a loop
    over points computes them once per triangle)."""
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return ax, ay, az
    bpx, bpy, bpz = px - bx, py - by, pz - bz
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return bx, by, bz
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3)
        return ax + v * abx, ay + v * aby, az + v * abz
    cpx, cpy, cpz = px - cx, py - cy, pz - cz
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return cx, cy, cz
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        w = d2 / (d2 - d6)
        return ax + w * acx, ay + w * acy, az + w * acz
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return bx + w * (cx - bx), by + w * (cy - by), bz + w * (cz - bz)
    denom = 1.0 / (va + vb + vc)
    v = vb * denom
    w = vc * denom
    return ax + abx * v + acx * w, ay + aby * v + acy * w, az + abz * v + acz * w


@njit(cache=True, inline="always")
def triangle_distance2(vertices, faces, t, x, y, z):
    """Squared distance from point ``(x, y, z)`` to triangle ``t``, and the closest point on it."""
    a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
    qx, qy, qz = _closest_on_triangle(
        x, y, z, vertices[a, 0], vertices[a, 1], vertices[a, 2], vertices[b, 0], vertices[b, 1],
        vertices[b, 2], vertices[c, 0], vertices[c, 1], vertices[c, 2])
    return (x - qx) ** 2 + (y - qy) ** 2 + (z - qz) ** 2, qx, qy, qz


@njit(cache=True, parallel=True)
def _bin(vertices, faces, origin, cell, n_cells, reach, offsets, out_cells, out_tris, fill):
    """Per triangle, the cells that its box grown by ``reach`` overlaps and whose centre is within
    ``reach`` + half a cell diagonal of it (both necessary for a point of the cell to be within reach).

    With ``fill=False`` returns the count per triangle; with ``fill=True`` also
    writes ``(cell code, triangle)`` pairs from ``offsets[t]`` on.
    """
    half_diagonal = math.sqrt(3.0) * 0.5 * cell
    limit = reach + half_diagonal
    limit2 = limit * limit
    counts = np.zeros(faces.shape[0], np.int32)  # cells per triangle: at most n_cells^3 (int32 below 1290 cells)
    for t in prange(faces.shape[0]):
        a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
        lo = np.empty(3, np.int64)
        hi = np.empty(3, np.int64)
        for axis in range(3):  # a point within reach lies in the triangle's box grown by reach
            low = min(vertices[a, axis], vertices[b, axis], vertices[c, axis]) - reach
            high = max(vertices[a, axis], vertices[b, axis], vertices[c, axis]) + reach
            lo[axis] = max(int(math.floor((low - origin[axis]) / cell)), 0)
            hi[axis] = min(int(math.floor((high - origin[axis]) / cell)), n_cells - 1)
        found = 0
        for i in range(lo[0], hi[0] + 1):
            x = origin[0] + (i + 0.5) * cell
            for j in range(lo[1], hi[1] + 1):
                y = origin[1] + (j + 0.5) * cell
                for k in range(lo[2], hi[2] + 1):
                    z = origin[2] + (k + 0.5) * cell
                    if triangle_distance2(vertices, faces, t, x, y, z)[0] <= limit2:
                        if fill:
                            out_cells[offsets[t] + found] = (i * n_cells + j) * n_cells + k
                            out_tris[offsets[t] + found] = t
                        found += 1
        counts[t] = found
    return counts


@njit(cache=True)
def _group_by_cell(cells, values, n_codes):
    """Counting sort of ``(cell, value)`` pairs by cell (codes below ``n_codes``), stable:
    ``(used cells ascending, starts, values grouped)``, the grouped values of ``values``' dtype."""
    counts = np.zeros(n_codes + 1, np.int64)
    for p in range(cells.shape[0]):
        counts[cells[p] + 1] += 1
    used = 0
    for code in range(n_codes):
        if counts[code + 1] > 0:
            used += 1
        counts[code + 1] += counts[code]
    unique = np.empty(used, np.int64)
    starts = np.empty(used + 1, np.int64)
    slot = 0
    for code in range(n_codes):
        if counts[code + 1] > counts[code]:
            unique[slot] = code
            starts[slot] = counts[code]
            slot += 1
    starts[used] = cells.shape[0]
    out = np.empty(cells.shape[0], values.dtype)
    for p in range(cells.shape[0]):
        out[counts[cells[p]]] = values[p]
        counts[cells[p]] += 1
    return unique, starts, out


@njit(cache=True, inline="always")
def _block_range(low, high, band, spacing, base, block, resolution):
    """Local indices ``(first, last)`` within the block starting at grid index ``base`` of the grid points
    whose coordinate lies within ``band`` of ``[low, high]`` (empty when first > last)."""
    first = int(math.ceil((low - band + 1.0) / spacing))
    last = int(math.floor((high + band + 1.0) / spacing))
    return max(first, base) - base, min(last, base + block - 1, resolution - 1) - base


@njit(cache=True, parallel=True)
def _grid_cells(vertices, faces, cells, starts, tris, n_cells, block, resolution, spacing, band):
    """Squared distances at the grid points of each cell in ``cells`` (``inf`` where farther than ``band``),
    the closest face of each (-1 there) and the point-triangle evaluations per cell.

    Grid point ``(i, j, k)`` is at ``-1 + (i, j, k) * spacing``; cell ``c`` holds the
    points ``c * block ... c * block + block - 1`` per axis.
    """
    out = np.full((cells.shape[0], block, block, block), np.inf)
    nearest = np.full((cells.shape[0], block, block, block), -1, np.int64)
    evaluations = np.zeros(cells.shape[0], np.int64)
    band2 = band * band
    for slot in prange(cells.shape[0]):
        code = cells[slot]
        # Scalars, not small arrays: an array allocated per triangle-cell pair cost as much as the distances.
        base_i, base_j, base_k = code // (n_cells * n_cells) * block, (code // n_cells) % n_cells * block, code % n_cells * block
        local = out[slot]
        local_face = nearest[slot]
        count = 0
        for entry in range(starts[slot], starts[slot + 1]):
            t = tris[entry]
            a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
            ax, ay, az = vertices[a, 0], vertices[a, 1], vertices[a, 2]
            bx, by, bz = vertices[b, 0], vertices[b, 1], vertices[b, 2]
            cx, cy, cz = vertices[c, 0], vertices[c, 1], vertices[c, 2]
            abx, aby, abz = bx - ax, by - ay, bz - az
            acx, acy, acz = cx - ax, cy - ay, cz - az
            proper = _is_proper(abx, aby, abz, acx, acy, acz)
            x_low, x_high = min(ax, bx, cx), max(ax, bx, cx)
            y_low, y_high = min(ay, by, cy), max(ay, by, cy)
            z_low, z_high = min(az, bz, cz), max(az, bz, cz)
            i_lo, i_hi = _block_range(x_low, x_high, band, spacing, base_i, block, resolution)
            j_lo, j_hi = _block_range(y_low, y_high, band, spacing, base_j, block, resolution)
            k_lo, k_hi = _block_range(z_low, z_high, band, spacing, base_k, block, resolution)
            # The distance to the triangle's box bounds the distance to the triangle from below: a point whose
            # box distance is beyond the band, or not below its best distance so far, cannot change.
            for i in range(i_lo, i_hi + 1):
                x = -1.0 + (base_i + i) * spacing
                gap = max(x_low - x, x - x_high, 0.0)
                gap_x = gap * gap
                for j in range(j_lo, j_hi + 1):
                    y = -1.0 + (base_j + j) * spacing
                    gap = max(y_low - y, y - y_high, 0.0)
                    gap_xy = gap_x + gap * gap
                    if gap_xy > band2:
                        continue
                    for k in range(k_lo, k_hi + 1):
                        z = -1.0 + (base_k + k) * spacing
                        gap = max(z_low - z, z - z_high, 0.0)
                        if gap_xy + gap * gap >= local[i, j, k] or gap_xy + gap * gap > band2:
                            continue
                        if proper:  # the triangle's sides computed once above, not per point
                            qx, qy, qz = _closest_on_proper_triangle(x, y, z, ax, ay, az, bx, by, bz, cx, cy, cz,
                                                                     abx, aby, abz, acx, acy, acz)
                            d = (x - qx) ** 2 + (y - qy) ** 2 + (z - qz) ** 2
                        else:
                            d = triangle_distance2(vertices, faces, t, x, y, z)[0]
                        count += 1
                        if d < local[i, j, k]:
                            local[i, j, k] = d
                            local_face[i, j, k] = t
        evaluations[slot] = count
    return out, nearest, evaluations


@njit(cache=True)
def _points_by_cell(points, origin, cell, n_cells):
    """Points grouped by the index cell holding them (code -1: outside the index), by x within a cell.

    Returns ``(order, codes, starts)``: ``points[order[starts[g]:starts[g + 1]]]`` lie in cell ``codes[g]``
    (codes ascending), sorted by x. A counting sort over the cells, then a sort per cell.
    """
    n = points.shape[0]
    n_codes = n_cells * n_cells * n_cells
    code = np.empty(n, np.int64)
    for p in range(n):
        c = 0
        outside = False
        for axis in range(3):
            position = (points[p, axis] - origin[axis]) / cell
            if not (0.0 <= position < n_cells):  # NaN too
                outside = True
                break
            c = c * n_cells + min(int(position), n_cells - 1)
        code[p] = -1 if outside else c
    # Bucket 0: outside; bucket c + 1: cell c.
    buckets, starts, order = _group_by_cell(code + 1, np.arange(n), n_codes + 1)
    codes = buckets - 1
    for g in range(codes.shape[0]):
        members = order[starts[g]:starts[g + 1]]
        members[:] = members[np.argsort(points[members, 0], kind="mergesort")]
    return order, codes, starts


@njit(cache=True, parallel=True)
def _band_rows(squared, band2, local_order):
    """``(c + 1,)`` int64: where each cell's points closer than the band start among a batch's rows (the last
    entry is their count), for :func:`_compact_band`."""
    counts = np.zeros(squared.shape[0] + 1, np.int64)
    for slot in prange(squared.shape[0]):
        found = 0
        for entry in range(local_order.shape[0]):
            if squared[slot, local_order[entry, 0], local_order[entry, 1], local_order[entry, 2]] < band2:
                found += 1
        counts[slot + 1] = found
    return np.cumsum(counts)


@njit(cache=True, parallel=True)
def _compact_band(squared, face, cells, n_cells, band2, local_order, first_rows, indices, udf, faces):
    """Write the grid points of ``_grid_cells``'s output closer than the band into ``indices (n, 3)``, ``udf (n,)``
    and ``faces (n,)`` (left alone when empty), cell ``slot``'s from row ``first_rows[slot]`` on, the points of a
    cell in the order of ``local_order`` ((block^3, 3) local indices)."""
    block = squared.shape[1]
    with_faces = faces.shape[0] > 0
    for slot in prange(cells.shape[0]):
        code = cells[slot]
        ci, cj, ck = code // (n_cells * n_cells), (code // n_cells) % n_cells, code % n_cells
        row = first_rows[slot]
        for entry in range(local_order.shape[0]):
            i, j, k = local_order[entry, 0], local_order[entry, 1], local_order[entry, 2]
            if squared[slot, i, j, k] < band2:
                indices[row, 0], indices[row, 1], indices[row, 2] = ci * block + i, cj * block + j, ck * block + k
                udf[row] = math.sqrt(squared[slot, i, j, k])
                if with_faces:
                    faces[row] = face[slot, i, j, k]
                row += 1


@njit(cache=True, parallel=True)
def _points_closest(vertices, faces, points, point_starts, cell_slot, starts, tris, reach):
    """Closest point, squared distance and face for points grouped by cell (``inf``/-1 beyond ``reach``).

    ``points`` are sorted by cell and by x within a cell; group ``g`` is
    ``points[point_starts[g]:point_starts[g + 1]]`` and uses the triangle list
    ``cell_slot[g]`` (-1: no triangle within reach of that cell).
    """
    n = points.shape[0]
    squared = np.full(n, np.inf)
    face = np.full(n, -1, np.int64)
    closest = np.full((n, 3), np.nan)
    reach2 = reach * reach
    for group in prange(point_starts.shape[0] - 1):
        slot = cell_slot[group]
        if slot < 0:
            continue
        first, last = point_starts[group], point_starts[group + 1]
        xs = points[first:last, 0]
        for entry in range(starts[slot], starts[slot + 1]):
            t = tris[entry]
            a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
            box_x0, box_x1 = min(vertices[a, 0], vertices[b, 0], vertices[c, 0]), max(vertices[a, 0], vertices[b, 0], vertices[c, 0])
            box_y0, box_y1 = min(vertices[a, 1], vertices[b, 1], vertices[c, 1]), max(vertices[a, 1], vertices[b, 1], vertices[c, 1])
            box_z0, box_z1 = min(vertices[a, 2], vertices[b, 2], vertices[c, 2]), max(vertices[a, 2], vertices[b, 2], vertices[c, 2])
            low, high = box_x0 - reach, box_x1 + reach
            ylow, yhigh, zlow, zhigh = box_y0 - reach, box_y1 + reach, box_z0 - reach, box_z1 + reach
            for p in range(first + np.searchsorted(xs, low), first + np.searchsorted(xs, high, side="right")):
                x, y, z = points[p, 0], points[p, 1], points[p, 2]
                if y < ylow or y > yhigh or z < zlow or z > zhigh:
                    continue
                # The distance to the triangle's box bounds the distance to it from below: skip the exact
                # test when that bound is not below the best so far (nothing can change).
                gx = max(box_x0 - x, x - box_x1, 0.0)
                gy = max(box_y0 - y, y - box_y1, 0.0)
                gz = max(box_z0 - z, z - box_z1, 0.0)
                if gx * gx + gy * gy + gz * gz >= squared[p]:
                    continue
                d, qx, qy, qz = triangle_distance2(vertices, faces, t, x, y, z)
                if d <= reach2 and d < squared[p]:
                    squared[p] = d
                    face[p] = t
                    closest[p, 0], closest[p, 1], closest[p, 2] = qx, qy, qz
    return squared, face, closest


# ----------------------------------------------------------------------------- index


def set_threads(threads: int | None) -> int:
    """Use ``threads`` numba threads (None or more than available: all); returns the number in use."""
    available = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(available if not threads else max(1, min(int(threads), available)))
    return numba.get_num_threads()


class NearSurface:
    """Triangles binned into cells, for exact queries within ``reach`` of the mesh.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    reach : float
        Queries farther than this from the mesh come back as ``inf``.
    origin : (3,) float
        Corner of cell ``(0, 0, 0)``.
    cell : float
        Cell side.
    n_cells : int
        Cells per axis (the cells cover ``origin + [0, n_cells * cell)^3``).
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, reach: float, origin, cell: float, n_cells: int):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.reach = float(reach)
        self.origin = np.asarray(origin, dtype=np.float64)
        self.cell = float(cell)
        self.n_cells = int(n_cells)
        self._binned = False

    def _bin(self) -> None:
        """Bin the triangles (on first use, so that building an index costs nothing until it is queried)."""
        if self._binned:
            return
        self._binned = True
        arguments = (self.vertices, self.faces, self.origin, self.cell, self.n_cells, self.reach)
        # Pairs as int32 cell codes and triangles (where they fit) and per-triangle counts freed before the pairs
        # exist: 17.7M triangles at 1024 binned in 0.4 GB instead of 0.8.
        code_type = np.int32 if self.n_cells**3 < 2**31 else np.int64
        triangle_type = np.int32 if len(self.faces) < 2**31 else np.int64
        counts = _bin(*arguments, np.zeros(0, np.int64), np.zeros(0, code_type), np.zeros(0, triangle_type), False)
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        counts = None
        cells, tris = np.empty(offsets[-1], code_type), np.empty(offsets[-1], triangle_type)
        _bin(*arguments, offsets, cells, tris, True)
        offsets = None
        # Grouped by cell, triangles in order within a cell (a stable sort), by counting: linear time.
        self.cells, self.starts, self.tris = _group_by_cell(cells, tris, self.n_cells**3)
        self.pairs = int(len(cells))

    @classmethod
    def around(cls, vertices: np.ndarray, faces: np.ndarray, reach: float, max_cells: int = 128) -> "NearSurface":
        """An index over the mesh's bounding box grown by ``reach``, cells about four reaches wide."""
        vertices = np.asarray(vertices, dtype=np.float64)
        low, high = vertices.min(axis=0) - reach, vertices.max(axis=0) + reach
        extent = float((high - low).max())
        n_cells = int(min(max(math.ceil(extent / (4.0 * reach)), 1), max_cells))
        cell = extent / n_cells * (1.0 + 1e-9) if extent > 0 else 4.0 * reach
        return cls(vertices, faces, reach, low, cell, n_cells)

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squared distance, closest face and closest point; ``inf``, -1 and NaN beyond ``reach``.

        Parameters
        ----------
        points : (k, 3) float

        Returns
        -------
        squared : (k,) float64
        face : (k,) int64
        closest : (k, 3) float64
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self._bin()
        if len(self.cells) == 0 or len(points) == 0:
            return np.full(len(points), np.inf), np.full(len(points), -1, np.int64), np.full((len(points), 3), np.nan)
        order, groups, point_starts = _points_by_cell(points, self.origin, self.cell, self.n_cells)
        slot = np.minimum(np.searchsorted(self.cells, groups), len(self.cells) - 1)
        known = (groups >= 0) & (self.cells[slot] == groups)
        cell_slot = np.where(known, slot, -1).astype(np.int64)
        squared, face, closest = _points_closest(self.vertices, self.faces, np.ascontiguousarray(points[order]),
                                                 point_starts, cell_slot, self.starts, self.tris, self.reach)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return squared[inverse], face[inverse], closest[inverse]


class GridBand(NearSurface):
    """A :class:`NearSurface` whose cells are ``block^3``-point blocks of the grid ``linspace(-1, 1, resolution)``.

    Parameters
    ----------
    vertices, faces : the mesh (normalised frame)
    resolution : int
    band : float
        :meth:`grid_band` returns every grid point closer than this; also the ``reach``.
    block : int
        Grid points per cell side. Larger cells list each triangle in fewer cells (less binning and per-pair
        set-up in the band search) but give point queries (:meth:`closest`) longer lists to scan.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, resolution: int, band: float,
                 block: int = GRID_CELL_POINTS):
        self.resolution = int(resolution)
        self.spacing = 2.0 / (resolution - 1)
        self.block = int(block)
        n_cells = -(-resolution // self.block)
        # Cells span whole blocks of grid points: [c * block, (c + 1) * block) * spacing from -1.
        super().__init__(vertices, faces, band, np.full(3, -1.0), self.block * self.spacing, n_cells)

    def grid_band(self, with_faces: bool = False, morton: bool = False):
        """Every grid point closer than ``band`` to the mesh, with its exact distance.

        ``morton``: return the points in Morton (Z) order (:func:`~shapeprep.geometry.grid.morton_codes`) instead
        of cell by cell in raster order: the cells are visited in the Morton order of their corners and the
        points of a cell in their own (``block`` is a power of two, so the cells are aligned blocks of the
        Z-curve and this is the global order, without a sort of every point).

        Returns
        -------
        indices : (n, 3) int32
            Grid indices, cell by cell in cell order, or in Morton order.
        udf : (n,) float64
        stats : dict
            ``candidate_points`` (grid points of the cells visited), ``distance_evaluations``
            (point-triangle pairs computed), ``cells``, ``pairs`` (triangle-cell entries).
        faces : (n,) int32, only ``with_faces``
            The closest face of each point (the first found among equally close ones).
        """
        self._bin()
        block, n_cells = self.block, self.n_cells
        band2 = self.reach * self.reach
        local = np.stack(np.unravel_index(np.arange(block**3), (block,) * 3), axis=1).astype(np.int64)
        cell_codes, cell_starts, tris = self.cells, self.starts, self.tris
        if morton:
            if block & (block - 1):
                raise ValueError(f"Morton order needs a power-of-two block, not {block}")
            local = local[np.argsort(morton_codes(local), kind="stable")]
            corners = np.stack(np.unravel_index(cell_codes, (n_cells,) * 3), axis=1)
            cell_codes, cell_starts, tris = _reorder_cells(cell_codes, cell_starts, tris,
                                                           np.argsort(morton_codes(corners), kind="stable"))
        # The outputs grow batch by batch, in place: glibc remaps a large buffer's pages instead of copying them,
        # so the band (24 bytes per point, 35M points for a 1024 grid) is never held twice, nor beside
        # per-batch pieces that the heap keeps after they are freed.
        indices = np.empty((0, 3), np.int32)
        udf = np.empty(0)
        nearest = np.empty(0, np.int32)
        evaluations = 0
        batch = max(GRID_BATCH_POINTS // block**3, 1)
        for begin in range(0, len(cell_codes), batch):
            cells = cell_codes[begin:begin + batch]
            starts = cell_starts[begin:begin + batch + 1]
            squared, face, counted = _grid_cells(self.vertices, self.faces, cells, starts, tris, n_cells, block,
                                                 self.resolution, self.spacing, self.reach)
            evaluations += int(counted.sum())
            first_rows = _band_rows(squared, band2, local) + len(udf)
            # refcheck off: these arrays are this method's own and no view of them outlives a kernel call.
            for array in (indices, udf, nearest) if with_faces else (indices, udf):
                array.resize((first_rows[-1], *array.shape[1:]), refcheck=False)
            _compact_band(squared, face, cells, n_cells, band2, local, first_rows, indices, udf, nearest)
        stats = {"candidate_points": int(len(self.cells)) * block**3, "distance_evaluations": evaluations,
                 "cells": int(len(self.cells)), "pairs": self.pairs}
        if with_faces:
            return indices, udf, stats, nearest
        return indices, udf, stats


def _reorder_cells(cells: np.ndarray, starts: np.ndarray, tris: np.ndarray, order: np.ndarray):
    """Cell lists ``(cells (c,), starts (c + 1,), tris)`` with the cells taken in ``order``; each cell's triangles
    keep their order (so ties between equally close faces resolve as before)."""
    lengths = np.diff(starts)[order]
    new_starts = np.zeros(len(cells) + 1, np.int64)
    np.cumsum(lengths, out=new_starts[1:])
    return cells[order], new_starts, _gather_runs(tris, starts, order, new_starts)


@njit(cache=True)
def _gather_runs(values, starts, order, new_starts):
    """``values``' runs ``starts[c]:starts[c + 1]`` laid out in ``order`` (no index arrays per value: 0.5 GB at 1024)."""
    out = np.empty(new_starts[-1], values.dtype)
    for slot in range(order.shape[0]):
        first = starts[order[slot]]
        for i in range(new_starts[slot + 1] - new_starts[slot]):
            out[new_starts[slot] + i] = values[first + i]
    return out


class ExactDistance(DistanceQueries):
    """Exact unsigned distances and closest points anywhere: the cell index near the mesh, libigl beyond.

    The interface of :class:`~shapeprep.geometry.distance.IglDistance`
    (:class:`~shapeprep.geometry.distance.DistanceQueries` and ``winding_number``),
    so every caller can take either.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    near : NearSurface, optional
        The index to use near the mesh (a :class:`GridBand` to share it with
        the band search); by default :meth:`NearSurface.around` with ``reach``.
    reach : float
        Used when ``near`` is not given.
    """

    name = "cpu"

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, near: NearSurface | None = None,
                 reach: float | None = None):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if near is None:
            near = NearSurface.around(self.vertices, self.faces, reach)
        self.near = near
        self._far = None
        self.far_queries = 0
        self.band_stats: dict = {}

    def grid_band(self, resolution: int, band: float) -> tuple[np.ndarray, np.ndarray, int]:
        """Grid points closer than ``band`` with exact distances (see :meth:`GridBand.grid_band`).

        Uses the index when it is a :class:`GridBand` of this grid and band, else builds one.
        Returns ``(indices (n, 3), udf (n,), candidate points)``; the other figures go to ``band_stats``.
        """
        near = self.near
        if not (isinstance(near, GridBand) and near.resolution == resolution and near.reach >= band):
            near = GridBand(self.vertices, self.faces, resolution, band)
        indices, udf, stats = near.grid_band()
        self.band_stats = stats
        keep = udf < band
        if not keep.all():  # a wider index than asked for
            indices, udf = indices[keep], udf[keep]
        return indices, udf, stats["candidate_points"]

    @property
    def far(self):
        """libigl's AABB over the mesh, built on first use (only points beyond reach need it)."""
        if self._far is None:
            self._far = IglDistance(self.vertices, self.faces)
        return self._far

    def query(self, points: np.ndarray, want_closest: bool, within: float | None = None):
        """Squared distance ``(k,)``, closest face ``(k,)`` and closest point ``(k, 3)`` (or None).

        With ``within`` (at most the index's reach), points farther than that
        come back as ``inf``, -1 and NaN instead of being looked up exactly.
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        squared, face, closest = self.near.closest(points)
        beyond = np.flatnonzero(~np.isfinite(squared))
        if within is not None and within <= self.near.reach:
            beyond = beyond[:0]
        if len(beyond):
            self.far_queries += len(beyond)
            far_squared, far_face, far_closest = self.far.query(points[beyond], want_closest=True)
            squared[beyond], face[beyond], closest[beyond] = far_squared, far_face, far_closest
        return squared, face, (closest if want_closest else None)

    def winding_number(self, points: np.ndarray) -> np.ndarray:
        """Generalized winding number (libigl's fast approximation): ``(k, 3) -> (k,)``."""
        return self.far.winding_number(points)
