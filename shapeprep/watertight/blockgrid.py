"""Block-sparse voxel grids and a memory-lean flood fill over them.

The grid of ``resolution`` points per axis is padded by one voxel on every
side (padded index ``g = i + 1``) and cut into cubic blocks of ``block``
voxels. A block that holds no shell voxel ("free" block) is internally
6-connected, so it is one node of the flood-fill graph. Inside a block that
holds shell voxels ("wall" block) every 6-connected run of free voxels is a
node. Nodes are joined across block faces and the connected component of the
padding layer is the exterior. Memory is one byte per voxel of the wall
blocks plus a few bytes per block, instead of a dense label grid (4 bytes per
voxel for ``scipy.ndimage.label``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit, prange

from ..geometry.grid import block_id, blocks_present, integer_voxels

#: Voxels per block side for the flood-fill graph and the sparse marching cubes.
BLOCK = 8


def blocks_per_axis(resolution: int, block: int = BLOCK) -> int:
    """Blocks per axis that cover the padded grid (``resolution + 2`` voxels)."""
    return -(-(resolution + 2) // block)


def padded(indices: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Grid indices ``(n, 3)`` to padded indices (shifted by one), int32 or int64 as given (other integers
    become int64); ``in_place``: shift such an array itself."""
    indices = integer_voxels(indices)
    if in_place and indices.flags.writeable:
        indices += 1
        return indices
    return indices + 1


def linear_block_ids(padded_indices: np.ndarray, n_blocks: int, block: int = BLOCK) -> np.ndarray:
    """Linear id ``(bx * n + by) * n + bz`` of the block holding each padded voxel.

    Parameters
    ----------
    padded_indices : (n, 3) int32 or int64
    n_blocks : int
        Blocks per axis.

    Returns
    -------
    (n,) int64
    """
    return _linear_block_ids(integer_voxels(padded_indices), n_blocks, block)


@njit(cache=True)
def _linear_block_ids(padded_indices, n_blocks, block):
    # Serial: memory-bound, and called often on small arrays (a thread pool's start costs more there).
    out = np.empty(padded_indices.shape[0], np.int64)
    for i in range(padded_indices.shape[0]):
        out[i] = block_id(padded_indices, i, n_blocks, block)
    return out


def block_origins(block_ids: np.ndarray, n_blocks: int, block: int = BLOCK) -> np.ndarray:
    """Padded index of the lower corner of each block; ``(k,)`` -> ``(k, 3)`` int64."""
    return np.stack(np.unravel_index(block_ids, (n_blocks,) * 3), axis=1).astype(np.int64) * block


def scatter_into_blocks(
    padded_indices: np.ndarray, values: np.ndarray, n_blocks: int, fill, block: int = BLOCK, spare: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Group voxel values into dense per-block arrays.

    Parameters
    ----------
    padded_indices : (n, 3) int32 or int64
    values : (n,) array
    n_blocks : int
    fill : scalar
        Value of voxels not listed.
    spare : int
        Extra blocks after the occupied ones, all ``fill`` (room for constant blocks without a copy).

    Returns
    -------
    block_ids : (k,) int64
        Sorted linear ids of the blocks that hold at least one voxel.
    arrays : (k + spare, block, block, block)
        ``arrays[j][local]`` is the value of the voxel at ``origin(block_ids[j]) + local``.
    """
    # Block ids are computed on the fly against a table of the grid's blocks (2.2M at 1024), not stored per
    # voxel: two int64 arrays per band voxel were a gigabyte of transient memory at 1024.
    padded_indices = integer_voxels(padded_indices)
    present = blocks_present(padded_indices, n_blocks, block)
    block_ids = np.flatnonzero(present)
    rank = np.zeros(n_blocks**3, dtype=np.int64)
    rank[block_ids] = np.arange(len(block_ids))
    values = np.asarray(values)
    arrays = np.full((len(block_ids) + spare, block, block, block), fill, dtype=values.dtype)
    if len(values):
        _scatter(padded_indices, values, rank, n_blocks, arrays)
    return block_ids, arrays


@njit(cache=True)
def _scatter(padded_indices, values, rank, n_blocks, arrays):
    # In order, one voxel after the other: a voxel listed twice keeps its last value, as numpy's assignment does.
    block = arrays.shape[1]
    for i in range(padded_indices.shape[0]):
        x, y, z = padded_indices[i, 0] % block, padded_indices[i, 1] % block, padded_indices[i, 2] % block
        arrays[rank[block_id(padded_indices, i, n_blocks, block)], x, y, z] = values[i]


@dataclass
class FloodGraph:
    """Flood-fill graph of a shell over a block-sparse grid.

    Node ids: ``1 .. n_wall_nodes`` are free-voxel runs inside wall blocks
    (``wall_labels`` holds them, 0 at shell voxels); free block ``b`` is node
    ``n_wall_nodes + 1 + b``. Node 0 is unused.

    Attributes
    ----------
    n_blocks : int
    block : int
    wall_blocks : (w,) int64
        Sorted linear ids of blocks holding shell voxels.
    wall_labels : (w, block, block, block) int32
    n_wall_nodes : int
    wall_edges : (e, 2) int64
        Node pairs with a wall node that touch across a block face.
    outside_node : int
        Node of the padding voxel ``(0, 0, 0)``, which is always exterior.
    """

    n_blocks: int
    block: int
    wall_blocks: np.ndarray
    wall_labels: np.ndarray
    n_wall_nodes: int
    wall_edges: np.ndarray
    outside_node: int

    @cached_property
    def edges(self) -> np.ndarray:
        """``(E, 2)`` int64: every pair of nodes touching across a block face (free-block pairs, then
        :attr:`wall_edges`); built on first use (the flood fill itself labels the free blocks as a grid)."""
        n = self.n_blocks
        free = np.ones(n**3, dtype=bool)
        free[self.wall_blocks] = False
        ids = np.arange(n**3, dtype=np.int64).reshape((n,) * 3)
        pairs = [self.wall_edges]
        for axis in range(3):
            lower = [slice(None)] * 3
            lower[axis] = slice(None, -1)
            lo = ids[tuple(lower)].ravel()
            hi = lo + n ** (2 - axis)
            both = free[lo] & free[hi]
            pairs.insert(axis, np.stack([lo[both], hi[both]], axis=1) + self.n_wall_nodes + 1)
        return np.concatenate(pairs)

    @property
    def n_nodes(self) -> int:
        return self.n_wall_nodes + 1 + self.n_blocks**3

    def free_block_node(self, block_ids: np.ndarray) -> np.ndarray:
        return self.n_wall_nodes + 1 + np.asarray(block_ids, dtype=np.int64)

    def wall_node_sizes(self) -> np.ndarray:
        """Voxels per node (``(n_nodes,)`` int64); free-block nodes count ``block**3``."""
        sizes = np.full(self.n_nodes, self.block**3, dtype=np.int64)
        sizes[: self.n_wall_nodes + 1] = _run_sizes(self.wall_labels, self.n_wall_nodes)
        sizes[0] = 0
        sizes[self.free_block_node(self.wall_blocks)] = 0  # wall blocks are not free-block nodes
        return sizes

    def is_shell(self, padded_indices: np.ndarray) -> np.ndarray:
        """Whether each padded voxel ``(k, 3)`` is a shell voxel (label 0 of a wall block): ``(k,)`` bool.

        Two reads per voxel against a slot per grid block (int32, 2.2M at 1024), where a hash table of the
        shell's voxels was a quarter GB at 1024. Voxels outside the grid are not shell.
        """
        return _shell_at(self._wall_slot, self.wall_labels, integer_voxels(padded_indices), self.n_blocks, self.block)

    @cached_property
    def _wall_slot(self) -> np.ndarray:
        """``(n_blocks**3,)`` int32: each grid block's row in :attr:`wall_labels`, -1 for a free block."""
        wall_slot = np.full(self.n_blocks**3, -1, dtype=np.int32)
        wall_slot[self.wall_blocks] = np.arange(len(self.wall_blocks), dtype=np.int32)
        return wall_slot


@njit(cache=True)
def _shell_at(wall_slot, wall_labels, voxels, n_blocks, block):
    side = n_blocks * block
    out = np.zeros(len(voxels), np.bool_)
    for i in range(len(voxels)):
        x, y, z = voxels[i, 0], voxels[i, 1], voxels[i, 2]
        if x < 0 or y < 0 or z < 0 or x >= side or y >= side or z >= side:
            continue
        slot = wall_slot[block_id(voxels, i, n_blocks, block)]
        out[i] = slot >= 0 and wall_labels[slot, x % block, y % block, z % block] == 0
    return out


@njit(cache=True, inline="always")
def _face_node(labels, slot, free_node, axis, layer, u, v):
    """Node of voxel ``(u, v)`` of layer ``layer`` across ``axis`` of a block (``slot`` < 0: a free block)."""
    if slot < 0:
        return np.int64(free_node)
    if axis == 0:
        return np.int64(labels[slot, layer, u, v])
    if axis == 1:
        return np.int64(labels[slot, u, layer, v])
    return np.int64(labels[slot, u, v, layer])


@njit(cache=True, inline="always")
def _face_pairs(labels, lo_slot, hi_slot, lo_node, hi_node, axis, out, start):
    """Distinct node pairs touching across one block face, written at ``out[start:]``; returns their number."""
    block = labels.shape[1]
    count = 0
    for u in range(block):
        for v in range(block):
            a = _face_node(labels, lo_slot, lo_node, axis, block - 1, u, v)
            b = _face_node(labels, hi_slot, hi_node, axis, 0, u, v)
            if a == 0 or b == 0:  # a shell voxel on either side
                continue
            seen = False
            for k in range(count - 1, -1, -1):  # runs repeat the last pair: search backwards
                if out[start + k, 0] == a and out[start + k, 1] == b:
                    seen = True
                    break
            if not seen:
                out[start + count, 0] = a
                out[start + count, 1] = b
                count += 1
    return count


@njit(cache=True, parallel=True)
def _wall_face_edges(lo_slots, hi_slots, lo_nodes, hi_nodes, axes, labels):
    n = lo_slots.shape[0]
    block = labels.shape[1]
    counts = np.zeros(n + 1, dtype=np.int64)
    for p in prange(n):
        scratch = np.empty((block * block, 2), dtype=np.int64)
        counts[p + 1] = _face_pairs(labels, lo_slots[p], hi_slots[p], lo_nodes[p], hi_nodes[p], axes[p], scratch, 0)
    starts = np.cumsum(counts)
    out = np.empty((starts[n], 2), dtype=np.int64)
    for p in prange(n):
        _face_pairs(labels, lo_slots[p], hi_slots[p], lo_nodes[p], hi_nodes[p], axes[p], out, starts[p])
    return out


def wall_face_edges(
    lo_slots: np.ndarray, hi_slots: np.ndarray, lo_nodes: np.ndarray, hi_nodes: np.ndarray, axes: np.ndarray,
    wall_labels: np.ndarray,
) -> np.ndarray:
    """Edges between nodes touching across the faces of block pairs with at least one wall block.

    Parameters
    ----------
    lo_slots, hi_slots : (p,) int64
        Row of ``wall_labels`` of the lower and upper block of each pair along
        its axis; -1 for a free block.
    lo_nodes, hi_nodes : (p,) int64
        Node of each block when it is free.
    axes : (p,) int64
    wall_labels : (w, b, b, b) int32
        Node of every free voxel of the wall blocks, 0 at shell voxels.

    Returns
    -------
    (e, 2) int64
        Each touching pair once (a face's voxels repeat the same pair; no pair
        touches across two faces, so the edges are distinct).
    """
    if len(lo_slots) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return _wall_face_edges(lo_slots, hi_slots, lo_nodes, hi_nodes, axes, wall_labels)


@njit(cache=True, parallel=True)
def _label_blocks(shell, labels, counts):
    size = shell.shape[1]
    for b in prange(shell.shape[0]):
        stack = np.empty(size * size * size, np.int64)
        found = 0
        for start in range(size * size * size):  # raster order: components numbered by their first voxel
            i0, rest = divmod(start, size * size)
            j0, k0 = divmod(rest, size)
            if shell[b, i0, j0, k0] or labels[b, i0, j0, k0] != 0:
                continue
            found += 1
            labels[b, i0, j0, k0] = found
            stack[0] = start
            top = 1
            while top > 0:
                top -= 1
                i, rest = divmod(stack[top], size * size)
                j, k = divmod(rest, size)
                for axis in range(3):
                    for step in (-1, 1):
                        ni, nj, nk = i + step * (axis == 0), j + step * (axis == 1), k + step * (axis == 2)
                        if 0 <= ni < size and 0 <= nj < size and 0 <= nk < size and not shell[b, ni, nj, nk] \
                                and labels[b, ni, nj, nk] == 0:
                            labels[b, ni, nj, nk] = found
                            stack[top] = (ni * size + nj) * size + nk
                            top += 1
        counts[b] = found


@njit(cache=True, parallel=True)
def _offset_labels(labels, offsets):
    for b in prange(labels.shape[0]):
        flat = labels[b].ravel()
        for v in range(flat.shape[0]):
            if flat[v] != 0:
                flat[v] += offsets[b]


@njit(cache=True, parallel=True)
def _run_sizes(labels, n_runs):
    """Voxels per run label (``(n_runs + 1,)`` int64, 0 for the shell label 0): ``np.bincount`` of ``labels``
    without its int64 copy of every voxel, block by block in parallel (each block's runs have their own labels,
    so no two threads count the same one)."""
    sizes = np.zeros(n_runs + 1, np.int64)
    for b in prange(labels.shape[0]):
        flat = labels[b].ravel()
        for v in range(flat.shape[0]):
            if flat[v] != 0:
                sizes[flat[v]] += 1
    return sizes


def label_free_runs(shell: np.ndarray) -> tuple[np.ndarray, int]:
    """6-connected runs of free voxels inside each block, numbered across blocks.

    Parameters
    ----------
    shell : (w, b, b, b) bool
        Shell voxels of each wall block.

    Returns
    -------
    labels : (w, b, b, b) int32
        0 at shell voxels; runs numbered from 1, block after block, each
        block's in the raster order of their first voxel (what
        ``scipy.ndimage.label`` gives with no connectivity across blocks).
    count : int
    """
    labels = np.zeros(shell.shape, dtype=np.int32)
    if len(shell) == 0:
        return labels, 0
    counts = np.zeros(len(shell), dtype=np.int64)
    _label_blocks(np.ascontiguousarray(shell), labels, counts)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    _offset_labels(labels, offsets)
    return labels, int(counts.sum())


def build_flood_graph(shell_padded: np.ndarray, resolution: int, block: int = BLOCK) -> FloodGraph:
    """Graph of the free space around a shell.

    Parameters
    ----------
    shell_padded : (n, 3) int32 or int64
        Padded indices of shell (wall) voxels.
    resolution : int

    Returns
    -------
    FloodGraph
    """
    n_blocks = blocks_per_axis(resolution, block)
    wall_blocks, wall_shell = scatter_into_blocks(shell_padded, np.ones(len(shell_padded), bool), n_blocks, False, block)
    wall_labels, n_wall_nodes = label_free_runs(wall_shell)
    del wall_shell
    return _graph_of_labels(wall_blocks, wall_labels, n_wall_nodes, n_blocks, block)


def with_walls(graph: FloodGraph, walls_padded: np.ndarray) -> FloodGraph:
    """The flood graph of ``graph``'s shell and more wall voxels ``(k, 3)`` (padded indices).

    Equal to :func:`build_flood_graph` of the concatenated voxels, built from ``graph``'s blocks (their shell
    voxels are its label 0) instead of scattering the whole shell again: no copy of the shell's voxels (a
    quarter GB at 1024) and no second pass over them.
    """
    block, n_blocks = graph.block, graph.n_blocks
    new_blocks, new_shell = scatter_into_blocks(walls_padded, np.ones(len(walls_padded), bool), n_blocks, False, block)
    wall_blocks = np.union1d(graph.wall_blocks, new_blocks)
    wall_shell = np.zeros((len(wall_blocks), block, block, block), dtype=bool)
    wall_shell[np.searchsorted(wall_blocks, graph.wall_blocks)] = graph.wall_labels == 0
    wall_shell[np.searchsorted(wall_blocks, new_blocks)] |= new_shell
    new_shell = None
    wall_labels, n_wall_nodes = label_free_runs(wall_shell)
    del wall_shell
    return _graph_of_labels(wall_blocks, wall_labels, n_wall_nodes, n_blocks, block)


def _graph_of_labels(wall_blocks: np.ndarray, wall_labels: np.ndarray, n_wall_nodes: int, n_blocks: int,
                     block: int) -> FloodGraph:
    """The flood graph of wall blocks ``(w,)`` (sorted ids) and their free runs (:func:`label_free_runs`)."""
    free_node_base = n_wall_nodes + 1
    slot = np.full(n_blocks**3, -1, dtype=np.int64)
    slot[wall_blocks] = np.arange(len(wall_blocks))
    coords = np.stack(np.unravel_index(wall_blocks, (n_blocks,) * 3), axis=1)
    lo_blocks, hi_blocks, axes = [], [], []
    for axis in range(3):  # block pairs along each axis with a wall block on either side, each once
        step = n_blocks ** (2 - axis)
        has_upper = coords[:, axis] < n_blocks - 1
        lo_blocks.append(wall_blocks[has_upper])
        hi_blocks.append(wall_blocks[has_upper] + step)
        lower = wall_blocks[coords[:, axis] > 0] - step
        free_lower = slot[lower] < 0  # a wall block below was counted as the lower of this pair
        lo_blocks.append(lower[free_lower])
        hi_blocks.append(lower[free_lower] + step)
        axes.append(np.full(int(has_upper.sum()) + int(free_lower.sum()), axis, dtype=np.int64))
    lo_blocks, hi_blocks = np.concatenate(lo_blocks), np.concatenate(hi_blocks)
    wall_edges = wall_face_edges(slot[lo_blocks], slot[hi_blocks], lo_blocks + free_node_base,
                                 hi_blocks + free_node_base, np.concatenate(axes), wall_labels)

    outside = free_node_base + 0 if slot[0] < 0 else int(wall_labels[slot[0], 0, 0, 0])
    return FloodGraph(n_blocks, block, wall_blocks, wall_labels, n_wall_nodes, wall_edges, int(outside))


def exterior_nodes(graph: FloodGraph, blocked: np.ndarray | None = None) -> np.ndarray:
    """Nodes connected to the outside.

    The free blocks are labelled as one grid (``scipy.ndimage.label``, 6-connected:
    exactly the free-block edges), so that the graph left to search holds the
    wall nodes and one node per component of free blocks.

    Parameters
    ----------
    graph : FloodGraph
    blocked : (n_nodes,) bool, optional
        Nodes treated as walls (never exterior, never passed through).

    Returns
    -------
    (n_nodes,) bool
    """
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    base = graph.n_wall_nodes + 1
    free = np.ones(graph.n_blocks**3, dtype=bool)
    free[graph.wall_blocks] = False
    if blocked is not None:
        free &= ~blocked[base:]
    component, n_components = ndimage.label(free.reshape((graph.n_blocks,) * 3))
    component = component.ravel().astype(np.int64)
    edges = graph.wall_edges
    if blocked is not None:
        edges = edges[~(blocked[edges[:, 0]] | blocked[edges[:, 1]])]

    def compact(nodes):  # wall node k -> k; free block -> n_wall_nodes + its component (>= 1)
        nodes = np.asarray(nodes, dtype=np.int64)
        return np.where(nodes >= base, graph.n_wall_nodes + component[np.maximum(nodes - base, 0)], nodes)

    n = base + n_components
    small = compact(edges)
    adjacency = coo_matrix((np.ones(len(small), dtype=np.int8), (small[:, 0], small[:, 1])), shape=(n, n))
    _, label = connected_components(adjacency, directed=False)
    outside = compact([graph.outside_node])[0]
    reached = label == label[outside]
    exterior = np.zeros(graph.n_nodes, dtype=bool)
    exterior[1:base] = reached[1:base]
    exterior[base:] = (component > 0) & reached[np.where(component > 0, graph.n_wall_nodes + component, 0)]
    if blocked is not None:
        exterior &= ~blocked
    exterior[0] = False
    return exterior


def node_representatives(graph: FloodGraph, nodes: np.ndarray) -> np.ndarray:
    """One padded voxel index inside each node (first in raster order for wall nodes,
    the block centre for free blocks).

    Parameters
    ----------
    nodes : (k,) int64

    Returns
    -------
    (k, 3) float64
        Padded (fractional for block centres) voxel coordinates.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    out = np.empty((len(nodes), 3), dtype=np.float64)
    is_wall = nodes <= graph.n_wall_nodes
    free = nodes[~is_wall] - graph.n_wall_nodes - 1
    out[~is_wall] = block_origins(free, graph.n_blocks, graph.block) + (graph.block - 1) / 2.0
    if is_wall.any():
        flat = graph.wall_labels.ravel()
        first = np.full(graph.n_wall_nodes + 1, flat.size, dtype=np.int64)
        np.minimum.at(first, flat, np.arange(flat.size, dtype=np.int64))
        position = first[nodes[is_wall]]
        slot, local = np.divmod(position, graph.block**3)
        local_xyz = np.stack(np.unravel_index(local, (graph.block,) * 3), axis=1)
        out[is_wall] = block_origins(graph.wall_blocks[slot], graph.n_blocks, graph.block) + local_xyz
    return out
