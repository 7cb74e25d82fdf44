"""Signed distance to a closed mesh: exact distance, sign by the generalized winding number.

**Negative inside.** The distance comes from a BVH over the mesh's triangles
(:class:`~shapeprep.geometry.bvh.TriangleBVH`: exact, float64, on numba threads).
The sign comes from libigl's fast winding number, not from the closest
feature's pseudonormal: marching-cubes output pulled towards the source can
fold slightly, and there the pseudonormal test gives the wrong side while the
winding number (which counts how often the surface wraps a point) stays
right. Queries are processed in Morton order, which makes the tree
traversals cache-friendly (3-5x faster on 400k-face meshes than random order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .bvh import TriangleBVH
from .grid import morton_codes

#: Winding number above which a point is inside.
INSIDE_WINDING = 0.5
#: Fast-winding-number accuracy of the first pass (libigl's default is 2; 1 is
#: about 3x faster and classified 300k near-surface points of a 434k-face mesh
#: exactly like 2 and like the exact winding number).
FAST_ACCURACY = 1.0
#: Accuracy of the second pass, for points whose first-pass value is within
#: ``AMBIGUOUS_WINDING`` of the threshold.
CAREFUL_ACCURACY = 4.0
AMBIGUOUS_WINDING = 0.25


@njit(cache=True)
def _box_cells(points, bits):
    """Each point's cell on a ``(2^bits)^3`` grid over the points' box: ``(k, 3) -> (k, 3)`` int64."""
    n = points.shape[0]
    low = np.full(3, np.inf)
    high = np.full(3, -np.inf)
    for p in range(n):
        for axis in range(3):
            low[axis] = min(low[axis], points[p, axis])
            high[axis] = max(high[axis], points[p, axis])
    top = (1 << bits) - 1
    cells = np.empty((n, 3), np.int64)
    for p in range(n):
        for axis in range(3):
            scaled = (points[p, axis] - low[axis]) / max(high[axis] - low[axis], 1e-12) * top
            cells[p, axis] = int(min(max(scaled, 0.0), top)) if scaled == scaled else 0  # NaN: cell 0
    return cells


@njit(cache=True)
def _radix_order(codes, bits_per_pass, passes):
    """Stable least-significant-digit radix sort of non-negative ``codes (k,)`` int64 below
    ``2^(bits_per_pass * passes)``: the sorting permutation ``(k,)`` int64."""
    n = codes.shape[0]
    order = np.arange(n)
    scratch = np.empty(n, np.int64)
    counts = np.empty((1 << bits_per_pass) + 1, np.int64)
    mask = (1 << bits_per_pass) - 1
    for shift in range(0, bits_per_pass * passes, bits_per_pass):
        counts[:] = 0
        for p in range(n):
            counts[((codes[order[p]] >> shift) & mask) + 1] += 1
        for digit in range(1 << bits_per_pass):
            counts[digit + 1] += counts[digit]
        for p in range(n):
            digit = (codes[order[p]] >> shift) & mask
            scratch[counts[digit]] = order[p]
            counts[digit] += 1
        order, scratch = scratch, order
    return order


def morton_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Permutation that sorts points along a Z-order curve over their bounding box (stable: ties keep their order).

    Parameters
    ----------
    points : (k, 3) float
    bits : int
        Grid bits per axis (at most 21).

    Returns
    -------
    (k,) int64
    """
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = morton_codes(_box_cells(np.ascontiguousarray(points, dtype=np.float64), int(bits)))
    return _radix_order(codes.view(np.int64), int(bits), 3)  # 3 * bits <= 63: the codes' order as int64


def z_ordered(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points in Morton order and the way back: ``ordered (k, 3)`` float64 contiguous and ``inverse (k,)``
    int64, with ``ordered[inverse] == points``."""
    points = np.asarray(points, dtype=np.float64)
    order = morton_order(points)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return np.ascontiguousarray(points[order]), inverse


class SignedDistance:
    """Signed distance queries against one closed triangle mesh.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int
        Closed and oriented outward (the watertight output). Open or
        inconsistently wound meshes still get a sign, but then "inside"
        means winding number above 0.5.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        import igl

        self.distance = TriangleBVH(vertices, faces)
        self.winding_tree = igl.FastWindingNumberBVH()
        self.winding_tree.init(self.distance.vertices, self.distance.faces)

    def query(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signed distance, closest face and winding number per point.

        Parameters
        ----------
        points : (k, 3) float

        Returns
        -------
        sdf : (k,) float64
            Negative inside.
        face : (k,) int64
            Index of the closest face.
        winding : (k,) float64
            Generalized winding number (about 1 inside, 0 outside).
        """
        ordered, inverse = z_ordered(points)
        squared, face = self.distance.squared_distance_and_face(ordered)
        winding = self.winding(ordered)
        sdf = np.sqrt(squared)
        sdf[winding > INSIDE_WINDING] *= -1.0
        return sdf[inverse], face[inverse], winding[inverse]

    def winding(self, points: np.ndarray) -> np.ndarray:
        """Generalized winding number, fast pass plus a careful pass near 0.5: ``(k, 3) -> (k,)``."""
        points = np.ascontiguousarray(points, dtype=np.float64)
        winding = self.winding_tree.winding_number(points, FAST_ACCURACY)
        ambiguous = np.flatnonzero(np.abs(winding - INSIDE_WINDING) < AMBIGUOUS_WINDING)
        if len(ambiguous):
            winding[ambiguous] = self.winding_tree.winding_number(np.ascontiguousarray(points[ambiguous]), CAREFUL_ACCURACY)
        return winding

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unsigned distance, closest face and closest point per point (queried in Morton order too: farthest-point
        samples come spread out, the worst order for the traversal's warm start).

        Returns
        -------
        distance : (k,) float64
        face : (k,) int64
        closest : (k, 3) float64
        """
        ordered, inverse = z_ordered(points)
        squared, face, closest = self.distance.query(ordered, want_closest=True)
        return np.sqrt(squared)[inverse], face[inverse], closest[inverse]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Signed distance per point, negative inside: ``(k, 3) -> (k,)`` float64."""
        return self.query(points)[0]


def signed_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """One-shot :class:`SignedDistance`: ``(k, 3) -> (k,)`` float64, negative inside."""
    return SignedDistance(vertices, faces)(points)
