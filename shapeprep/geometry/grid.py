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
        key = keys[i]
        slot = _slot(key, shift)
        while table[slot, 0] != -1 and table[slot, 0] != key:
            slot = (slot + 1) & mask
        if table[slot, 0] == -1:
            table[slot, 0] = key
            table[slot, 1] = rows[i]


@njit(cache=True)
def _hash_find(table, bits, voxels, side):
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    out = np.full(len(voxels), -1, dtype=np.int64)
    for i in range(len(voxels)):
        key = (np.int64(voxels[i, 0]) * side + voxels[i, 1]) * side + voxels[i, 2]
        slot = _slot(key, shift)
        while table[slot, 0] != -1:
            if table[slot, 0] == key:
                out[i] = table[slot, 1]
                break
            slot = (slot + 1) & mask
    return out


@njit(cache=True)
def _hash_mark(table, bits, voxels, side, found):
    """``found[row] = True`` for the row of every voxel of ``voxels`` in the table (in place)."""
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    for i in range(len(voxels)):
        key = (np.int64(voxels[i, 0]) * side + voxels[i, 1]) * side + voxels[i, 2]
        slot = _slot(key, shift)
        while table[slot, 0] != -1:
            if table[slot, 0] == key:
                found[table[slot, 1]] = True
                break
            slot = (slot + 1) & mask


class VoxelSet:
    """Membership and row lookups for a set of integer voxel indices ``(n, 3)`` below ``side`` per axis.

    A hash table (open addressing, at most half full): a lookup costs the same whatever the set's size,
    where a binary search over millions of sorted keys pays a cache miss per step. A voxel listed twice
    maps to its first row. Keys and rows are int32 while ``side**3`` fits (``side`` up to 1290, a grid of
    1024 with its padding): a slot costs 8 bytes instead of 16, and a table of tens of millions of voxels
    is hundreds of MB.
    """

    def __init__(self, voxels: np.ndarray, side: int):
        self.side = side
        self.size = 0
        self.bits = 4
        self.dtype = np.int32 if side**3 <= np.iinfo(np.int32).max else np.int64
        self.table = np.full((1 << self.bits, 2), -1, dtype=self.dtype)
        self.add(voxels)

    def add(self, voxels: np.ndarray) -> None:
        """Append voxels ``(k, 3)`` as rows ``size .. size + k - 1`` (a voxel already in the set keeps its row)."""
        keys = self.keys(np.asarray(voxels).reshape(-1, 3))
        if self.size + len(keys) > np.iinfo(self.dtype).max:
            self.dtype = np.int64  # rows past int32 (never at 1024: a grid point is one row at most)
            self.table = self.table.astype(np.int64)
        if 2 * (self.size + len(keys)) > len(self.table):  # keep the table at most half full
            self.bits = max(4, int(2 * (self.size + len(keys)) - 1).bit_length())
            old = self.table[self.table[:, 0] >= 0]  # distinct keys: their order does not matter
            self.table = None  # let go of the old table before the new one is allocated
            self.table = np.full((1 << self.bits, 2), -1, dtype=self.dtype)
            _hash_insert(self.table, self.bits, old[:, 0], old[:, 1])
            old = None
        _hash_insert(self.table, self.bits, keys, np.arange(self.size, self.size + len(keys), dtype=self.dtype))
        self.size += len(keys)

    def keys(self, voxels: np.ndarray) -> np.ndarray:
        """Linear key of each voxel: ``(k, 3) -> (k,)`` in the table's dtype."""
        voxels = np.asarray(voxels)  # column by column: an int64 copy of millions of int32 voxels is not needed
        keys = (voxels[:, 0].astype(np.int64) * self.side + voxels[:, 1]) * self.side + voxels[:, 2]
        return keys.astype(self.dtype, copy=False)

    def find(self, voxels: np.ndarray) -> np.ndarray:
        """Row of each voxel in the set, or -1 (voxels outside ``[0, side)`` may alias: keep them in range)."""
        voxels = integer_voxels(voxels)
        if self.size == 0:
            return np.full(len(voxels), -1, dtype=np.int64)
        return _hash_find(self.table, self.bits, voxels, np.int64(self.side))

    def found_among(self, voxels: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
        """Which rows of the set appear in ``voxels (k, 3)``: ``(size,)`` bool.

        The membership test turned around: hash the small set, stream the large one through it in chunks,
        so that a band of tens of millions of voxels is never hashed (a table of 1 GB at 1024).
        """
        found = np.zeros(self.size, dtype=bool)
        if self.size:
            for start in range(0, len(voxels), chunk):
                _hash_mark(self.table, self.bits, integer_voxels(voxels[start:start + chunk]), np.int64(self.side),
                           found)
        return found


@njit(cache=True, inline="always")
def block_id(voxels, i, n_blocks, block):
    """Linear id ``(bx * n_blocks + by) * n_blocks + bz`` of the ``block``³ block holding voxel ``voxels[i]`` (numba)."""
    return (voxels[i, 0] // block * n_blocks + voxels[i, 1] // block) * n_blocks + voxels[i, 2] // block


@njit(cache=True)
def blocks_present(voxels, n_blocks, block):
    """``(n_blocks**3,)`` bool: the blocks that hold at least one of ``voxels (k, 3)`` (numba)."""
    present = np.zeros(n_blocks**3, np.bool_)
    for i in range(voxels.shape[0]):
        present[block_id(voxels, i, n_blocks, block)] = True
    return present


def integer_voxels(voxels) -> np.ndarray:
    """``(k, 3)`` C-contiguous int32 or int64 voxels (other dtypes become int64): what the kernels take.

    int32 voxels stay int32 (a band of 35M voxels at 1024 is 420 MB less than as int64); kernels compute
    linear ids from them in int64 (numba widens int32 against an int64 operand).
    """
    voxels = np.ascontiguousarray(np.asarray(voxels).reshape(-1, 3))
    return voxels if voxels.dtype in (np.int32, np.int64) else voxels.astype(np.int64)


@njit(cache=True)
def _blocked_insert(block_slot, rows_table, voxels, rows, block, n_blocks):
    for i in range(len(voxels)):
        x, y, z = voxels[i, 0], voxels[i, 1], voxels[i, 2]
        slot = block_slot[block_id(voxels, i, n_blocks, block)]
        if rows_table[slot, x % block, y % block, z % block] == -1:  # a voxel already present keeps its row
            rows_table[slot, x % block, y % block, z % block] = rows[i]


@njit(cache=True)
def _blocked_find(block_slot, rows_table, voxels, block, n_blocks):
    side = block * n_blocks
    out = np.full(len(voxels), -1, dtype=np.int64)
    for i in range(len(voxels)):
        x, y, z = voxels[i, 0], voxels[i, 1], voxels[i, 2]
        if x < 0 or y < 0 or z < 0 or x >= side or y >= side or z >= side:
            continue
        slot = block_slot[block_id(voxels, i, n_blocks, block)]
        if slot >= 0:
            out[i] = rows_table[slot, x % block, y % block, z % block]
    return out


class BlockedVoxelSet:
    """:class:`VoxelSet`'s lookups for sets made of whole blocks of voxels (a fill zone: free blocks of the
    flood graph, and parts of wall blocks).

    Two levels instead of a hash: a slot per ``block``³ block of the grid (int32, ``side³ / block³``), and per
    block touched a dense ``block``³ table of rows (int32). A set that fills its blocks costs 4 bytes per
    voxel (a hash table at most half full: 16-32) and a lookup two reads without probing; a sparse set (a
    shell, caps) costs a whole block per voxel and belongs in :class:`VoxelSet`. Voxels outside
    ``[0, side)`` are never members.
    """

    def __init__(self, voxels: np.ndarray, side: int, block: int):
        if side % block:
            raise ValueError(f"side {side} is not a multiple of the block {block}")
        self.side, self.block, self.n_blocks, self.size = side, block, side // block, 0
        self.block_slot = np.full(self.n_blocks**3, -1, dtype=np.int32)
        self.rows = np.full((0, block, block, block), -1, dtype=np.int32)
        self.add(voxels)

    def add(self, voxels: np.ndarray) -> None:
        """Append voxels ``(k, 3)`` in ``[0, side)`` as rows ``size .. size + k - 1`` (a voxel already in the
        set keeps its row)."""
        voxels = integer_voxels(voxels)
        if len(voxels) and (voxels.min() < 0 or voxels.max() >= self.side):
            raise ValueError(f"voxels outside [0, {self.side})")
        if self.size + len(voxels) > np.iinfo(np.int32).max:
            raise ValueError("more than 2**31 rows")
        fresh = np.flatnonzero(blocks_present(voxels, self.n_blocks, self.block) & (self.block_slot < 0))
        if len(fresh):
            start = len(self.rows)
            self.block_slot[fresh] = np.arange(start, start + len(fresh), dtype=np.int32)
            try:  # in place where nothing else holds it (no copy of the old blocks beside the new table)
                self.rows.resize((start + len(fresh),) + self.rows.shape[1:], refcheck=True)
                self.rows[start:] = -1
            except ValueError:
                self.rows = np.concatenate([self.rows, np.full((len(fresh),) + self.rows.shape[1:], -1, np.int32)])
        _blocked_insert(self.block_slot, self.rows, voxels,
                        np.arange(self.size, self.size + len(voxels), dtype=np.int32), self.block, self.n_blocks)
        self.size += len(voxels)

    def find(self, voxels: np.ndarray) -> np.ndarray:
        """Row of each voxel in the set, or -1: ``(k, 3) -> (k,)`` int64."""
        return _blocked_find(self.block_slot, self.rows, integer_voxels(voxels), self.block, self.n_blocks)


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
    return _morton_codes(integer_voxels(coords))


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
