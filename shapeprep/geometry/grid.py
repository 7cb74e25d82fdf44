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
