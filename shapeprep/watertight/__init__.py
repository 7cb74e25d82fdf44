"""Watertight remeshing: UDF -> shell -> flood fill -> SDF -> marching cubes.

The grid has ``resolution`` points per axis on ``linspace(-1, 1, resolution)``
(spacing ``h = 2 / (resolution - 1)``), indexed ``grid[i, j, k]``.

1. **Narrow band.** Exact unsigned distances are computed only within
   ``eps + h`` of the surface, found coarse to fine: a block is refined only
   if its centre's distance minus the block's half-diagonal is within the band
   (distance is 1-Lipschitz, so no band voxel is skipped). Everything else is
   "far" and never queried.
2. **Shell and flood fill.** The shell is ``udf < eps``. Any grid edge that
   crosses the surface has an endpoint within ``h / 2`` of it, so with
   ``eps > h / 2`` the shell is 6-connected-tight. The exterior is found by a
   6-connected flood fill over a block-sparse graph
   (:mod:`.blockgrid`), never over a dense label grid.
3. **Holes.** Where the source has holes wider than the shell the flood fill
   leaks inside and the result would be a hollow double wall. With
   ``fill_holes="narrow_holes"`` (the default, :mod:`.holes`) a leaked region
   is reclaimed only when every opening it escapes through is at most
   ``max_hole_voxels`` wide, with the winding number of a consistently
   oriented copy of the source deciding what is inside, and each opening is
   capped on the winding number's 0.5 level set; open containers, rooms,
   sheets and masks stay open. A fill that fails the deviation check while
   the unfilled mesh passes is reverted (``fill: reverted``).
   ``"winding_number"`` is the former rule (every leaked region with
   ``|w| > winding_threshold``), kept for comparison.
4. **Field.** ``sdf = udf - eps``, negated on every voxel the flood fill did
   not reach. **Inside is negative.**
5. **Marching cubes** (PyMCubes) only over the blocks that hold crossings
   (:mod:`.sparse_mc`); faces are flipped to face outward.
6. **Offset reduction.** The level set ``udf = eps`` sits ``eps`` outside
   the source. With ``offset_reduction="project"`` each vertex within
   ``eps + h`` of the source moves along its closest-point direction to
   ``residual_offset_voxels`` from it (thin sheets keep a slab of twice that);
   a move that would flip a face is undone.

No component is ever dropped unless ``min_part_voxels`` asks for it, and
then the count is recorded.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..geometry.cubvh import resolve_backend  # noqa: F401 - part of this package's API
from ..geometry.grid import grid_spacing
from ..geometry.nearsurface import ExactDistance, GridBand
from .band import band_width
from .engine import watertight_from_distance
from .options import WatertightOptions, WatertightResult

__all__ = ["WatertightOptions", "WatertightResult", "resolve_backend", "watertight_mesh"]


def watertight_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    resolution: int = 256,
    eps_voxels: float = 1.0,
    backend: str = "cpu",
    **options,
) -> WatertightResult:
    """Closed, outward-oriented, manifold remesh of a normalised triangle soup.

    Parameters
    ----------
    vertices : (n, 3) float64
        Normalised into ``[-bound, bound]^3`` with ``bound < 1``.
    faces : (m, 3) int64
    resolution, eps_voxels : see :class:`WatertightOptions`
    backend : str
        ``"cpu"`` (:mod:`shapeprep.geometry.nearsurface`) or ``"cubvh"`` (see :mod:`shapeprep.watertight.cubvh_backend`).
    **options
        The other fields of :class:`WatertightOptions`.

    Returns
    -------
    WatertightResult
        Vertices in the normalised frame.
    """
    opts = WatertightOptions(resolution=resolution, eps_voxels=eps_voxels, **options)
    result = _remesh(vertices, faces, opts, backend)
    if opts.fill_holes == "narrow_holes" and result.stats.get("reclaimed_voxels", 0) > 0:
        result = revert_invented_fill(vertices, faces, opts, backend, result)
    return result


def _remesh(vertices: np.ndarray, faces: np.ndarray, opts: WatertightOptions, backend: str) -> WatertightResult:
    if backend == "cubvh":
        from .cubvh_backend import watertight_mesh_torch

        return watertight_mesh_torch(vertices, faces, opts)
    if backend != "cpu":
        raise ValueError(f"unknown watertight backend {backend!r} (available: 'cpu', 'cubvh')")
    # Exact distances from triangles binned into the grid's 8^3 blocks: the band search, the winding-number
    # fill and the offset projection share one index whose cost does not depend on triangle shape.
    spacing = grid_spacing(opts.resolution)
    band = GridBand(vertices, faces, opts.resolution, band_width(opts.resolution, opts.eps_voxels * spacing))
    return watertight_from_distance(ExactDistance(vertices, faces, near=band), opts)


#: Surface points per side for the safety net's deviation check (seeded: reruns are identical).
REVERT_CHECK_SAMPLES = 10000


def revert_invented_fill(vertices: np.ndarray, faces: np.ndarray, opts: WatertightOptions, backend: str,
                         filled: WatertightResult) -> WatertightResult:
    """The safety net: ship the unfilled mesh when the filled one fails the deviation or topology checks and it passes.

    An object must never be dropped by validation for a fill the source did not
    ask for. Records ``fill_check_chamfer`` (the filled mesh's two-sided mean
    deviation, voxels) and, when remeshed, ``fill_unfilled_chamfer``; ``fill``
    becomes ``reverted`` when the unfilled mesh is shipped.
    """
    from ..geometry.validate import surface_deviation, validate_mesh

    voxel = grid_spacing(opts.resolution)

    def check(result):
        """``(chamfer, passes)``: the deviation check and validation's topology checks."""
        rng = np.random.default_rng(0)
        chamfer = surface_deviation(result.vertices, result.faces, vertices, faces, voxel, REVERT_CHECK_SAMPLES,
                                    rng)["chamfer"]
        valid = validate_mesh(result.vertices, result.faces)["reasons"] == []
        return chamfer, valid and chamfer <= opts.fill_revert_chamfer_voxels

    filled_chamfer, filled_passes = check(filled)
    filled.stats["fill_check_chamfer"] = filled_chamfer
    if filled_passes:
        return filled
    plain = _remesh(vertices, faces, replace(opts, fill_holes="none"), backend)
    plain_chamfer, plain_passes = check(plain)
    filled.stats["fill_unfilled_chamfer"] = plain_chamfer
    if not plain_passes:
        return filled
    fill_record = {key: value for key, value in filled.stats.items() if key.startswith(("fill", "widest", "narrowest"))}
    plain.stats |= fill_record | {"fill": "reverted", "fill_check_chamfer": filled_chamfer,
                                  "fill_unfilled_chamfer": plain_chamfer, "reverted_reclaimed_voxels":
                                  filled.stats["reclaimed_voxels"]}
    return plain
