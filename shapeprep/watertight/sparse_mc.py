"""Marching cubes over the blocks of a block-sparse grid that hold crossings.

Every cube of the grid belongs to the block of its lower corner, and every
grid edge to the block of its lower end. Each block is given one extra
layer of samples from its upper neighbours, so its cubes and its edges are
all inside it. Two passes over the blocks, in parallel (numba): the first
counts the crossing edges each block owns and the triangles of its cubes;
the second writes the vertices of its edges and its triangles, whose
corners on a neighbour's edges are found by that block's offset and the
edge's rank among its crossing edges (a bit mask per block). The output is
one indexed mesh without a merge: what dense marching cubes produces.

The triangulation of each of the 256 cube cases is PyMCubes's, read off the
library by meshing one cube per case (:func:`case_table`): the triangles
and their winding are PyMCubes's, cube for cube and in its order.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange

#: Cube corner ``c`` is at offset ``(c & 1, (c >> 1) & 1, (c >> 2) & 1)``.
CORNERS = np.array([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)], dtype=np.int64)
#: Cube edge ``e``: axis ``e // 4`` from the corner at ``EDGE_START[e]`` (offsets of the lower end).
EDGE_START = np.array(
    [[0, (e >> 0) & 1, (e >> 1) & 1] if e // 4 == 0 else [(e >> 0) & 1, 0, (e >> 1) & 1] if e // 4 == 1
     else [(e >> 0) & 1, (e >> 1) & 1, 0] for e in range(12)], dtype=np.int64)
EDGE_AXIS = np.arange(12, dtype=np.int64) // 4


@lru_cache(maxsize=1)
def case_table() -> tuple[np.ndarray, np.ndarray]:
    """PyMCubes's triangles per cube case, as cube edges.

    A corner is inside (its bit set in the case index) when its value is at
    most the iso value, as in PyMCubes.

    Returns
    -------
    triangles : (256, 5, 3) int64
        Cube edges (see :data:`EDGE_START`) of each triangle, PyMCubes's order and winding.
    counts : (256,) int64
        Triangles per case.
    """
    import mcubes

    edge_of = {}
    for e in range(12):
        point = EDGE_START[e].astype(float)
        point[EDGE_AXIS[e]] += 0.5
        edge_of[tuple(point)] = e
    triangles = np.zeros((256, 5, 3), dtype=np.int64)
    counts = np.zeros(256, dtype=np.int64)
    for case in range(256):
        cube = np.ones((2, 2, 2))
        for c in range(8):
            if case >> c & 1:
                cube[tuple(CORNERS[c])] = -1.0
        vertices, faces = mcubes.marching_cubes(cube, 0.0)
        edges = np.array([edge_of[tuple(np.round(v, 6))] for v in vertices], dtype=np.int64)
        counts[case] = len(faces)
        triangles[case, : len(faces)] = edges[np.asarray(faces, dtype=np.int64)]
    return triangles, counts


@njit(cache=True, inline="always")
def _popcount(word):
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + ((word >> np.uint64(2)) & np.uint64(0x3333333333333333))
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def _load_padded(values, bx, by, bz, slot_grid, store, block):
    """``values[:]`` = the block's samples and one layer of its upper neighbours'."""
    for i in range(block + 1):
        for j in range(block + 1):
            for k in range(block + 1):
                slot = slot_grid[bx + i // block, by + j // block, bz + k // block]
                values[i, j, k] = store[slot, i % block, j % block, k % block]


@njit(cache=True, inline="always")
def _cube_case(values, i, j, k, corners):
    case = 0
    for c in range(8):
        if values[i + corners[c, 0], j + corners[c, 1], k + corners[c, 2]] <= 0.0:
            case |= 1 << c
    return case


@njit(cache=True, parallel=True)
def _count(block_ids, n_blocks, slot_grid, store, corners, tri_counts, masks, vertex_counts, triangle_counts):
    block = store.shape[1]
    for b in prange(block_ids.shape[0]):
        bx, rest = divmod(block_ids[b], n_blocks * n_blocks)
        by, bz = divmod(rest, n_blocks)
        values = np.empty((block + 1, block + 1, block + 1), dtype=np.float32)
        _load_padded(values, bx, by, bz, slot_grid, store, block)
        n_vertices, n_triangles = 0, 0
        for i in range(block):
            for j in range(block):
                for k in range(block):
                    inside = values[i, j, k] <= 0.0
                    for axis in range(3):
                        other = values[i + (axis == 0), j + (axis == 1), k + (axis == 2)] <= 0.0
                        if inside != other:
                            bit = ((i * block + j) * block + k) * 3 + axis
                            masks[b, bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
                            n_vertices += 1
                    n_triangles += tri_counts[_cube_case(values, i, j, k, corners)]
        vertex_counts[b] = n_vertices
        triangle_counts[b] = n_triangles


@njit(cache=True, parallel=True)
def _emit(block_ids, n_blocks, slot_grid, store, corners, tri_table, tri_counts, edge_start, edge_axis, masks, ranks,
          block_index, vertex_offsets, triangle_offsets, vertices, faces, missing):
    block = store.shape[1]
    for b in prange(block_ids.shape[0]):
        if vertex_offsets[b + 1] == vertex_offsets[b] and triangle_offsets[b + 1] == triangle_offsets[b]:
            continue
        bx, rest = divmod(block_ids[b], n_blocks * n_blocks)
        by, bz = divmod(rest, n_blocks)
        values = np.empty((block + 1, block + 1, block + 1), dtype=np.float32)
        _load_padded(values, bx, by, bz, slot_grid, store, block)
        row = vertex_offsets[b]
        for i in range(block):  # the block's own crossing edges, in bit order
            for j in range(block):
                for k in range(block):
                    for axis in range(3):
                        bit = ((i * block + j) * block + k) * 3 + axis
                        if masks[b, bit >> 6] >> np.uint64(bit & 63) & np.uint64(1):
                            f1 = np.float64(values[i, j, k])
                            f2 = np.float64(values[i + (axis == 0), j + (axis == 1), k + (axis == 2)])
                            vertices[row, 0] = bx * block + i
                            vertices[row, 1] = by * block + j
                            vertices[row, 2] = bz * block + k
                            vertices[row, axis] += (0.0 - f1) / (f2 - f1)
                            row += 1
        row = triangle_offsets[b]
        for i in range(block):  # cubes in PyMCubes's order: x, then y, then z
            for j in range(block):
                for k in range(block):
                    case = _cube_case(values, i, j, k, corners)
                    for t in range(tri_counts[case]):
                        for c in range(3):
                            e = tri_table[case, t, c]
                            li, lj, lk = i + edge_start[e, 0], j + edge_start[e, 1], k + edge_start[e, 2]
                            owner = block_index[bx + li // block, by + lj // block, bz + lk // block]
                            if owner < 0:
                                missing[0] = True
                                faces[row, c] = -1
                                continue
                            bit = (((li % block) * block + lj % block) * block + lk % block) * 3 + edge_axis[e]
                            word = bit >> 6
                            below = masks[owner, word] & ((np.uint64(1) << np.uint64(bit & 63)) - np.uint64(1))
                            faces[row, c] = vertex_offsets[owner] + ranks[owner, word] + _popcount(below)
                        row += 1


@njit(cache=True, parallel=True)
def _word_ranks(masks):
    ranks = np.zeros(masks.shape, dtype=np.int64)
    for b in prange(masks.shape[0]):
        total = 0
        for w in range(masks.shape[1]):
            ranks[b, w] = total
            total += _popcount(masks[b, w])
    return ranks


def sparse_marching_cubes(
    block_ids: np.ndarray,
    slot_grid: np.ndarray,
    store: np.ndarray,
    block: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Zero level set of a block-sparse field.

    Parameters
    ----------
    block_ids : (k,) int64
        Sorted linear ids of the blocks whose cubes may hold crossings (the
        others are skipped); every block with a sign change among its samples
        and its upper neighbours' first layer must be listed.
    slot_grid : (n + 1, n + 1, n + 1) int64
        Row of ``store`` holding each block's values; the extra layer points
        at a constant exterior row.
    store : (s, b, b, b) float32
    block : int
        ``b``.

    Returns
    -------
    vertices : (n, 3) float64
        Padded grid-index coordinates.
    faces : (m, 3) int64
        As PyMCubes winds them (inward for an inside-negative field).
    blocks_meshed : int
    """
    n_blocks = slot_grid.shape[0] - 1
    block_ids = np.ascontiguousarray(block_ids, dtype=np.int64)
    store = np.ascontiguousarray(store, dtype=np.float32)
    assert store.shape[1] == block
    tri_table, tri_counts = case_table()
    words = -(-(block**3 * 3) // 64)
    masks = np.zeros((len(block_ids), words), dtype=np.uint64)
    vertex_counts = np.zeros(len(block_ids), dtype=np.int64)
    triangle_counts = np.zeros(len(block_ids), dtype=np.int64)
    if len(block_ids):
        _count(block_ids, n_blocks, slot_grid, store, CORNERS, tri_counts, masks, vertex_counts, triangle_counts)
    vertex_offsets = np.concatenate([[0], np.cumsum(vertex_counts)])
    triangle_offsets = np.concatenate([[0], np.cumsum(triangle_counts)])
    vertices = np.empty((vertex_offsets[-1], 3), dtype=np.float64)
    faces = np.empty((triangle_offsets[-1], 3), dtype=np.int64)
    meshed = int(((vertex_counts > 0) | (triangle_counts > 0)).sum())
    if len(faces) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), meshed
    block_index = np.full((n_blocks + 1,) * 3, -1, dtype=np.int64)
    block_index.reshape(-1)[np.ravel_multi_index(np.unravel_index(block_ids, (n_blocks,) * 3), (n_blocks + 1,) * 3)] = \
        np.arange(len(block_ids))
    missing = np.zeros(1, dtype=bool)
    _emit(block_ids, n_blocks, slot_grid, store, CORNERS, tri_table, tri_counts, EDGE_START, EDGE_AXIS, masks,
          _word_ranks(masks), block_index, vertex_offsets, triangle_offsets, vertices, faces, missing)
    if missing[0]:
        raise ValueError("a crossing edge belongs to a block that was not listed in block_ids")
    return vertices, faces, meshed
