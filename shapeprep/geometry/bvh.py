"""Exact closest-point queries anywhere in space for well-shaped meshes: a BVH in numba.

Made for the watertight meshes the sample and validate stages query:
marching-cubes triangles of about one voxel, for which a bounding-volume
hierarchy is ideal (for sources with long, thin or overlapping triangles,
near the surface, see :mod:`.nearsurface`). The tree is the complete binary
tree over leaves of ``LEAF`` triangles (heap layout); each node splits its
triangles at the median of the longest axis of their box centres. A query
descends nearer child first and skips every box, and every triangle whose box
or plane is, farther than the best distance so far, so the answer is exact.
Points are spread over numba threads (:func:`.nearsurface.set_threads`).

**Oriented boxes.** A point far from a curved surface sees many triangles at
nearly its distance, and an axis-aligned box around a tilted patch of them is
thick along the direction to the point, so its distance bound is loose and the
query opens hundreds of nodes (362 per point on average for 200k uniform points
around a 556k-face sphere). The small nodes (at most ``ORIENTED_MAX_LEAVES``
leaves) whose patch is tilted therefore get a box along their mean normal
instead, thin where the patch is flat, which bounds the distance about as
tightly as the patch itself: 56 nodes per point there, and on 200k such points
(one-off, 2 threads) 1.36 -> 0.23 s for that sphere, 0.70 -> 0.25 s for a
420k-face bunny, 0.14 -> 0.12 s for a CAD chair, the same distances. Nodes
whose patch is axis-aligned (CAD) keep the cheaper axis-aligned test.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .distance import DistanceQueries
from .nearsurface import triangle_distance2
from .surface import unit_face_normal

#: Triangles per leaf.
LEAF = 8

#: Points per unit of parallel work.
CHUNK = 1024

#: Columns of a node row: its box's three axes (columns 0-8, one axis per three), its low (9-11) and high
#: (12-14) coordinates along them, and 1.0 in column 15 where the box is oriented (else the axes are x, y, z
#: and the query does not read them). 16 float64: two cache lines.
NODE_COLUMNS = 16
#: Nodes of at most this many leaves may get an oriented box (measured on a 420k-face bunny: 8 leaves gave
#: 0.27 s for 200k volume points, 64 gave 0.24 s, every node 0.24 s at twice the build time).
ORIENTED_MAX_LEAVES = 64
#: An oriented box replaces the axis-aligned one where its volume is below this share of the latter's.
ORIENTED_GAIN = 0.7


@njit(cache=True)
def _select(order, centres, axis, first, last, k):
    """Reorder rows ``first:last`` of ``order`` and ``centres`` (together) so that row ``k`` holds the k-th
    smallest ``centres[:, axis]``, smaller ones before it."""
    while last - first > 1:
        pivot = centres[(first + last) // 2, axis]
        i, j = first, last - 1
        while i <= j:
            while centres[i, axis] < pivot:
                i += 1
            while centres[j, axis] > pivot:
                j -= 1
            if i <= j:
                order[i], order[j] = order[j], order[i]
                for column in range(3):
                    centres[i, column], centres[j, column] = centres[j, column], centres[i, column]
                i += 1
                j -= 1
        if k <= j:
            last = j + 1
        elif k >= i:
            first = i
        else:
            return


@njit(cache=True, parallel=True)
def _box_centres(vertices, faces):
    """Centre of each triangle's bounding box: ``(m, 3)`` (the split keys; no ``(m, 3, 3)`` corner copy)."""
    centres = np.empty((faces.shape[0], 3))
    for t in prange(faces.shape[0]):
        a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
        for axis in range(3):
            low = min(vertices[a, axis], vertices[b, axis], vertices[c, axis])
            high = max(vertices[a, axis], vertices[b, axis], vertices[c, axis])
            centres[t, axis] = (low + high) / 2.0
    return centres


@njit(cache=True, parallel=True)
def _median_split_order(centres, size, leaf):
    """Triangle order for the heap-ordered tree: each node splits its triangles at the median of the
    longest axis of their centres' box (the left child takes as many whole leaves as the right).

    The nodes of one depth own disjoint ranges of the order: they are split in parallel, level by level.
    ``centres (m, 3)`` is permuted in place along with the order (row ``slot`` is triangle ``order[slot]``'s),
    so that every pass reads it in sequence instead of through the order.
    """
    m = centres.shape[0]
    order = np.arange(m)
    depth = 0
    while (1 << depth) - 1 < size - 1:
        level_first, level_count = (1 << depth) - 1, 1 << depth
        span = size >> depth
        for index in prange(level_count):
            leaf_first = index * span
            first, last = leaf_first * leaf, min((leaf_first + span) * leaf, m)
            middle = min((leaf_first + span // 2) * leaf, m)
            if last - first <= leaf or middle <= first or middle >= last:
                continue
            lx, ly, lz = np.inf, np.inf, np.inf
            hx, hy, hz = -np.inf, -np.inf, -np.inf
            for slot in range(first, last):
                lx, ly, lz = min(lx, centres[slot, 0]), min(ly, centres[slot, 1]), min(lz, centres[slot, 2])
                hx, hy, hz = max(hx, centres[slot, 0]), max(hy, centres[slot, 1]), max(hz, centres[slot, 2])
            axis = 0
            if hy - ly > hx - lx and hy - ly >= hz - lz:
                axis = 1
            elif hz - lz > hx - lx and hz - lz > hy - ly:
                axis = 2
            _select(order, centres, axis, first, last, middle)
        depth += 1
        if level_first + level_count >= size - 1:
            break
    return order


@njit(cache=True, parallel=True)
def _node_boxes(vertices, faces, order, size, leaf):
    """Axis-aligned boxes of every node of the heap-ordered tree, as ``(2 size - 1, NODE_COLUMNS)`` rows
    (empty leaves get an empty box: +inf low, -inf high)."""
    nodes = np.zeros((2 * size - 1, NODE_COLUMNS))
    nodes[:, 0] = nodes[:, 4] = nodes[:, 8] = 1.0
    nodes[:, 9:12] = np.inf
    nodes[:, 12:15] = -np.inf
    m = order.shape[0]
    for j in prange(size):
        node = size - 1 + j
        for slot in range(j * leaf, min((j + 1) * leaf, m)):
            t = order[slot]
            for corner in range(3):
                v = faces[t, corner]
                for axis in range(3):
                    nodes[node, 9 + axis] = min(nodes[node, 9 + axis], vertices[v, axis])
                    nodes[node, 12 + axis] = max(nodes[node, 12 + axis], vertices[v, axis])
    for node in range(size - 2, -1, -1):
        for axis in range(3):
            nodes[node, 9 + axis] = min(nodes[2 * node + 1, 9 + axis], nodes[2 * node + 2, 9 + axis])
            nodes[node, 12 + axis] = max(nodes[2 * node + 1, 12 + axis], nodes[2 * node + 2, 12 + axis])
    return nodes


@njit(cache=True, parallel=True)
def _area_vector_sums(vertices, faces, order, size, leaf):
    """Sum of the area vectors (twice the area times the unit normal) of each node's triangles: ``(2 size - 1, 3)``."""
    sums = np.zeros((2 * size - 1, 3))
    m = order.shape[0]
    for j in prange(size):
        node = size - 1 + j
        for slot in range(j * leaf, min((j + 1) * leaf, m)):
            nx, ny, nz, length = unit_face_normal(vertices, faces, order[slot])
            sums[node, 0] += nx * length
            sums[node, 1] += ny * length
            sums[node, 2] += nz * length
    for node in range(size - 2, -1, -1):
        for axis in range(3):
            sums[node, axis] = sums[2 * node + 1, axis] + sums[2 * node + 2, axis]
    return sums


@njit(cache=True, inline="always")
def _frame_along(nx, ny, nz, axes):
    """Write an orthonormal frame whose first axis is ``(nx, ny, nz)`` (not zero) into ``axes (3, 3)`` rows."""
    length = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / length, ny / length, nz / length
    # The second axis: the normal crossed with the coordinate axis least aligned with it (never parallel).
    if abs(nx) <= abs(ny) and abs(nx) <= abs(nz):
        sx, sy, sz = 0.0, nz, -ny
    elif abs(ny) <= abs(nz):
        sx, sy, sz = -nz, 0.0, nx
    else:
        sx, sy, sz = ny, -nx, 0.0
    length = np.sqrt(sx * sx + sy * sy + sz * sz)
    sx, sy, sz = sx / length, sy / length, sz / length
    axes[0, 0], axes[0, 1], axes[0, 2] = nx, ny, nz
    axes[1, 0], axes[1, 1], axes[1, 2] = sx, sy, sz
    axes[2, 0], axes[2, 1], axes[2, 2] = ny * sz - nz * sy, nz * sx - nx * sz, nx * sy - ny * sx


@njit(cache=True, parallel=True)
def _orient_boxes(vertices, faces, order, size, leaf, nodes, sums, max_leaves, gain, pad):
    """Give the nodes of at most ``max_leaves`` leaves an oriented box along their mean normal (``sums``) where
    its volume is below ``gain`` times their axis-aligned box's, in place; bottom up, a node above the leaves
    only where a child took one (a patch that is axis-aligned below stays so above). The box holds every
    vertex of the node's triangles, grown by ``pad`` so that rounding in a query's projection cannot exclude
    one."""
    m = order.shape[0]
    depth = 0
    while (1 << depth) < size:
        depth += 1
    span = 1
    while span <= max_leaves and depth >= 0:
        first = (1 << depth) - 1
        for index in prange(1 << depth):
            node = first + index
            if span > 1 and nodes[2 * node + 1, 15] == 0.0 and nodes[2 * node + 2, 15] == 0.0:
                continue
            if sums[node, 0] == 0.0 and sums[node, 1] == 0.0 and sums[node, 2] == 0.0:
                continue
            axes = np.empty((3, 3))
            _frame_along(sums[node, 0], sums[node, 1], sums[node, 2], axes)
            low = np.full(3, np.inf)
            high = np.full(3, -np.inf)
            for slot in range(index * span * leaf, min((index + 1) * span * leaf, m)):
                t = order[slot]
                for corner in range(3):
                    v = faces[t, corner]
                    for r in range(3):
                        u = axes[r, 0] * vertices[v, 0] + axes[r, 1] * vertices[v, 1] + axes[r, 2] * vertices[v, 2]
                        low[r] = min(low[r], u)
                        high[r] = max(high[r], u)
            oriented, aligned = 1.0, 1.0
            for r in range(3):
                oriented *= high[r] - low[r] + 2.0 * pad
                aligned *= nodes[node, 12 + r] - nodes[node, 9 + r] + 2.0 * pad
            if not oriented < gain * aligned:
                continue
            for r in range(3):
                for c in range(3):
                    nodes[node, 3 * r + c] = axes[r, c]
                nodes[node, 9 + r] = low[r] - pad
                nodes[node, 12 + r] = high[r] + pad
            nodes[node, 15] = 1.0
        span *= 2
        depth -= 1


@njit(cache=True, inline="always")
def _node_distance2(x, y, z, nodes, node):
    """Squared distance from ``(x, y, z)`` to a node's box (oriented or axis-aligned): a lower bound for its triangles."""
    if nodes[node, 15] != 0.0:
        total = 0.0
        for r in range(3):
            u = nodes[node, 3 * r] * x + nodes[node, 3 * r + 1] * y + nodes[node, 3 * r + 2] * z
            d = max(nodes[node, 9 + r] - u, 0.0, u - nodes[node, 12 + r])
            total += d * d
        return total
    dx = max(nodes[node, 9] - x, 0.0, x - nodes[node, 12])
    dy = max(nodes[node, 10] - y, 0.0, y - nodes[node, 13])
    dz = max(nodes[node, 11] - z, 0.0, z - nodes[node, 14])
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, parallel=True)
def _triangle_boxes(vertices, faces, order):
    """Box and plane of each triangle, in leaf order: ``(m, 10)`` low xyz, high xyz, unit normal, offset.

    A degenerate triangle gets a zero normal (its plane bound is then 0: no pruning).
    """
    boxes = np.empty((order.shape[0], 10))
    for slot in prange(order.shape[0]):
        t = order[slot]
        for axis in range(3):
            a, b, c = vertices[faces[t, 0], axis], vertices[faces[t, 1], axis], vertices[faces[t, 2], axis]
            boxes[slot, axis] = min(a, b, c)
            boxes[slot, 3 + axis] = max(a, b, c)
        a = faces[t, 0]
        nx, ny, nz, _ = unit_face_normal(vertices, faces, t)
        boxes[slot, 6], boxes[slot, 7], boxes[slot, 8] = nx, ny, nz
        boxes[slot, 9] = nx * vertices[a, 0] + ny * vertices[a, 1] + nz * vertices[a, 2]
    return boxes


@njit(cache=True, parallel=True)
def _query(vertices, faces, order, nodes, boxes, size, leaf, points):
    n = points.shape[0]
    squared = np.empty(n)
    face = np.empty(n, np.int64)
    closest = np.empty((n, 3))
    m = order.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    for chunk in prange(chunks):
        stack = np.empty(128, np.int64)  # one traversal stack per chunk of points, not per point
        previous = -1
        for p in range(chunk * CHUNK, min((chunk + 1) * CHUNK, n)):
            x, y, z = points[p, 0], points[p, 1], points[p, 2]
            best, best_face = np.inf, -1
            bx, by, bz = np.nan, np.nan, np.nan
            if previous >= 0:  # neighbouring points (queries come Z-ordered) share closest triangles: a tight start
                best, bx, by, bz = triangle_distance2(vertices, faces, previous, x, y, z)
                best_face = previous
            stack[0] = 0
            top = 1
            while top > 0:
                top -= 1
                node = stack[top]
                if _node_distance2(x, y, z, nodes, node) >= best:
                    continue
                if node >= size - 1:
                    j = node - (size - 1)
                    for slot in range(j * leaf, min((j + 1) * leaf, m)):
                        dx = max(boxes[slot, 0] - x, 0.0, x - boxes[slot, 3])
                        dy = max(boxes[slot, 1] - y, 0.0, y - boxes[slot, 4])
                        dz = max(boxes[slot, 2] - z, 0.0, z - boxes[slot, 5])
                        if dx * dx + dy * dy + dz * dz >= best:
                            continue
                        # The distance to the triangle's plane is a lower bound, and a tight one for the many
                        # triangles that face a far point (its nearest patch of surface looks flat from there).
                        plane = boxes[slot, 6] * x + boxes[slot, 7] * y + boxes[slot, 8] * z - boxes[slot, 9]
                        if plane * plane >= best * (1.0 + 1e-9):
                            continue
                        t = order[slot]
                        d, qx, qy, qz = triangle_distance2(vertices, faces, t, x, y, z)
                        if d < best:
                            best, best_face, bx, by, bz = d, t, qx, qy, qz
                    continue
                left, right = 2 * node + 1, 2 * node + 2
                d_left = _node_distance2(x, y, z, nodes, left)
                d_right = _node_distance2(x, y, z, nodes, right)
                if d_left <= d_right:  # push the farther child first so the nearer is visited first
                    if d_right < best:
                        stack[top] = right
                        top += 1
                    if d_left < best:
                        stack[top] = left
                        top += 1
                else:
                    if d_left < best:
                        stack[top] = left
                        top += 1
                    if d_right < best:
                        stack[top] = right
                        top += 1
            squared[p], face[p] = best, best_face
            closest[p, 0], closest[p, 1], closest[p, 2] = bx, by, bz
            previous = best_face
    return squared, face, closest


class TriangleBVH(DistanceQueries):
    """Exact unsigned distance, closest face and closest point to a triangle mesh, for any point.

    Same query interface as :class:`~shapeprep.geometry.distance.IglDistance`
    (:class:`~shapeprep.geometry.distance.DistanceQueries`).

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64, at least one face
    """

    name = "bvh"

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if len(self.faces) == 0:
            raise ValueError("a BVH needs at least one triangle")
        centres = _box_centres(self.vertices, self.faces)
        leaves = -(-len(self.faces) // LEAF)
        self.size = 1 << max(int(leaves - 1).bit_length(), 0)
        self.order = _median_split_order(centres, self.size, LEAF)  # permutes centres, a scratch array
        self.nodes = _node_boxes(self.vertices, self.faces, self.order, self.size, LEAF)
        # Projections onto unit axes round by a few ulps of the coordinates: the pad keeps every vertex inside.
        pad = 1e-12 * (1.0 + float(np.abs(self.vertices).max()))
        _orient_boxes(self.vertices, self.faces, self.order, self.size, LEAF, self.nodes,
                      _area_vector_sums(self.vertices, self.faces, self.order, self.size, LEAF),
                      ORIENTED_MAX_LEAVES, ORIENTED_GAIN, pad)
        self.boxes = _triangle_boxes(self.vertices, self.faces, self.order)

    def query(self, points: np.ndarray, want_closest: bool = True, within: float | None = None):
        """Squared distance ``(k,)``, closest face ``(k,)`` and closest point ``(k, 3)`` (None unless
        ``want_closest``); exact everywhere (``within`` is not needed)."""
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        squared, face, closest = _query(self.vertices, self.faces, self.order, self.nodes, self.boxes,
                                         self.size, LEAF, points)
        return squared, face, (closest if want_closest else None)
