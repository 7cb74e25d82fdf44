"""The sampling grid of the normalised cube: ``resolution`` points per axis on ``linspace(-1, 1)``."""

from __future__ import annotations

import numpy as np
from numba import njit


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


#: Fibonacci hashing multiplier (2^64 / golden ratio, odd): spreads neighbouring keys over the table.
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _slot(key, shift):
    return np.int64((np.uint64(key) * _HASH_MULTIPLIER) >> shift)


@njit(cache=True)
def _hash_insert(table, bits, keys, rows):
    """Insert ``keys`` with their ``rows`` into an open-addressing table (in place).

    ``table`` is ``(2**bits, 2)``: each slot ``(key, row)``, -1 when empty; key and row share a cache line,
    so a probe is one memory access. Linear probing; a key already present keeps its first row.
    """
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    for i in range(len(keys)):
        slot = _slot(keys[i], shift)
        while table[slot, 0] != -1 and table[slot, 0] != keys[i]:
            slot = (slot + 1) & mask
        if table[slot, 0] == -1:
            table[slot, 0] = keys[i]
            table[slot, 1] = rows[i]


@njit(cache=True)
def _hash_find(table, bits, voxels, side):
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    out = np.full(len(voxels), -1, dtype=np.int64)
    for i in range(len(voxels)):
        key = (voxels[i, 0] * side + voxels[i, 1]) * side + voxels[i, 2]
        slot = _slot(key, shift)
        while table[slot, 0] != -1:
            if table[slot, 0] == key:
                out[i] = table[slot, 1]
                break
            slot = (slot + 1) & mask
    return out


class VoxelSet:
    """Membership and row lookups for a set of integer voxel indices ``(n, 3)`` below ``side`` per axis.

    A hash table (open addressing, at most half full): a lookup costs the same whatever the set's size,
    where a binary search over millions of sorted keys pays a cache miss per step. A voxel listed twice
    maps to its first row.
    """

    def __init__(self, voxels: np.ndarray, side: int):
        self.side = side
        self.size = 0
        self.bits = 4
        self.table = np.full((1 << self.bits, 2), -1, dtype=np.int64)
        self.add(voxels)

    def add(self, voxels: np.ndarray) -> None:
        """Append voxels ``(k, 3)`` as rows ``size .. size + k - 1`` (a voxel already in the set keeps its row)."""
        keys = self.keys(np.asarray(voxels).reshape(-1, 3))
        if 2 * (self.size + len(keys)) > len(self.table):  # keep the table at most half full
            self.bits = max(4, int(2 * (self.size + len(keys)) - 1).bit_length())
            old = self.table[self.table[:, 0] >= 0]  # distinct keys: their order does not matter
            self.table = np.full((1 << self.bits, 2), -1, dtype=np.int64)
            _hash_insert(self.table, self.bits, old[:, 0], old[:, 1])
        _hash_insert(self.table, self.bits, keys, np.arange(self.size, self.size + len(keys)))
        self.size += len(keys)

    def keys(self, voxels: np.ndarray) -> np.ndarray:
        """Linear key of each voxel: ``(k, 3) -> (k,)`` int64."""
        voxels = np.asarray(voxels, dtype=np.int64)
        return (voxels[:, 0] * self.side + voxels[:, 1]) * self.side + voxels[:, 2]

    def find(self, voxels: np.ndarray) -> np.ndarray:
        """Row of each voxel in the set, or -1 (voxels outside ``[0, side)`` may alias: keep them in range)."""
        voxels = np.ascontiguousarray(voxels, dtype=np.int64).reshape(-1, 3)
        if self.size == 0:
            return np.full(len(voxels), -1, dtype=np.int64)
        return _hash_find(self.table, self.bits, voxels, np.int64(self.side))


@njit(cache=True)
def _morton_codes(coords):
    out = np.zeros(coords.shape[0], np.uint64)
    for p in range(coords.shape[0]):
        code = np.uint64(0)
        for bit in range(21):
            for axis in range(3):
                code |= ((np.uint64(coords[p, axis]) >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + 2 - axis)
        out[p] = code
    return out


def morton_codes(coords: np.ndarray) -> np.ndarray:
    """Z-order codes of non-negative integer coordinates below 2^21: ``(n, 3) -> (n,)`` uint64 (x the most significant)."""
    return _morton_codes(np.ascontiguousarray(coords, dtype=np.int64))


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
