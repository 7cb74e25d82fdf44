"""The dense flood fill that the block-sparse one replaces: the reference tests and benchmarks compare against.

Not used by the build (a dense label grid is 4 bytes per voxel: 4 GB at 1024).
"""

from __future__ import annotations

import numpy as np


def exterior_mask(shell: np.ndarray) -> np.ndarray:
    """Voxels reachable from the grid boundary without crossing the shell.

    Parameters
    ----------
    shell : (r, r, r) bool
        True where a voxel is a wall.

    Returns
    -------
    (r, r, r) bool
        True on the exterior (6-connected flood fill from every boundary voxel).
    """
    from scipy import ndimage

    labels, _ = ndimage.label(~shell)  # default structure = 6-connectivity
    boundary = np.concatenate(
        [
            labels[0].ravel(), labels[-1].ravel(),
            labels[:, 0].ravel(), labels[:, -1].ravel(),
            labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
        ]
    )
    outside_labels = np.unique(boundary)
    outside_labels = outside_labels[outside_labels > 0]
    lookup = np.zeros(int(labels.max()) + 1, dtype=bool)
    lookup[outside_labels] = True
    return lookup[labels]
