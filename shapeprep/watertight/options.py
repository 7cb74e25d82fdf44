"""Parameters and result of the watertight engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


#: Values of ``fill_holes``.
FILL_METHODS = ("narrow_holes", "winding_number", "none")


@dataclass
class WatertightResult:
    """Output of :func:`watertight_mesh`.

    Attributes
    ----------
    vertices : (n, 3) float64
        In the normalised frame.
    faces : (m, 3) int64
        Wound outward (positive volume).
    stats : dict
        Query counts, voxel counts and per-phase seconds.
    """

    vertices: np.ndarray
    faces: np.ndarray
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WatertightOptions:
    """Parameters of :func:`watertight_mesh` (the ``watertight`` config section).

    Attributes
    ----------
    resolution : int
        Grid points per axis over ``[-1, 1]``.
    eps_voxels : float
        Shell half-thickness in voxels (``> 0.5``).
    fill_holes : str
        ``"narrow_holes"`` reclaims interiors reached only through openings at
        most ``max_hole_voxels`` wide, capped on the winding number's 0.5 level
        set (:mod:`shapeprep.watertight.holes`); ``"winding_number"`` (the
        former default, kept for comparison) reclaims every leaked region with
        ``|winding number| > winding_threshold``; ``"none"`` keeps the plain flood fill.
    winding_threshold : float
        Winding number above which a leaked region is a candidate.
    max_hole_voxels, max_hole_fraction : float
        ``narrow_holes`` closes openings at most ``max(max_hole_voxels,
        max_hole_fraction x the leaked region's extent)`` wide (voxels of this grid):
        a closed surface's holes are small against it, a container's opening is not.
    fill_revert_chamfer_voxels : float
        Safety net: a filled mesh whose two-sided mean deviation from the source
        exceeds this is remeshed without the fill, and the unfilled one is
        shipped (``fill: reverted``) when it passes.
    offset_reduction : str
        ``"project"`` or ``"none"``.
    residual_offset_voxels : float
        Distance to the source that projected vertices keep.
    min_part_voxels : float
        Output components enclosing fewer voxels are removed (0 keeps all).
    target_faces : int or None
        Decimate to about this many faces with pymeshlab (None: no decimation).
    """

    resolution: int = 256
    eps_voxels: float = 1.0
    fill_holes: str = "narrow_holes"
    winding_threshold: float = 0.5
    max_hole_voxels: float = 16.0
    max_hole_fraction: float = 0.15
    fill_revert_chamfer_voxels: float = 3.0
    offset_reduction: str = "project"
    residual_offset_voxels: float = 0.25
    min_part_voxels: float = 0.0
    target_faces: int | None = None

    def __post_init__(self):
        if self.eps_voxels <= 0.5:
            raise ValueError("eps_voxels must exceed 0.5 for the shell to block the flood fill")
        if self.fill_holes not in FILL_METHODS:
            raise ValueError(f"fill_holes must be one of {FILL_METHODS}, not {self.fill_holes!r}")
        if self.offset_reduction not in ("project", "none"):
            raise ValueError(f"offset_reduction must be 'project' or 'none', not {self.offset_reduction!r}")
