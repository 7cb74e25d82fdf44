"""Marching cubes over the blocks of a block-sparse grid that hold crossings.

Each block is given one extra layer of samples on its upper faces so that
every cube of the grid belongs to exactly one block. The padded blocks are
stacked along x with a positive separator slice between them and passed to
PyMCubes in batches; triangles from the cubes that straddle two stacked
blocks (they always have a vertex strictly between a block's last slice and
the separator) are dropped. Vertices are then merged across blocks by the
grid edge they lie on, so the output is one indexed mesh, exactly as dense
marching cubes would produce it.
"""

from __future__ import annotations

import numpy as np

from .blockgrid import block_origins


def gather_padded_blocks(block_ids: np.ndarray, slot_grid: np.ndarray, store: np.ndarray) -> np.ndarray:
    """Block values with one extra layer from the upper neighbours.

    Parameters
    ----------
    block_ids : (k,) int64
        Linear ids on a grid of ``n`` blocks per axis.
    slot_grid : (n + 1, n + 1, n + 1) int64
        Row of ``store`` holding each block's values; the extra layer points
        at a constant exterior row.
    store : (s, b, b, b) float32

    Returns
    -------
    (k, b + 1, b + 1, b + 1) float32
    """
    n = slot_grid.shape[0] - 1
    size = store.shape[1]
    coords = np.stack(np.unravel_index(block_ids, (n,) * 3), axis=1)
    out = np.empty((len(block_ids), size + 1, size + 1, size + 1), dtype=store.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                slots = slot_grid[coords[:, 0] + dx, coords[:, 1] + dy, coords[:, 2] + dz]
                source = tuple(slice(0, size) if d == 0 else slice(0, 1) for d in (dx, dy, dz))
                target = tuple(slice(0, size) if d == 0 else slice(size, size + 1) for d in (dx, dy, dz))
                out[(slice(None),) + target] = store[(slots,) + source]
    return out


def has_crossing(padded_blocks: np.ndarray) -> np.ndarray:
    """Which padded blocks hold both signs: ``(k, ...)`` -> ``(k,)`` bool."""
    flat = padded_blocks.reshape(len(padded_blocks), -1)
    return (flat.min(axis=1) < 0) & (flat.max(axis=1) > 0)


def _batch_marching_cubes(padded_blocks: np.ndarray, origins: np.ndarray, separator: float):
    import mcubes

    count, side = padded_blocks.shape[0], padded_blocks.shape[1]
    stride = side + 1
    atlas = np.full((count, stride, side, side), separator, dtype=np.float32)
    atlas[:, :side] = padded_blocks
    vertices, triangles = mcubes.marching_cubes(atlas.reshape(count * stride, side, side), 0.0)
    if len(triangles) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    chunk = np.floor(vertices[:, 0] / stride).astype(np.int64)
    local_x = vertices[:, 0] - chunk * stride
    inside = local_x <= side - 1
    triangles = np.asarray(triangles, dtype=np.int64)
    triangles = triangles[inside[triangles].all(axis=1)]
    used = np.zeros(len(vertices), dtype=bool)
    used[triangles.ravel()] = True
    renumber = np.cumsum(used) - 1  # np.unique's numbering, without its sort
    global_vertices = np.column_stack([local_x, vertices[:, 1], vertices[:, 2]])[used] + origins[chunk[used]]
    return global_vertices, renumber[triangles]


def merge_edge_vertices(vertices: np.ndarray, faces: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge marching-cubes vertices that lie on the same grid edge.

    Parameters
    ----------
    vertices : (n, 3) float64
        Grid-index coordinates; each lies strictly inside one axis-aligned
        grid edge.
    faces : (m, 3) int64
    grid_size : int
        Points per axis (for the edge key).

    Returns
    -------
    vertices : (k, 3) float64
    faces : (m, 3) int64
    """
    lower = np.floor(vertices)
    axis = np.argmax(vertices - lower, axis=1)
    lower = lower.astype(np.int64)
    keys = ((lower[:, 0] * grid_size + lower[:, 1]) * grid_size + lower[:, 2]) * 3 + axis
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return vertices[first], inverse.reshape(-1)[faces]


def sparse_marching_cubes(
    block_ids: np.ndarray,
    slot_grid: np.ndarray,
    store: np.ndarray,
    block: int,
    separator: float,
    batch_blocks: int = 8192,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Zero level set of a block-sparse field.

    Parameters
    ----------
    block_ids : (k,) int64
        Blocks whose cubes may hold crossings (the others are skipped).
    slot_grid, store : see :func:`gather_padded_blocks`
    block : int
    separator : float
        A positive value (the field's exterior value).
    batch_blocks : int
        Blocks per PyMCubes call (bounds the temporary atlas).

    Returns
    -------
    vertices : (n, 3) float64
        Padded grid-index coordinates.
    faces : (m, 3) int64
        As PyMCubes winds them (inward for an inside-negative field).
    blocks_meshed : int
    """
    n_blocks = slot_grid.shape[0] - 1
    all_vertices, all_faces, offset, meshed = [], [], 0, 0
    for start in range(0, len(block_ids), batch_blocks):
        ids = block_ids[start : start + batch_blocks]
        padded_blocks = gather_padded_blocks(ids, slot_grid, store)
        crossing = has_crossing(padded_blocks)
        if not crossing.any():
            continue
        meshed += int(crossing.sum())
        origins = block_origins(ids[crossing], n_blocks, block).astype(np.float64)
        vertices, faces = _batch_marching_cubes(padded_blocks[crossing], origins, separator)
        all_vertices.append(vertices)
        all_faces.append(faces + offset)
        offset += len(vertices)
    if not all_faces:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), meshed
    vertices, faces = merge_edge_vertices(np.concatenate(all_vertices), np.concatenate(all_faces), n_blocks * block + 1)
    return vertices, faces, meshed
