"""Mesh topology on ``(m, 3)`` face arrays: edges, components, volumes, Euler characteristic.

Each helper is defined once here and shared by normalisation curation,
the watertight finish (small parts, decimation checks) and validation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _half_edge_keys(faces, n_vertices, keys, forward):
    """Fill, per half-edge, its undirected key ``low * n_vertices + high`` (its two vertices, smaller first) and
    whether it runs upward. Half-edge ``3 f + c`` runs from corner ``c`` of face ``f`` to corner ``c + 1``
    (mod 3)."""
    for f in prange(faces.shape[0]):
        for c in range(3):
            a, b = faces[f, c], faces[f, (c + 1) % 3]
            keys[3 * f + c] = min(a, b) * n_vertices + max(a, b)
            forward[3 * f + c] = a < b


@njit(cache=True)
def _stable_pair_order(keys, n_vertices, order):
    """``np.argsort(keys, kind="stable")`` into ``order``, for keys ``low * n_vertices + high``, in O(n).

    A counting sort by ``low`` (stable), then each bucket (a vertex's few edges) by key with a stable
    insertion sort: several times faster than a comparison sort of millions of int64 keys.
    """
    starts = _counting_order(keys, n_vertices, order, n_vertices)
    for v in range(n_vertices):
        for j in range(starts[v] + 1, starts[v + 1]):
            item = order[j]
            k = j - 1
            while k >= starts[v] and keys[order[k]] > keys[item]:
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = item


@njit(cache=True)
def _group_count(keys, order):
    """Distinct values of ``keys`` taken in ``order`` (sorted)."""
    count = 1 if order.shape[0] else 0
    for i in range(1, order.shape[0]):
        if keys[order[i]] != keys[order[i - 1]]:
            count += 1
    return count


@njit(cache=True)
def _group_starts(keys, order, starts):
    """``starts (groups + 1,)``: where each run of equal sorted keys begins, then ``len(order)``."""
    group = 0
    for i in range(order.shape[0]):
        if i == 0 or keys[order[i]] != keys[order[i - 1]]:
            starts[group] = i
            group += 1
    starts[group] = order.shape[0]


@njit(cache=True)
def _directed_once(forward, order, starts):
    """Whether each undirected edge has at most one half-edge each way (no per-half-edge temporaries: an int64
    copy of ``forward`` was 0.3 GB for a 1024 mesh)."""
    for edge in range(starts.shape[0] - 1):
        upward = 0
        for i in range(starts[edge], starts[edge + 1]):
            upward += forward[order[i]]
        if upward > 1 or starts[edge + 1] - starts[edge] - upward > 1:
            return False
    return True


def _index_dtype(size: int):
    """int32 for indices below ``size`` when they fit (half the memory of a 1024 mesh's half-edges), else int64."""
    return np.int32 if size < 2**31 else np.int64


class HalfEdges:
    """The half-edges of a face array grouped by undirected edge: one stable sort shared by the edge checks.

    Parameters
    ----------
    faces : (m, 3) int64
    n_vertices : int, optional
        At least ``faces.max() + 1`` (the default).

    Attributes
    ----------
    keys : (3 m,) int64
        Undirected edge key ``low * n_vertices + high`` of each half-edge (``3 f + c``: corner ``c`` of face
        ``f`` to corner ``c + 1``).
    order : (3 m,) int32 (int64 from 2^31 half-edges)
        Half-edges sorted by key, stably.
    starts : (e + 1,) int32 (likewise)
        ``order[starts[i]:starts[i + 1]]`` are the half-edges of undirected edge ``i`` (keys ascending).
    """

    def __init__(self, faces: np.ndarray, n_vertices: int | None = None):
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        used = int(self.faces.max()) + 1 if len(self.faces) else 0
        self.n_vertices = used if n_vertices is None else max(int(n_vertices), used)
        n = 3 * len(self.faces)
        # 13 bytes per half-edge (int32 order), where int64 ends, order and a sorted copy of the keys were 41 (a
        # watertight mesh at 1024: 41M half-edges, 1.3 GB at once).
        self.keys, self.forward = np.empty(n, np.int64), np.empty(n, np.bool_)
        _half_edge_keys(self.faces, np.int64(self.n_vertices), self.keys, self.forward)
        self.order = np.empty(n, _index_dtype(n + 1))
        _stable_pair_order(self.keys, self.n_vertices, self.order)
        self.starts = np.empty(_group_count(self.keys, self.order) + 1, self.order.dtype)
        _group_starts(self.keys, self.order, self.starts)

    @property
    def counts(self) -> np.ndarray:
        """Faces per undirected edge: ``(e,)`` int (the dtype of :attr:`starts`)."""
        return np.diff(self.starts)

    @property
    def edge_keys(self) -> np.ndarray:
        """Key ``low * n_vertices + high`` of each undirected edge, ascending: ``(e,)`` int64."""
        return self.keys[self.order[self.starts[:-1]]]

    @property
    def edges(self) -> np.ndarray:
        """Undirected edges, sorted vertex pairs in key order: ``(e, 2)`` int64."""
        keys = self.edge_keys
        return np.stack([keys // self.n_vertices, keys % self.n_vertices], axis=1)

    @property
    def low_vertices(self) -> np.ndarray:
        """The smaller vertex of each undirected edge, in key order: ``edges[:, 0]`` without the pairs, ``(e,)``."""
        return self.edge_keys // self.n_vertices

    def consistent(self) -> bool:
        """True when no directed edge is used twice (neighbours traverse shared edges oppositely)."""
        return bool(_directed_once(self.forward, self.order, self.starts))

    def non_manifold_vertices(self) -> int:
        """Vertices whose incident faces do not form a single edge-connected fan (see
        :func:`non_manifold_vertex_count`)."""
        return int(_count_split_fans(self.faces, self.order, self.keys, self.n_vertices))


def edge_face_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges and how many faces use each.

    Returns
    -------
    edges : (e, 2) int64
        Sorted vertex pairs.
    counts : (e,) int64
    """
    table = HalfEdges(faces)
    return table.edges, table.counts


def winding_is_consistent(faces: np.ndarray) -> bool:
    """True when no directed edge is used twice (neighbours traverse shared edges oppositely)."""
    return HalfEdges(faces).consistent()


def non_manifold_vertex_count(faces: np.ndarray, n_vertices: int) -> int:
    """Vertices whose incident faces do not form a single edge-connected fan.

    Corners ``(face, vertex)`` are linked when their faces share an edge
    through that vertex (half-edges next to each other in the order of
    their undirected edge); a manifold vertex has exactly one group of
    corners. One sort, then a union-find over the corners (numba).

    Parameters
    ----------
    faces : (m, 3) int64
    n_vertices : int

    Returns
    -------
    int
    """
    return HalfEdges(faces, n_vertices).non_manifold_vertices()


def incident_faces(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The faces around each vertex, in face order: ``(starts (n + 1,) int64, corners (3 m,))``, corners int32
    below 2^31 (a 17.7M-face mesh's are 212 MB less than as int64), else int64.

    ``corners[starts[v]:starts[v + 1]]`` are the corners ``3 f + c`` with ``faces[f, c] == v``, ascending
    (a face that uses ``v`` twice appears twice). A counting sort: linear time.
    """
    keys = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1)
    corners = np.empty(len(keys), _index_dtype(len(keys)))
    return _counting_order(keys, int(n_vertices), corners, 1), corners


@njit(cache=True)
def _counting_order(keys, n_keys, order, divisor):
    """Stable counting sort of non-negative integers ``keys // divisor`` (below ``n_keys``) into ``order``
    (``keys``' length, any integer type that holds their indices): returns ``starts (n_keys + 1,)``, the
    indices of bucket ``k`` being ``order[starts[k]:starts[k + 1]]``, ascending."""
    starts = np.zeros(n_keys + 1, np.int64)
    for i in range(keys.shape[0]):
        starts[keys[i] // divisor + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    for i in range(keys.shape[0]):
        bucket = keys[i] // divisor
        order[fill[bucket]] = i
        fill[bucket] += 1
    return starts


@njit(cache=True, inline="always")
def union_find_root(parent, k):
    """Root of ``k`` in a union-find forest ``parent`` (int array), halving the path on the way (numba)."""
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


@njit(cache=True, inline="always")
def _corner_of(faces, face, vertex):
    """The first corner of ``face`` at ``vertex``."""
    for c in range(3):
        if faces[face, c] == vertex:
            return 3 * face + c
    return -1


@njit(cache=True)
def _count_split_fans(faces, order, keys, n_vertices):
    parent = np.empty(3 * faces.shape[0], np.int32)  # a corner per half-edge: int32 halves 12M faces' 0.3 GB
    for k in range(parent.shape[0]):
        parent[k] = k
    for i in range(order.shape[0] - 1):
        first, second = order[i], order[i + 1]
        if keys[first] != keys[second]:
            continue
        face_a, face_b = first // 3, second // 3
        corner = first % 3
        for vertex in (faces[face_a, corner], faces[face_a, (corner + 1) % 3]):
            a = union_find_root(parent, _corner_of(faces, face_a, vertex))
            b = union_find_root(parent, _corner_of(faces, face_b, vertex))
            if a != b:
                parent[max(a, b)] = min(a, b)
    fans = np.zeros(n_vertices, np.int64)
    for k in range(parent.shape[0]):
        if union_find_root(parent, k) == k:
            fans[faces[k // 3, k % 3]] += 1
    split = 0
    for vertex in range(n_vertices):
        if fans[vertex] > 1:
            split += 1
    return split


def face_components(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of faces through shared vertices.

    Returns
    -------
    count : int
    face_label : (m,) int64
    """
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if len(faces) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    n_vertices = max(int(n_vertices), int(faces.max()) + 1)
    count, face_label = _face_components(faces, n_vertices)
    return int(count), face_label


@njit(cache=True)
def _face_components(faces, n_vertices):
    """Union-find over each face's vertices; components numbered in order of their first face."""
    parent = np.arange(n_vertices)
    for f in range(faces.shape[0]):
        root = union_find_root(parent, faces[f, 0])
        for c in (1, 2):
            other = union_find_root(parent, faces[f, c])
            if other != root:
                parent[max(root, other)] = min(root, other)
                root = min(root, other)
    label_of_root = np.full(n_vertices, -1, np.int64)
    face_label = np.empty(faces.shape[0], np.int64)
    count = 0
    for f in range(faces.shape[0]):
        root = union_find_root(parent, faces[f, 0])
        if label_of_root[root] < 0:
            label_of_root[root] = count
            count += 1
        face_label[f] = label_of_root[root]
    return count, face_label


def signed_volumes(vertices: np.ndarray, faces: np.ndarray, face_label: np.ndarray, n_components: int) -> np.ndarray:
    """Enclosed volume per component by the divergence theorem (positive if wound outward).

    Returns
    -------
    (n_components,) float64
    """
    tetra = _tetra_volumes(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64))
    return np.bincount(face_label, weights=tetra, minlength=n_components)


@njit(cache=True, parallel=True)
def _tetra_volumes(vertices, faces):
    """Signed volume of the tetrahedron (origin, face) per face: ``c0 . (c1 x c2) / 6``."""
    out = np.empty(faces.shape[0])
    for f in prange(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x0 = vertices[b, 1] * vertices[c, 2] - vertices[b, 2] * vertices[c, 1]
        x1 = vertices[b, 2] * vertices[c, 0] - vertices[b, 0] * vertices[c, 2]
        x2 = vertices[b, 0] * vertices[c, 1] - vertices[b, 1] * vertices[c, 0]
        # Summed in the order numpy's einsum used for ``c0 . x`` (its records stay the same to the bit here).
        out[f] = ((vertices[a, 0] * x0 + vertices[a, 2] * x2) + vertices[a, 1] * x1) / 6.0
    return out


def euler_per_component(faces: np.ndarray, face_label: np.ndarray, n_components: int,
                        edge_vertices: np.ndarray) -> np.ndarray:
    """Euler characteristic ``V - E + F`` of each component.

    Parameters
    ----------
    faces : (m, 3) int
    face_label : (m,) int, the component of each face
    n_components : int
    edge_vertices : (e,) int
        One vertex of each undirected edge (``HalfEdges.low_vertices``).

    Returns
    -------
    (n_components,) int64
    """
    n_faces = np.bincount(face_label, minlength=n_components)
    vertex_label = np.full(int(faces.max()) + 1, -1, dtype=np.int64)
    for corner in range(3):  # a vertex's faces share its component: any of them labels it
        vertex_label[faces[:, corner]] = face_label
    used = vertex_label >= 0
    n_vertices = np.bincount(vertex_label[used], minlength=n_components)
    n_edges = np.bincount(vertex_label[edge_vertices], minlength=n_components)
    return n_vertices - n_edges + n_faces
