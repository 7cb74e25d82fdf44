"""GPU watertight backend: torch for the grid logic, cubvh for distances and flood fill.

Everything here except the calls into cubvh is plain torch and runs on CPU
tensors too (the tests do that with a libigl-backed distance). The pipeline
is the CPU engine's, with the heavy parts on the device:

- band: the same coarse-to-fine block refinement as
  :func:`shapeprep.watertight.band.narrow_band`, with distances from
  ``cubvh.cuBVH.unsigned_distance`` queried in chunks (it allocates an int64
  face id per query);
- flood fill: ``cubvh.floodfill`` on a dense ``bool`` shell grid while the
  grid side is below its 32-bit indexing limit and no hole filling is asked
  for; otherwise the block-graph flood fill of :mod:`shapeprep.watertight.blockgrid`,
  which also serves the winding-number hole filling;
- sign assignment: exterior flags per block and per voxel gathered on the
  device from the dense flood-fill result;
- marching cubes, offset reduction and decimation: shared with the CPU engine.
"""

from __future__ import annotations

import time

import numpy as np

from ..geometry.distance import IglDistance
from ..geometry.grid import grid_spacing
from .band import BLOCK_SIZES, band_width
from .blockgrid import blocks_per_axis
from .engine import watertight_from_band
from .options import WatertightOptions, WatertightResult

#: Largest grid side ``cubvh.floodfill`` indexes correctly (int32 linear indices).
CUBVH_FLOODFILL_MAX_SIDE = 1290

#: Queries per ``unsigned_distance`` call (16 bytes of outputs per query).
CUBVH_CHUNK = 1 << 22


def cubvh_available() -> bool:
    """True when cubvh imports and torch sees a CUDA device."""
    try:
        import cubvh  # noqa: F401
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class CubvhDistance:
    """Unsigned distance on the GPU with a cubvh BVH.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int
    chunk_size : int
    """

    name = "cubvh"

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, chunk_size: int = CUBVH_CHUNK):
        import cubvh
        import torch

        self.device = torch.device("cuda")
        faces = np.asarray(faces, dtype=np.int64)
        if len(faces) <= 8:  # cuBVH needs more than 8 triangles
            faces = np.concatenate([faces] * (9 // len(faces) + 1))
        self.bvh = cubvh.cuBVH(np.asarray(vertices, dtype=np.float32), faces)
        self.chunk_size = chunk_size

    def unsigned_distance_torch(self, points):
        """``(k, 3)`` float tensor on the device -> ``(k,)`` float32 tensor."""
        import torch

        out = torch.empty(len(points), dtype=torch.float32, device=points.device)
        for start in range(0, len(points), self.chunk_size):
            distance, _, _ = self.bvh.unsigned_distance(points[start : start + self.chunk_size].float())
            out[start : start + self.chunk_size] = distance
        return out


class TorchDistanceFromNumpy:
    """Adapts a numpy distance backend to the torch interface (CPU tests, fallbacks)."""

    name = "numpy"

    def __init__(self, distance):
        self.distance = distance

    def unsigned_distance_torch(self, points):
        import torch

        values = self.distance.unsigned_distance(points.detach().cpu().numpy().astype(np.float64))
        return torch.from_numpy(values).to(points.device)


def grid_points_torch(indices, resolution: int):
    """Grid indices ``(n, 3)`` (int or fractional tensor) -> normalised points ``(n, 3)`` float64."""
    return indices.double() * grid_spacing(resolution) - 1.0


def narrow_band_torch(distance, resolution: int, band: float, device, block_sizes=BLOCK_SIZES):
    """Torch twin of :func:`shapeprep.watertight.band.narrow_band`.

    Parameters
    ----------
    distance : object with ``unsigned_distance_torch((k, 3) tensor) -> (k,) tensor``
    resolution : int
    band : float
    device : torch.device

    Returns
    -------
    indices : (n, 3) int64 tensor
    udf : (n,) float64 tensor
    queries : int
    """
    import torch

    spacing = grid_spacing(resolution)
    starts = torch.arange(0, resolution, block_sizes[0], device=device)
    corners = torch.stack(torch.meshgrid(starts, starts, starts, indexing="ij"), dim=-1).reshape(-1, 3)
    queries = 0
    for level, size in enumerate(block_sizes):
        centers = corners.double() + (size - 1) / 2.0
        udf = distance.unsigned_distance_torch(grid_points_torch(centers, resolution)).double()
        queries += len(centers)
        radius = np.sqrt(3.0) * (size - 1) / 2.0 * spacing
        keep = udf - radius < band
        corners, udf = corners[keep], udf[keep]
        if size == 1:
            return corners, udf, queries
        child = block_sizes[level + 1]
        steps = torch.arange(0, size, child, device=device)
        offsets = torch.stack(torch.meshgrid(steps, steps, steps, indexing="ij"), dim=-1).reshape(-1, 3)
        corners = (corners[:, None, :] + offsets[None]).reshape(-1, 3)
        corners = corners[(corners < resolution).all(dim=1)]
    raise ValueError("block_sizes must end with 1")


def shell_grid_torch(shell_indices, resolution: int, device):
    """Dense ``(r, r, r)`` bool wall grid from shell voxel indices ``(n, 3)``."""
    import torch

    grid = torch.zeros((resolution,) * 3, dtype=torch.bool, device=device)
    grid[shell_indices[:, 0], shell_indices[:, 1], shell_indices[:, 2]] = True
    return grid


def exterior_from_labels(labels):
    """Exterior mask from ``cubvh.floodfill`` labels (walls -1; exterior = label of voxel 0,0,0).

    Parameters
    ----------
    labels : (r, r, r) int32 tensor

    Returns
    -------
    (r, r, r) bool tensor
    """
    outside = labels[0, 0, 0]
    if int(outside) < 0:
        raise ValueError("grid corner is a wall voxel: the mesh touches the grid boundary")
    return labels == outside


class DenseExterior:
    """Exterior lookups for the sparse marching cubes from a dense exterior mask tensor.

    Parameters
    ----------
    exterior : (r, r, r) bool tensor
    shell_voxels : int
    block : int
    """

    def __init__(self, exterior, shell_voxels: int, block: int = 8):
        import torch
        import torch.nn.functional as F

        resolution = exterior.shape[0]
        self.block = block
        self.n_blocks = blocks_per_axis(resolution, block)
        side = self.n_blocks * block
        # Padding voxels (index 0 and beyond the grid) are exterior.
        pad = (1, side - resolution - 1) * 3
        self.padded = F.pad(exterior[None, None].to(torch.uint8), pad, value=1)[0, 0].bool()
        enclosed = int((~exterior).sum())
        self.interior_voxels = enclosed - shell_voxels

    def block_flags(self) -> np.ndarray:
        """``(n_blocks**3,)`` bool: any exterior voxel in the block (exact for shell-free blocks)."""
        b, n = self.block, self.n_blocks
        blocks = self.padded.reshape(n, b, n, b, n, b).permute(0, 2, 4, 1, 3, 5).reshape(n**3, -1)
        return blocks.any(dim=1).cpu().numpy()

    def voxels_in_blocks(self, block_ids: np.ndarray) -> np.ndarray:
        """``(k,)`` block ids -> ``(k, b, b, b)`` bool exterior flag per voxel."""
        import torch

        b, n = self.block, self.n_blocks
        coords = torch.from_numpy(np.stack(np.unravel_index(block_ids, (n,) * 3), axis=1) * b).to(self.padded.device)
        local = torch.arange(b, device=self.padded.device)
        x = coords[:, 0, None, None, None] + local[None, :, None, None]
        y = coords[:, 1, None, None, None] + local[None, None, :, None]
        z = coords[:, 2, None, None, None] + local[None, None, None, :]
        return self.padded[x, y, z].cpu().numpy()


def dense_floodfill_lookup(resolution: int, device):
    """Factory for :func:`shapeprep.watertight.engine.watertight_from_band`'s ``dense_exterior``:
    ``shell_padded -> DenseExterior`` through ``cubvh.floodfill``."""
    import torch

    def lookup(shell_padded: np.ndarray):
        import cubvh

        shell = torch.from_numpy(shell_padded - 1).to(device)
        labels = cubvh.floodfill(shell_grid_torch(shell, resolution, device))
        return DenseExterior(exterior_from_labels(labels), len(shell_padded))

    return lookup


def watertight_mesh_torch(
    vertices: np.ndarray, faces: np.ndarray, options: WatertightOptions, distance=None, device=None
) -> WatertightResult:
    """The watertight engine with torch grid logic (GPU backend).

    Parameters
    ----------
    vertices : (n, 3) float64
        Normalised source.
    faces : (m, 3) int64
    options : WatertightOptions
    distance : optional
        Object with ``unsigned_distance_torch``; defaults to :class:`CubvhDistance`.
    device : torch.device, optional
        Defaults to CUDA.

    Returns
    -------
    WatertightResult
        ``stats["backend"]`` names the distance backend used.
    """
    import torch

    if distance is None:
        if not cubvh_available():
            raise RuntimeError(
                "the cubvh backend needs torch with CUDA and cubvh "
                "(pip install git+https://github.com/ashawkey/cubvh --no-build-isolation)"
            )
        distance = CubvhDistance(vertices, faces)
    device = torch.device(device) if device is not None else torch.device("cuda")
    spacing = grid_spacing(options.resolution)
    eps = options.eps_voxels * spacing

    start = time.perf_counter()
    indices, udf, queries = narrow_band_torch(distance, options.resolution, band_width(options.resolution, eps), device)
    indices, udf = indices.cpu().numpy(), udf.cpu().numpy()
    timings = {"seconds_distance": time.perf_counter() - start}

    use_cubvh_floodfill = isinstance(distance, CubvhDistance) and options.resolution <= CUBVH_FLOODFILL_MAX_SIDE
    dense = dense_floodfill_lookup(options.resolution, device) if use_cubvh_floodfill else None
    # Winding numbers, closest points for offset reduction: exact, on the CPU.
    source = IglDistance(vertices, faces)
    result = watertight_from_band(indices, udf, queries, source, options, timings, dense_exterior=dense)
    result.stats["backend"] = distance.name
    return result
