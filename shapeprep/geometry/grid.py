"""The sampling grid of the normalised cube: ``resolution`` points per axis on ``linspace(-1, 1)``."""

from __future__ import annotations

import numpy as np


def grid_spacing(resolution: int) -> float:
    """Distance between neighbouring grid points on ``linspace(-1, 1, resolution)`` (one voxel)."""
    return 2.0 / (resolution - 1)


def index_to_point(index: np.ndarray, resolution: int) -> np.ndarray:
    """Map (fractional) grid indices ``(i, j, k)`` to normalised coordinates.

    Parameters
    ----------
    index : (n, 3) float or int
    resolution : int

    Returns
    -------
    (n, 3) float64
    """
    return np.asarray(index, dtype=np.float64) * grid_spacing(resolution) - 1.0


class VoxelSet:
    """Membership and row lookups for a set of integer voxel indices ``(n, 3)`` below ``side`` per axis."""

    def __init__(self, voxels: np.ndarray, side: int):
        self.side = side
        keys = self.keys(voxels)
        self.order = np.argsort(keys)
        self.sorted = keys[self.order]

    def keys(self, voxels: np.ndarray) -> np.ndarray:
        """Linear key of each voxel: ``(k, 3) -> (k,)`` int64."""
        voxels = np.asarray(voxels, dtype=np.int64)
        return (voxels[:, 0] * self.side + voxels[:, 1]) * self.side + voxels[:, 2]

    def find(self, voxels: np.ndarray) -> np.ndarray:
        """Row of each voxel in the set, or -1 (voxels outside ``[0, side)`` may alias: keep them in range)."""
        if len(self.sorted) == 0:
            return np.full(len(voxels), -1, dtype=np.int64)
        keys = self.keys(voxels)
        where = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
        return np.where(self.sorted[where] == keys, self.order[where], -1)


def voxel_components(voxels: np.ndarray, side: int, offsets: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components of a set of voxels ``(n, 3)`` (indices in ``[1, side - 1)`` per axis, so that every
    neighbour stays in range), neighbours being ``voxel + offset`` for each of ``offsets (o, 3)``.

    Returns
    -------
    labels : (n,) int64
    count : int
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(voxels) == 0:
        return np.zeros(0, dtype=np.int64), 0
    members = VoxelSet(voxels, side)
    links = []
    for offset in offsets:
        neighbour = members.find(voxels + offset)
        found = np.flatnonzero(neighbour >= 0)
        links.append(np.stack([found, neighbour[found]], axis=1))
    links = np.concatenate(links)
    graph = coo_matrix((np.ones(len(links), dtype=np.int8), (links[:, 0], links[:, 1])), shape=(len(voxels),) * 2)
    count, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64), int(count)
