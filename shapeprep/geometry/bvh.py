"""Exact closest-point queries anywhere in space for well-shaped meshes: a BVH in numba.

Made for the watertight meshes the sample and validate stages query:
marching-cubes triangles of about one voxel, for which a bounding-volume
hierarchy is ideal (for sources with long, thin or overlapping triangles,
near the surface, see :mod:`.nearsurface`). The tree is the complete binary
tree over leaves of ``LEAF`` triangles (heap layout); each node splits its
triangles at the median of the longest axis of their box centres, and each
node's box is the union of its children's. A query descends nearer child
first and skips every box, and every triangle whose box or plane is, farther
than the best distance so far, so the answer is exact. Points are spread over
numba threads (:func:`.nearsurface.set_threads`).
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


@njit(cache=True)
def _select(order, keys, first, last, k):
    """Reorder ``order[first:last]`` so that ``order[k]`` holds the k-th smallest key, smaller ones before it."""
    while last - first > 1:
        pivot = keys[order[(first + last) // 2]]
        i, j = first, last - 1
        while i <= j:
            while keys[order[i]] < pivot:
                i += 1
            while keys[order[j]] > pivot:
                j -= 1
            if i <= j:
                order[i], order[j] = order[j], order[i]
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
    """
    m = centres.shape[0]
    order = np.arange(m)
    keys = np.empty(m)
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
                t = order[slot]
                lx, ly, lz = min(lx, centres[t, 0]), min(ly, centres[t, 1]), min(lz, centres[t, 2])
                hx, hy, hz = max(hx, centres[t, 0]), max(hy, centres[t, 1]), max(hz, centres[t, 2])
            axis = 0
            if hy - ly > hx - lx and hy - ly >= hz - lz:
                axis = 1
            elif hz - lz > hx - lx and hz - lz > hy - ly:
                axis = 2
            for slot in range(first, last):
                keys[order[slot]] = centres[order[slot], axis]
            _select(order, keys, first, last, middle)
        depth += 1
        if level_first + level_count >= size - 1:
            break
    return order


@njit(cache=True)
def _node_boxes(vertices, faces, order, size, leaf):
    """Boxes of every node of the heap-ordered tree (empty leaves get an empty box: +inf low, -inf high)."""
    low = np.full((2 * size - 1, 3), np.inf)
    high = np.full((2 * size - 1, 3), -np.inf)
    m = order.shape[0]
    for j in range(size):
        node = size - 1 + j
        for slot in range(j * leaf, min((j + 1) * leaf, m)):
            t = order[slot]
            for corner in range(3):
                v = faces[t, corner]
                for axis in range(3):
                    low[node, axis] = min(low[node, axis], vertices[v, axis])
                    high[node, axis] = max(high[node, axis], vertices[v, axis])
    for node in range(size - 2, -1, -1):
        for axis in range(3):
            low[node, axis] = min(low[2 * node + 1, axis], low[2 * node + 2, axis])
            high[node, axis] = max(high[2 * node + 1, axis], high[2 * node + 2, axis])
    nodes = np.empty((2 * size - 1, 6))  # one row per node: a box is one cache line
    nodes[:, :3] = low
    nodes[:, 3:] = high
    return nodes


@njit(cache=True, inline="always")
def _box_distance2(x, y, z, nodes, node):
    dx = max(nodes[node, 0] - x, 0.0, x - nodes[node, 3])
    dy = max(nodes[node, 1] - y, 0.0, y - nodes[node, 4])
    dz = max(nodes[node, 2] - z, 0.0, z - nodes[node, 5])
    return dx * dx + dy * dy + dz * dz


@njit(cache=True)
def _triangle_boxes(vertices, faces, order):
    """Box and plane of each triangle, in leaf order: ``(m, 10)`` low xyz, high xyz, unit normal, offset.

    A degenerate triangle gets a zero normal (its plane bound is then 0: no pruning).
    """
    boxes = np.empty((order.shape[0], 10))
    for slot in range(order.shape[0]):
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
                if _box_distance2(x, y, z, nodes, node) >= best:
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
                d_left = _box_distance2(x, y, z, nodes, left)
                d_right = _box_distance2(x, y, z, nodes, right)
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
        self.order = _median_split_order(np.ascontiguousarray(centres), self.size, LEAF)
        self.nodes = _node_boxes(self.vertices, self.faces, self.order, self.size, LEAF)
        self.boxes = _triangle_boxes(self.vertices, self.faces, self.order)

    def query(self, points: np.ndarray, want_closest: bool = True, within: float | None = None):
        """Squared distance ``(k,)``, closest face ``(k,)`` and closest point ``(k, 3)`` (None unless
        ``want_closest``); exact everywhere (``within`` is not needed)."""
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        squared, face, closest = _query(self.vertices, self.faces, self.order, self.nodes, self.boxes,
                                         self.size, LEAF, points)
        return squared, face, (closest if want_closest else None)
