"""Sparse signed distance volumes of a watertight mesh: the data sparse-voxel VAEs train on.

For a closed, outward mesh (the watertight stage's output) and a grid of
``resolution`` points per axis on ``linspace(-1, 1)`` (as the watertight
engine's), the **active voxels** are the grid points within
``truncation_voxels`` of the surface. Each gets its exact distance (the
triangle-driven band search of :class:`shapeprep.geometry.nearsurface.GridBand`)
and its sign from the **angle-weighted pseudo-normal** of its closest feature
(face, edge or vertex; Bærentzen and Aanæs 2005), which is exact for a closed
manifold: **inside negative**. Values are in voxels.

Coordinates are ordered by their Morton (Z-order) code, so spatially close
voxels are close in the file; the band search visits its cells and their
points along the Z-curve, so they come out in that order without a sort.
:func:`occupancy_grid` gives the coarse structure (which ``coarse``-grid cells
hold an active voxel), the input of the structure stage of TRELLIS /
Direct3D-S2-style models.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..geometry.grid import block_id, grid_spacing, index_to_point, integer_voxels
from ..geometry.nearsurface import GridBand, triangle_distance2
from ..geometry.surface import unit_face_normal
from ..geometry.topology import incident_faces, union_find_root

#: Grid points per side of the band search's cells. The watertight mesh's triangles are all under a voxel, so
#: 8^3 cells listed each in about four cells; 32^3 cells list it in about 1.5, which was measured to make the
#: band search 1.6x faster (same distances and closest faces; a chair at 512 and 1024, a shape sorter at 512).
BAND_CELL_POINTS = 32
#: Barycentric coordinate below which a closest point counts as on an edge or at a vertex.
FEATURE_TOLERANCE = 1e-9
#: Grid points farther than this (voxels) take the sign of their 6-connected piece of the band.
OFF_SHELL_VOXELS = 0.51
#: Below this cosine between the offset and the pseudo-normal, or this pseudo-normal length (a fold: the
#: faces at an edge almost opposite), the sign comes from the exact winding number instead.
UNCERTAIN_COSINE = 0.2
UNCERTAIN_NORMAL = 0.5


def pseudo_normal_at(vertices: np.ndarray, faces: np.ndarray, face: np.ndarray, kind: np.ndarray,
                     corner: np.ndarray) -> np.ndarray:
    """Angle-weighted pseudo-normals of features of a closed mesh: ``(k,) -> (k, 3)``.

    Feature ``i`` of face ``face[i]`` is the face itself (``kind`` 0), the edge opposite corner ``corner[i]``
    (``kind`` 1: the sum of the unit normals of the faces at that edge) or the vertex at that corner
    (``kind`` 2: the sum of the unit normals of its faces, each weighted by its interior angle there). Zero-area
    faces count for nothing (marching-cubes meshes hold some).
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    starts, corners = incident_faces(faces, len(vertices))
    return _pseudo_normal_at(vertices, faces, starts, corners, np.asarray(face, np.int64),
                             np.asarray(kind, np.int64), np.asarray(corner, np.int64))


@njit(cache=True, parallel=True)
def _pseudo_normal_at(vertices, faces, starts, corners, face, kind, corner):
    normal = np.empty((face.shape[0], 3))
    for row in prange(face.shape[0]):
        normal[row, 0], normal[row, 1], normal[row, 2] = _feature_normal(vertices, faces, starts, corners, face[row],
                                                                         kind[row], corner[row])
    return normal


@njit(cache=True, inline="always")
def _corner_angle(vertices, faces, f, corner):
    """Interior angle of face ``f`` at ``corner``."""
    p, q, r = faces[f, corner], faces[f, (corner + 1) % 3], faces[f, (corner + 2) % 3]
    ex, ey, ez = vertices[q, 0] - vertices[p, 0], vertices[q, 1] - vertices[p, 1], vertices[q, 2] - vertices[p, 2]
    gx, gy, gz = vertices[r, 0] - vertices[p, 0], vertices[r, 1] - vertices[p, 1], vertices[r, 2] - vertices[p, 2]
    cx, cy, cz = ey * gz - ez * gy, ez * gx - ex * gz, ex * gy - ey * gx
    return math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), ex * gx + ey * gy + ez * gz)


@njit(cache=True)
def _feature_normal(vertices, faces, starts, corners, f, kind, corner):
    """The pseudo-normal of :func:`pseudo_normal_at`, from the faces around the feature's vertices (summed in
    face order): computed where a point needs it instead of for every edge and vertex of the mesh."""
    if kind == 0:
        nx, ny, nz, _ = unit_face_normal(vertices, faces, f)
        return nx, ny, nz
    sx, sy, sz = 0.0, 0.0, 0.0
    if kind == 1:
        u, v = faces[f, (corner + 1) % 3], faces[f, (corner + 2) % 3]
        if u == v:  # a side of a zero-area face whose ends coincide: only zero-area faces share it
            return sx, sy, sz
        for slot in range(starts[u], starts[u + 1]):
            g = corners[slot] // 3
            if faces[g, 0] == v or faces[g, 1] == v or faces[g, 2] == v:  # the faces at edge (u, v)
                nx, ny, nz, _ = unit_face_normal(vertices, faces, g)
                sx, sy, sz = sx + nx, sy + ny, sz + nz
        return sx, sy, sz
    v = faces[f, corner]
    for slot in range(starts[v], starts[v + 1]):
        g, at = corners[slot] // 3, corners[slot] % 3
        nx, ny, nz, length = unit_face_normal(vertices, faces, g)
        if length > 0.0:
            angle = _corner_angle(vertices, faces, g, at)
            sx, sy, sz = sx + nx * angle, sy + ny * angle, sz + nz * angle
    return sx, sy, sz


@njit(cache=True, parallel=True)
def _pseudo_normal_side(vertices, faces, coords, spacing, nearest, starts, corners):
    """The side of each grid point ``coords * spacing - 1``: the sign of its offset from its closest point on face
    ``nearest[i]`` along the pseudo-normal of the closest feature (face, edge or vertex, by the closest point's
    barycentric coordinates) (-1, 0 or 1: only the sign is used, and int8 is 7 bytes per point less than the
    offset), and whether that test is doubtful: ``(side (n,) int8, doubtful (n,) bool)``. ``starts, corners``:
    :func:`incident_faces`."""
    n = coords.shape[0]
    side = np.empty(n, np.int8)
    doubtful = np.empty(n, np.bool_)
    for row in prange(n):
        f = nearest[row]
        px, py, pz = coords[row, 0] * spacing - 1.0, coords[row, 1] * spacing - 1.0, coords[row, 2] * spacing - 1.0
        _, qx, qy, qz = triangle_distance2(vertices, faces, f, px, py, pz)
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ux, uy, uz = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1], vertices[b, 2] - vertices[a, 2]
        vx, vy, vz = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1], vertices[c, 2] - vertices[a, 2]
        wx, wy, wz = qx - vertices[a, 0], qy - vertices[a, 1], qz - vertices[a, 2]
        d00, d01, d11 = ux * ux + uy * uy + uz * uz, ux * vx + uy * vy + uz * vz, vx * vx + vy * vy + vz * vz
        d20, d21 = wx * ux + wy * uy + wz * uz, wx * vx + wy * vy + wz * vz
        denominator = d00 * d11 - d01 * d01
        beta = (d11 * d20 - d01 * d21) / denominator if denominator > 0 else 0.0
        gamma = (d00 * d21 - d01 * d20) / denominator if denominator > 0 else 0.0
        bary = (1.0 - beta - gamma, beta, gamma)
        zeros, first_zero, largest = 0, -1, 0
        for k in range(3):
            if bary[k] < FEATURE_TOLERANCE:
                zeros += 1
                if first_zero < 0:
                    first_zero = k
            if bary[k] > bary[largest]:
                largest = k
        if zeros == 1:
            nx, ny, nz = _feature_normal(vertices, faces, starts, corners, f, 1, first_zero)
        elif zeros >= 2:
            nx, ny, nz = _feature_normal(vertices, faces, starts, corners, f, 2, largest)
        else:
            nx, ny, nz = _feature_normal(vertices, faces, starts, corners, f, 0, 0)
        ox, oy, oz = px - qx, py - qy, pz - qz
        offset = ox * nx + oy * ny + oz * nz
        side[row] = -1 if offset < 0.0 else (1 if offset > 0.0 else 0)
        normal_length = math.sqrt(nx * nx + ny * ny + nz * nz)
        length = normal_length * math.sqrt(ox * ox + oy * oy + oz * oz)
        doubtful[row] = abs(offset) < UNCERTAIN_COSINE * length or normal_length < UNCERTAIN_NORMAL
    return side, doubtful


def band_pieces(coords: np.ndarray, resolution: int, members: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """6-connected components of a set of grid points ``(n, 3)`` (int32 or int64): ``(labels (n,) int32, count)``.

    ``members`` (n,) bool, optional: only these points form the set (the others get label -1), so that a
    subset needs no copy of its coordinates.

    The points are grouped by 8^3 cells; each used cell gets a table of its points (int32), and a
    union-find joins every point to its +x, +y and +z neighbours (numba): memory is a few bytes per
    point plus 2 KB per used cell, instead of a sparse graph of every link.
    """
    coords = integer_voxels(coords)
    if len(coords) >= 2**31:
        raise ValueError(f"{len(coords)} grid points: the piece tables hold int32 rows")
    members = np.ones(len(coords), dtype=bool) if members is None else np.ascontiguousarray(members, dtype=bool)
    if len(coords) == 0:
        return np.zeros(0, dtype=np.int32), 0
    return _grid_point_labels(coords, members, -(-resolution // PIECE_CELL), PIECE_CELL)


#: Cell side (grid points) of :func:`band_pieces`' tables.
PIECE_CELL = 8


@njit(cache=True)
def _grid_point_labels(coords, members, n_cells, cell):
    n = coords.shape[0]
    cell_slot = np.full(n_cells * n_cells * n_cells, -1, np.int64)
    used = 0
    for p in range(n):
        if not members[p]:
            continue
        code = block_id(coords, p, n_cells, cell)
        if cell_slot[code] < 0:
            cell_slot[code] = used
            used += 1
    table = np.full((used, cell, cell, cell), -1, np.int32)
    for p in range(n):
        if not members[p]:
            continue
        code = block_id(coords, p, n_cells, cell)
        table[cell_slot[code], coords[p, 0] % cell, coords[p, 1] % cell, coords[p, 2] % cell] = p
    parent = np.empty(n, np.int32)  # int32 (n < 2^31): 4 bytes per point less, 140 MB for a 1024 band
    for p in range(n):
        parent[p] = p
    for p in range(n):
        if not members[p]:
            continue
        for axis in range(3):
            x, y, z = coords[p, 0] + (axis == 0), coords[p, 1] + (axis == 1), coords[p, 2] + (axis == 2)
            code = (x // cell * n_cells + y // cell) * n_cells + z // cell
            if x // cell >= n_cells or y // cell >= n_cells or z // cell >= n_cells or cell_slot[code] < 0:
                continue
            q = table[cell_slot[code], x % cell, y % cell, z % cell]
            if q < 0:
                continue
            a, b = union_find_root(parent, p), union_find_root(parent, np.int64(q))
            if a != b:
                parent[max(a, b)] = min(a, b)
    # A root is its set's smallest index: numbering roots in index order numbers the pieces by first point.
    labels = np.full(n, -1, np.int32)
    count = 0
    for p in range(n):
        if not members[p]:
            continue
        root = union_find_root(parent, p)
        if root == p:
            labels[p] = count
            count += 1
        else:
            labels[p] = labels[root]
    return labels, count


@njit(cache=True)
def _majority_signs(side, pieces, n_pieces):
    """Replace each labelled point's side by its piece's majority sign (-1 when the signs of the piece's sides
    sum below zero, else 1); points labelled -1 keep theirs."""
    votes = np.zeros(n_pieces)
    for p in range(side.shape[0]):
        if pieces[p] >= 0:
            votes[pieces[p]] += np.sign(side[p])
    for p in range(side.shape[0]):
        if pieces[p] >= 0:
            side[p] = -1 if votes[pieces[p]] < 0 else 1


@njit(cache=True, parallel=True)
def _signed(udf, side, voxel):
    """``sign(side) * udf / voxel`` as float32."""
    sdf = np.empty(udf.shape[0], np.float32)
    for row in prange(udf.shape[0]):
        sdf[row] = (-udf[row] if side[row] < 0 else udf[row]) / voxel
    return sdf


def sparse_sdf(vertices: np.ndarray, faces: np.ndarray, resolution: int, truncation_voxels: float = 2.0):
    """Active voxels of a closed mesh and their signed distance in voxels (inside negative).

    Parameters
    ----------
    vertices : (n, 3) float64, faces : (m, 3) int64
        A closed, outward mesh in the normalised frame (inside ``[-1, 1]^3``).
    resolution : int
        Grid points per axis over ``[-1, 1]``.
    truncation_voxels : float
        Grid points closer than this many voxels to the surface are active.

    Returns
    -------
    coords : (N, 3) int32
        Grid indices, in Morton order.
    sdf : (N,) float32
        Signed distance in voxels, ``|sdf| < truncation_voxels``.
    """
    voxel = grid_spacing(resolution)
    band = GridBand(vertices, faces, resolution, truncation_voxels * voxel, block=BAND_CELL_POINTS)
    # Every grid point closer than the band, already in Morton order.
    coords, udf, _, nearest = band.grid_band(with_faces=True, morton=True)
    # The mesh as the band holds it (float64 and int64 already: no second copy of a large mesh); the band's
    # triangle lists (hundreds of MB at 1024) are let go.
    vertices, faces, band = band.vertices, band.faces, None
    side, doubtful = _pseudo_normal_side(vertices, faces, coords, voxel, nearest, *incident_faces(faces, len(vertices)))
    nearest = None
    # Off the half-voxel shell the sign is constant over each 6-connected piece of the band (the surface
    # cannot be crossed without passing within half a voxel of a grid point), which makes it robust to the
    # fold-overs and self-intersections that defeat a single pseudo-normal.
    off_shell = udf > OFF_SHELL_VOXELS * voxel
    pieces, n_pieces = band_pieces(coords, resolution, off_shell)
    # A piece's sign is its voxels' majority: a stray wrong pseudo-normal (a fold-over) is outvoted.
    _majority_signs(side, pieces, n_pieces)
    # The pseudo-normal test assumes a closed manifold without fold-overs; near a fold (the two faces at an
    # edge almost opposite) or where the offset is almost tangent it is unreliable: ask the winding number.
    uncertain = np.flatnonzero(doubtful & (udf > 0) & ~off_shell)
    if len(uncertain):
        winding = _winding_number_at(vertices, faces, index_to_point(coords[uncertain], resolution))
        side[uncertain] = np.where(winding > 0.5, -1, 1)
    return coords, _signed(udf, side, voxel)


#: Up to this many point-face pairs tested (:func:`crossing_pairs`, both axes), uncertain signs come from counting
#: crossings along two axes; beyond, from libigl's fast winding number. Its tree over every face costs about
#: 0.5 us and 240 bytes per face to build (a 5.7M-face watertight mesh at 1024: 2.7 s and 1.3 GB), where
#: the crossings of that mesh's 642 uncertain points took 0.12 s and no memory to speak of.
CROSSING_BUDGET = 2_000_000_000


def crossing_pairs(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, axis: int) -> int:
    """Point-face pairs :func:`crossing_numbers` tests along ``axis``: per face, the points within its extent
    across the ray (two bisections per face; the cost of the count itself is a small part of the crossings')."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    u_axis = (axis + 1) % 3
    return int(_crossing_pairs(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces),
                               np.sort(points[:, u_axis]), u_axis))


@njit(cache=True, parallel=True)
def _crossing_pairs(vertices, faces, across, u_axis):
    total = 0
    for f in prange(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        u_low = min(vertices[a, u_axis], vertices[b, u_axis], vertices[c, u_axis])
        u_high = max(vertices[a, u_axis], vertices[b, u_axis], vertices[c, u_axis])
        total += np.searchsorted(across, u_high, side="right") - np.searchsorted(across, u_low, side="left")
    return total


def crossing_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, axis: int) -> np.ndarray:
    """Signed count of the faces a ray from each point along ``+axis`` crosses (+1 leaving through an outward
    face, -1 entering): the winding number of a closed mesh. ``(k, 3) -> (k,)`` float64.

    Rays from grid points often pass exactly through marching-cubes vertices and edges (they share grid
    coordinates): the ray starts from the point moved by ``(e, e^2)`` across the two other axes, ``e``
    infinitesimal (simulation of simplicity), which lies on no edge, so every crossing is counted once. Each
    face is read once and tests only the points within its extent across the ray (the points sorted along
    that axis: two bisections per face)."""
    points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    by_u = np.argsort(points[:, (axis + 1) % 3], kind="stable")
    counts = np.empty(len(points))
    counts[by_u] = _crossing_numbers(np.ascontiguousarray(vertices, dtype=np.float64),
                                     np.ascontiguousarray(faces, dtype=np.int64),
                                     np.ascontiguousarray(points[by_u]), axis)
    return counts


@njit(cache=True, inline="always")
def _perturbed_side(w, first_v, second_v, first_u, second_u):
    """Sign of ``w`` (twice the signed area of the ray's foot and a projected edge from first to second), the
    foot moved by ``(e, e^2)``: ``w + e (first_v - second_v) + e^2 (second_u - first_u)``."""
    if w != 0.0:
        return 1 if w > 0.0 else -1
    if first_v != second_v:
        return 1 if first_v > second_v else -1
    if second_u != first_u:
        return 1 if second_u > first_u else -1
    return 0


#: Work items of :func:`_crossing_numbers`, each over a run of faces with its own counts (no races): few, so that
#: the counts of many points stay small (16 x 8 bytes per point).
CROSSING_WORK_ITEMS = 16


@njit(cache=True, parallel=True)
def _crossing_numbers(vertices, faces, points, axis):
    # Faces outside, points inside: the faces and their corners are read once for all points (a loop per point
    # read the whole mesh once per point), and the counts are summed over chunks of faces. The points come
    # sorted along the first axis across the ray, so each face tests only those within its extent there.
    u_axis, v_axis = (axis + 1) % 3, (axis + 2) % 3
    k = points.shape[0]
    across = np.ascontiguousarray(points[:, u_axis])
    n_chunks = max(min(CROSSING_WORK_ITEMS, faces.shape[0]), 1)
    per_chunk = -(-faces.shape[0] // n_chunks)
    partial = np.zeros((n_chunks, k), np.int64)
    for chunk in prange(n_chunks):
        for f in range(chunk * per_chunk, min((chunk + 1) * per_chunk, faces.shape[0])):
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            u_low = min(vertices[a, u_axis], vertices[b, u_axis], vertices[c, u_axis])
            u_high = max(vertices[a, u_axis], vertices[b, u_axis], vertices[c, u_axis])
            v_low = min(vertices[a, v_axis], vertices[b, v_axis], vertices[c, v_axis])
            v_high = max(vertices[a, v_axis], vertices[b, v_axis], vertices[c, v_axis])
            a_high = max(vertices[a, axis], vertices[b, axis], vertices[c, axis])
            for row in range(np.searchsorted(across, u_low, side="left"),
                             np.searchsorted(across, u_high, side="right")):
                pu, pv, pa = points[row, u_axis], points[row, v_axis], points[row, axis]
                if pv < v_low or pv > v_high or a_high <= pa:  # u lies within the face's extent already
                    continue
                au, bu, cu = vertices[a, u_axis] - pu, vertices[b, u_axis] - pu, vertices[c, u_axis] - pu
                av, bv, cv = vertices[a, v_axis] - pv, vertices[b, v_axis] - pv, vertices[c, v_axis] - pv
                # Twice the signed areas of the projected sub-triangles around the ray's foot: one sign inside.
                wa = bu * cv - bv * cu
                wb = cu * av - cv * au
                wc = au * bv - av * bu
                sa = _perturbed_side(wa, bv, cv, bu, cu)
                sb = _perturbed_side(wb, cv, av, cu, au)
                sc = _perturbed_side(wc, av, bv, au, bu)
                if sa == 0 or sa != sb or sb != sc:
                    continue  # outside, or a face seen edge-on (its neighbours count the crossing)
                area = wa + wb + wc
                if area == 0.0:
                    continue
                hit = (wa * vertices[a, axis] + wb * vertices[b, axis] + wc * vertices[c, axis]) / area
                if hit > pa:
                    partial[chunk, row] += 1 if sa > 0 else -1
    counts = np.zeros(k)
    for chunk in range(n_chunks):
        for row in range(k):
            counts[row] += partial[chunk, row]
    return counts


def _winding_number_at(vertices, faces, points):
    """Winding numbers of a few points near a closed mesh: signed crossing counts along x, checked along y
    (exact for a closed mesh; a point whose two counts differ, as on an open mesh, gets libigl's fast
    winding number), or libigl's for every point when there are too many."""
    import igl

    def fast(at):
        return igl.fast_winding_number(np.ascontiguousarray(vertices, dtype=np.float64),
                                       np.ascontiguousarray(faces, dtype=np.int64), np.ascontiguousarray(at))

    if crossing_pairs(vertices, faces, points, 0) + crossing_pairs(vertices, faces, points, 1) > CROSSING_BUDGET:
        return fast(points)
    along_x = crossing_numbers(vertices, faces, points, 0)
    along_y = crossing_numbers(vertices, faces, points, 1)
    winding = along_x.copy()
    unsure = along_x != along_y
    if unsure.any():
        winding[unsure] = fast(points[unsure])
    return winding


def occupancy_grid(coords: np.ndarray, resolution: int, coarse: int = 64) -> np.ndarray:
    """``(coarse,) * 3`` bool: the coarse cells that hold an active voxel (grid index ``i`` in cell ``i * coarse // resolution``)."""
    grid = np.zeros((coarse,) * 3, dtype=bool)
    if len(coords):
        cells = np.asarray(coords, dtype=np.int64) * coarse // resolution
        grid[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    return grid


def reconstruct_mesh(coords: np.ndarray, sdf: np.ndarray, resolution: int, truncation_voxels: float,
                     step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The zero level set of stored active voxels, by dense marching cubes (checks and pictures, not training).

    Each 6-connected region of inactive grid points takes ``+truncation`` or ``-truncation`` by the majority
    sign of the active points bordering it (the band separates inside from outside, so they agree; a cavity
    enclosed by a hollow part is outside although no path through inactive space reaches it from the grid's
    boundary). A region with no active neighbour (an empty volume) is outside. ``step > 1`` keeps every
    ``step``-th grid point per axis (a coarser picture; memory is ``(resolution / step)^3`` floats).

    Returns
    -------
    vertices : (v, 3) float64 in the normalised frame
    faces : (f, 3) int64, wound outward
    """
    import mcubes
    from scipy import ndimage

    keep = (coords % step == 0).all(axis=1)
    side = (resolution - 1) // step + 1
    field = np.full((side,) * 3, np.nan, dtype=np.float32)
    field[tuple((coords[keep] // step).T)] = sdf[keep] / step
    inactive = np.isnan(field)
    labels, n_regions = ndimage.label(inactive)
    votes = np.zeros(n_regions + 1)
    for axis in range(3):  # every (inactive, active) pair of 6-neighbours votes with the active point's sign
        for near, far in ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))):
            here, there = [slice(None)] * 3, [slice(None)] * 3
            here[axis], there[axis] = near, far
            region, neighbour = labels[tuple(here)], field[tuple(there)]
            border = (region > 0) & ~np.isnan(neighbour)
            votes += np.bincount(region[border], weights=np.sign(neighbour[border]), minlength=n_regions + 1)
    limit = truncation_voxels / step
    field[inactive] = np.where(votes[labels[inactive]] < 0, -limit, limit)
    vertices, faces = mcubes.marching_cubes(field, 0.0)
    # PyMCubes winds a negative-inside field inward: flip to outward.
    return index_to_point(vertices * step, resolution), np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
