"""Exact point-to-mesh distance backends behind one small interface.

Every backend answers ``query(points, want_closest, within=None)``;
:class:`DistanceQueries` derives the other calls from it. Here: libigl's AABB
tree (exact, float64). Elsewhere: :class:`~shapeprep.geometry.nearsurface.ExactDistance`
(binned near the surface), :class:`~shapeprep.geometry.bvh.TriangleBVH`; the
GPU backend (cubvh) implements ``unsigned_distance``.
"""

from __future__ import annotations

import numpy as np


class DistanceQueries:
    """The calls every distance backend offers, from its ``query(points, want_closest, within=None)``.

    ``query`` returns squared distance ``(k,)``, closest face ``(k,)`` and
    (when ``want_closest``) closest point ``(k, 3)``, else None. With
    ``within``, a backend may answer ``inf`` for points farther than that.
    """

    def squared_distance_and_face(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared distance and closest face per point.

        Parameters
        ----------
        points : (k, 3) float

        Returns
        -------
        squared : (k,) float64
        face : (k,) int64
        """
        squared, face, _ = self.query(points, want_closest=False)
        return squared, face

    def closest_points(self, points: np.ndarray, within: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Closest surface point and unsigned distance per point.

        Parameters
        ----------
        points : (k, 3) float
        within : float, optional
            Points farther than this need no exact answer (the backend may give ``inf`` and NaN for them).

        Returns
        -------
        closest : (k, 3) float64
        distance : (k,) float64
        """
        squared, _, closest = self.query(points, want_closest=True, within=within)
        return closest, np.sqrt(squared)

    def unsigned_distance(self, points: np.ndarray) -> np.ndarray:
        """Exact unsigned distance: ``(k, 3) -> (k,)`` float64."""
        return np.sqrt(self.query(points, want_closest=False)[0])


class IglDistance(DistanceQueries):
    """Unsigned distance to a triangle mesh with libigl's AABB tree.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    chunk_size : int
        Queries per call, to bound the temporaries igl allocates
        (closest points and face ids per query).
    """

    name = "cpu"

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, chunk_size: int = 1 << 20):
        import igl

        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.chunk_size = chunk_size
        self.tree = igl.AABB()
        self.tree.init(self.vertices, self.faces)

    def query(self, points: np.ndarray, want_closest: bool, within: float | None = None):
        """Chunked ``AABB.squared_distance``: squared distance ``(k,)``, closest element ``(k,)`` and
        (when ``want_closest``) closest point ``(k, 3)``, else None. Exact everywhere (``within`` is not needed)."""
        points = np.ascontiguousarray(points, dtype=np.float64)
        squared = np.empty(len(points), dtype=np.float64)
        face = np.empty(len(points), dtype=np.int64)
        # Closest points cost 24 bytes per query; the band search never needs them.
        closest = np.empty_like(points) if want_closest else None
        for start in range(0, len(points), self.chunk_size):
            stop = start + self.chunk_size
            squared[start:stop], face[start:stop], chunk_closest = self.tree.squared_distance(
                self.vertices, self.faces, points[start:stop]
            )
            if want_closest:
                closest[start:stop] = chunk_closest
        return squared, face, closest

    def winding_number(self, points: np.ndarray) -> np.ndarray:
        """Generalized winding number of the mesh at each point (fast approximation).

        About 1 inside and 0 outside a closed outward mesh, fractional near
        holes; at most 0.5 in magnitude for a flat open sheet.

        Parameters
        ----------
        points : (k, 3) float

        Returns
        -------
        (k,) float64
        """
        import igl

        if len(points) == 0:
            return np.zeros(0)
        return np.asarray(
            igl.fast_winding_number(self.vertices, self.faces, np.ascontiguousarray(points, dtype=np.float64)),
            dtype=np.float64,
        )
