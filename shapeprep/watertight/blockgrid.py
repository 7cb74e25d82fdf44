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

import numpy as np
from numba import njit, prange

#: Voxels per block side for the flood-fill graph and the sparse marching cubes.
BLOCK = 8


def blocks_per_axis(resolution: int, block: int = BLOCK) -> int:
    """Blocks per axis that cover the padded grid (``resolution + 2`` voxels)."""
    return -(-(resolution + 2) // block)


def padded(indices: np.ndarray) -> np.ndarray:
    """Grid indices ``(n, 3)`` to padded indices (shifted by one)."""
    return np.asarray(indices, dtype=np.int64) + 1


def linear_block_ids(padded_indices: np.ndarray, n_blocks: int, block: int = BLOCK) -> np.ndarray:
    """Linear id ``(bx * n + by) * n + bz`` of the block holding each padded voxel.

    Parameters
    ----------
    padded_indices : (n, 3) int64
    n_blocks : int
        Blocks per axis.

    Returns
    -------
    (n,) int64
    """
    b = padded_indices // block
    return (b[:, 0] * n_blocks + b[:, 1]) * n_blocks + b[:, 2]


def block_origins(block_ids: np.ndarray, n_blocks: int, block: int = BLOCK) -> np.ndarray:
    """Padded index of the lower corner of each block; ``(k,)`` -> ``(k, 3)`` int64."""
    return np.stack(np.unravel_index(block_ids, (n_blocks,) * 3), axis=1).astype(np.int64) * block


def occupied_slots(ids: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True)`` for ids below ``n_ids``, in linear time.

    A table of ``n_ids`` entries (the blocks of the grid: 2.2M at 1024) replaces
    the sort of millions of voxel ids.

    Returns
    -------
    unique_ids : (k,) int64 sorted
    slot : (n,) int64
        ``unique_ids[slot] == ids``.
    """
    present = np.zeros(n_ids, dtype=bool)
    present[ids] = True
    unique_ids = np.flatnonzero(present)
    rank = np.zeros(n_ids, dtype=np.int64)
    rank[unique_ids] = np.arange(len(unique_ids))
    return unique_ids, rank[ids]


def scatter_into_blocks(
    padded_indices: np.ndarray, values: np.ndarray, n_blocks: int, fill, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """Group voxel values into dense per-block arrays.

    Parameters
    ----------
    padded_indices : (n, 3) int64
    values : (n,) array
    n_blocks : int
    fill : scalar
        Value of voxels not listed.

    Returns
    -------
    block_ids : (k,) int64
        Sorted linear ids of the blocks that hold at least one voxel.
    arrays : (k, block, block, block)
        ``arrays[j][local]`` is the value of the voxel at ``origin(block_ids[j]) + local``.
    """
    ids = linear_block_ids(padded_indices, n_blocks, block)
    block_ids, slot = occupied_slots(ids, n_blocks**3)
    values = np.asarray(values)
    arrays = np.full((len(block_ids), block, block, block), fill, dtype=values.dtype)
    if len(values):
        _scatter(np.ascontiguousarray(padded_indices, dtype=np.int64), values, slot, arrays)
    return block_ids, arrays


@njit(cache=True)
def _scatter(padded_indices, values, slot, arrays):
    # In order, one voxel after the other: a voxel listed twice keeps its last value, as numpy's assignment does.
    block = arrays.shape[1]
    for i in range(padded_indices.shape[0]):
        arrays[slot[i], padded_indices[i, 0] % block, padded_indices[i, 1] % block, padded_indices[i, 2] % block] = values[i]


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
    edges : (e, 2) int64
        Node pairs that touch across a block face.
    outside_node : int
        Node of the padding voxel ``(0, 0, 0)``, which is always exterior.
    """

    n_blocks: int
    block: int
    wall_blocks: np.ndarray
    wall_labels: np.ndarray
    n_wall_nodes: int
    edges: np.ndarray
    outside_node: int

    @property
    def n_nodes(self) -> int:
        return self.n_wall_nodes + 1 + self.n_blocks**3

    def free_block_node(self, block_ids: np.ndarray) -> np.ndarray:
        return self.n_wall_nodes + 1 + np.asarray(block_ids, dtype=np.int64)

    def wall_node_sizes(self) -> np.ndarray:
        """Voxels per node (``(n_nodes,)`` int64); free-block nodes count ``block**3``."""
        sizes = np.full(self.n_nodes, self.block**3, dtype=np.int64)
        sizes[: self.n_wall_nodes + 1] = np.bincount(self.wall_labels.ravel(), minlength=self.n_wall_nodes + 1)
        sizes[0] = 0
        sizes[self.free_block_node(self.wall_blocks)] = 0  # wall blocks are not free-block nodes
        return sizes


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


def build_flood_graph(shell_padded: np.ndarray, resolution: int, block: int = BLOCK) -> FloodGraph:
    """Graph of the free space around a shell.

    Parameters
    ----------
    shell_padded : (n, 3) int64
        Padded indices of shell (wall) voxels.
    resolution : int

    Returns
    -------
    FloodGraph
    """
    from scipy import ndimage

    n_blocks = blocks_per_axis(resolution, block)
    wall_blocks, wall_shell = scatter_into_blocks(shell_padded, np.ones(len(shell_padded), bool), n_blocks, False, block)
    # Label each block on its own: no connectivity along the stacking axis.
    structure = np.zeros((3, 3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(3, 1)
    wall_labels = np.empty(wall_shell.shape, dtype=np.int32)
    n_wall_nodes = int(ndimage.label(~wall_shell, structure=structure, output=wall_labels)) if len(wall_blocks) else 0
    del wall_shell

    slot = np.full((n_blocks,) * 3, -1, dtype=np.int64)
    slot.ravel()[wall_blocks] = np.arange(len(wall_blocks))
    block_id = np.arange(n_blocks**3, dtype=np.int64).reshape((n_blocks,) * 3)
    free_node_base = n_wall_nodes + 1
    edges, lo_slots, hi_slots, lo_nodes, hi_nodes, axes = [], [], [], [], [], []
    for axis in range(3):
        lower = [slice(None)] * 3
        upper = [slice(None)] * 3
        lower[axis] = slice(None, -1)
        upper[axis] = slice(1, None)
        slot_lo, slot_hi = slot[tuple(lower)].ravel(), slot[tuple(upper)].ravel()
        id_lo, id_hi = block_id[tuple(lower)].ravel(), block_id[tuple(upper)].ravel()
        both_free = (slot_lo < 0) & (slot_hi < 0)
        # A free block is one node: two free blocks touch once.
        edges.append(np.stack([id_lo[both_free] + free_node_base, id_hi[both_free] + free_node_base], axis=1))
        walled = ~both_free
        lo_slots.append(slot_lo[walled])
        hi_slots.append(slot_hi[walled])
        lo_nodes.append(id_lo[walled] + free_node_base)
        hi_nodes.append(id_hi[walled] + free_node_base)
        axes.append(np.full(int(walled.sum()), axis, dtype=np.int64))
    del slot_lo, slot_hi, id_lo, id_hi, block_id
    edges.append(wall_face_edges(np.concatenate(lo_slots), np.concatenate(hi_slots), np.concatenate(lo_nodes),
                                 np.concatenate(hi_nodes), np.concatenate(axes), wall_labels))
    edges = np.concatenate(edges).astype(np.int64, copy=False)

    outside = free_node_base + 0 if slot.ravel()[0] < 0 else int(wall_labels[slot.ravel()[0], 0, 0, 0])
    return FloodGraph(n_blocks, block, wall_blocks, wall_labels, n_wall_nodes, edges, int(outside))


def exterior_nodes(graph: FloodGraph, blocked: np.ndarray | None = None) -> np.ndarray:
    """Nodes connected to the outside.

    Parameters
    ----------
    graph : FloodGraph
    blocked : (n_nodes,) bool, optional
        Nodes treated as walls (never exterior, never passed through).

    Returns
    -------
    (n_nodes,) bool
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = graph.edges
    if blocked is not None:
        edges = edges[~(blocked[edges[:, 0]] | blocked[edges[:, 1]])]
    n = graph.n_nodes
    adjacency = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)
    exterior = component == component[graph.outside_node]
    exterior[0] = False
    exterior[graph.free_block_node(graph.wall_blocks)] = False
    if blocked is not None:
        exterior &= ~blocked
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
