"""The narrow band: exact unsigned distances only near the surface, found coarse to fine.

A block is refined only if its centre's distance minus the block's
half-diagonal is within the band (distance is 1-Lipschitz, so no band voxel
is skipped). Everything else is "far" and never queried.
"""

from __future__ import annotations

import numpy as np

from ..geometry.grid import grid_spacing, index_to_point

#: Refinement schedule of block sizes (voxels per side), coarse to fine.
BLOCK_SIZES = (16, 8, 4, 2, 1)


def block_corners(block_size: int, resolution: int) -> np.ndarray:
    """Lower-corner indices of every block of ``block_size`` voxels covering the grid.

    Returns
    -------
    (b, 3) int64
    """
    starts = np.arange(0, resolution, block_size, dtype=np.int64)
    return np.stack(np.meshgrid(starts, starts, starts, indexing="ij"), axis=-1).reshape(-1, 3)


def split_blocks(corners: np.ndarray, block_size: int, child_size: int, resolution: int) -> np.ndarray:
    """Split blocks into child blocks, dropping children outside the grid.

    Parameters
    ----------
    corners : (b, 3) int64
        Lower corners of blocks of ``block_size``.
    block_size, child_size : int
        ``block_size`` must be a multiple of ``child_size``.

    Returns
    -------
    (c, 3) int64
        Lower corners of the children.
    """
    steps = np.arange(0, block_size, child_size, dtype=np.int64)
    offsets = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    children = (corners[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    return children[(children < resolution).all(axis=1)]


def narrow_band(distance, resolution: int, band: float, block_sizes=BLOCK_SIZES) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact unsigned distances at every grid point closer than ``band`` to the surface.

    Parameters
    ----------
    distance : object with ``unsigned_distance((k, 3) float64) -> (k,) float64``
    resolution : int
    band : float
        In normalised units.
    block_sizes : sequence of int
        Coarse-to-fine block sizes ending in 1; each divides the previous.

    Returns
    -------
    indices : (n, 3) int64
        Grid points with ``udf < band`` (and possibly a few more).
    udf : (n,) float64
        Their exact unsigned distances.
    queries : int
        Total number of distance queries made.
    """
    spacing = grid_spacing(resolution)
    corners = block_corners(block_sizes[0], resolution)
    queries = 0
    for level, size in enumerate(block_sizes):
        centers = corners + (size - 1) / 2.0
        udf = distance.unsigned_distance(index_to_point(centers, resolution))
        queries += len(centers)
        radius = np.sqrt(3.0) * (size - 1) / 2.0 * spacing
        keep = udf - radius < band
        corners, udf = corners[keep], udf[keep]
        if size == 1:
            return corners, udf, queries
        corners = split_blocks(corners, size, block_sizes[level + 1], resolution)
    raise ValueError("block_sizes must end with 1")


def band_width(resolution: int, eps: float) -> float:
    """Distance from the source within which exact distances are needed: ``eps`` plus one voxel.

    Every edge from a shell voxel (``udf < eps``) to a non-shell voxel ends
    closer than this, so it holds every value marching cubes reads; the offset
    projection moves only vertices this close to the source.
    """
    return eps + grid_spacing(resolution)


def band_distances(distance, resolution: int, eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact distances wherever marching cubes or the shell needs them.

    That is every grid point closer than :func:`band_width`. A backend with its
    own band search (``grid_band(resolution, band)``, see
    :class:`~shapeprep.geometry.nearsurface.ExactDistance`) is asked for it;
    any other is searched coarse to fine with :func:`narrow_band`.

    Returns
    -------
    indices : (n, 3) int64
    udf : (n,) float64
    queries : int
        Grid points whose distance was computed.
    """
    band = band_width(resolution, eps)
    if hasattr(distance, "grid_band"):
        return distance.grid_band(resolution, band)
    return narrow_band(distance, resolution, band)
