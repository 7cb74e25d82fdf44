"""GPU watertight backend: torch for the grid logic, cubvh for distances and flood fill.

Everything here except the calls into cubvh is plain torch and runs on CPU
tensors too (the tests do that with a libigl-backed distance). The pipeline
is the CPU engine's, with the heavy parts on the device:

- band: the same coarse-to-fine block refinement as
  :func:`shapeprep.watertight.band.narrow_band`, with distances from
  ``cubvh.cuBVH.unsigned_distance`` queried in chunks (it allocates an int64
  face id per query);
- flood fill: ``cubvh.floodfill`` on a dense ``bool`` shell grid padded by one
  free voxel on every side (so the exterior is one component that holds the
  corner, however the shell touches the grid's faces), when no hole filling
  is asked for, the padded side is within its 32-bit indexing limit and its
  memory fits on the device; its labels are checked (walls -1, no two
  6-adjacent free voxels with different labels: it stops early without an
  error); otherwise, and whenever a check fails, the block-graph flood fill of
  :mod:`shapeprep.watertight.blockgrid`, which also serves the winding-number
  hole filling (the default, so by default only the distances run on the GPU);
- sign assignment: exterior flags per block and per voxel gathered on the
  device from the dense flood-fill result;
- marching cubes, offset reduction and decimation: shared with the CPU engine.
"""

from __future__ import annotations

import time

import numpy as np

from ..geometry.cubvh import bvh_faces, cubvh_available  # noqa: F401 - cubvh_available is part of this API
from ..geometry.distance import IglDistance
from ..geometry.grid import grid_spacing
from ..status import MeshError
from .band import BLOCK_SIZES, band_width
from .blockgrid import blocks_per_axis
from .engine import DenseFloodFillUnavailable, watertight_from_band
from .options import WatertightOptions, WatertightResult

#: Largest grid side ``cubvh.floodfill`` indexes correctly (int32 linear indices: 1290^3 < 2^31).
CUBVH_FLOODFILL_MAX_SIDE = 1290
#: Largest resolution for the dense flood fill: the grid is padded by one voxel on each side.
CUBVH_FLOODFILL_MAX_RESOLUTION = CUBVH_FLOODFILL_MAX_SIDE - 2
#: Device bytes per voxel of one ``cubvh.floodfill`` call: our bool grid (1) and torch's int32
#: output (4), plus its own cudaMalloc'd copy of the grid (1) and int32 labels (4) outside torch's allocator.
FLOODFILL_BYTES_PER_VOXEL = 10
#: Share of the free device memory the dense flood fill may plan to use.
FLOODFILL_MEMORY_SHARE = 0.9

#: Queries per ``unsigned_distance`` call (16 bytes of outputs per query).
CUBVH_CHUNK = 1 << 22


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
        self.bvh = cubvh.cuBVH(np.asarray(vertices, dtype=np.float32), bvh_faces(faces))
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


def shell_grid_torch(shell_padded, side: int, device):
    """Dense ``(side, side, side)`` bool wall grid from padded shell voxel indices ``(n, 3)``.

    Indices are the engine's padded ones (grid index + 1) and ``side`` is the
    resolution + 2, so the grid has a free layer on every face and the exterior
    is one connected component holding voxel ``(0, 0, 0)``.
    """
    import torch

    grid = torch.zeros((side,) * 3, dtype=torch.bool, device=device)
    grid[shell_padded[:, 0], shell_padded[:, 1], shell_padded[:, 2]] = True
    return grid


def floodfill_problem(labels, grid) -> str | None:
    """Why ``cubvh.floodfill`` labels cannot be used, or None when they are a finished labelling.

    cubvh stops after ``min(diagonal + 50, 10 side)`` passes with only a printed
    warning, and returns zeros when a kernel fails; both look like labels.
    Finished labels have walls at -1, free voxels at >= 0, and no two
    6-adjacent free voxels with different labels.

    Parameters
    ----------
    labels : (s, s, s) int32 tensor
    grid : (s, s, s) bool tensor (True = wall)
    """
    if bool((labels[grid] != -1).any()) or bool((labels[~grid] < 0).any()):
        return "cubvh floodfill returned labels that do not match the walls (a failed kernel)"
    for axis in range(3):
        first, second = labels.narrow(axis, 0, labels.shape[axis] - 1), labels.narrow(axis, 1, labels.shape[axis] - 1)
        if bool(((first >= 0) & (second >= 0) & (first != second)).any()):
            return "cubvh floodfill did not converge (adjacent free voxels carry different labels)"
    return None


def floodfill_fits(side: int, free_bytes: int) -> bool:
    """Whether one ``cubvh.floodfill`` over a ``side``^3 grid fits in ``free_bytes`` of device memory."""
    return FLOODFILL_BYTES_PER_VOXEL * side**3 <= FLOODFILL_MEMORY_SHARE * free_bytes


def exterior_from_labels(labels):
    """Exterior mask from ``cubvh.floodfill`` labels of a padded grid (exterior = the label of voxel 0,0,0).

    Parameters
    ----------
    labels : (s, s, s) int32 tensor

    Returns
    -------
    (s, s, s) bool tensor
    """
    outside = labels[0, 0, 0]
    if int(outside) < 0:
        raise ValueError("grid corner is a wall voxel: pad the grid before the flood fill")
    return labels == outside


class DenseExterior:
    """Exterior lookups for the sparse marching cubes from a dense exterior mask tensor.

    Parameters
    ----------
    exterior : (r + 2, r + 2, r + 2) bool tensor
        Over the padded grid (index = grid index + 1), as the engine's blocks are.
    shell_voxels : int
    block : int
    """

    def __init__(self, exterior, shell_voxels: int, block: int = 8):
        import torch
        import torch.nn.functional as F

        resolution = exterior.shape[0] - 2
        self.block = block
        self.n_blocks = blocks_per_axis(resolution, block)
        side = self.n_blocks * block
        # Voxels beyond the padded grid, up to whole blocks, are exterior.
        pad = (0, side - exterior.shape[0]) * 3
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


def cuda_free_bytes() -> int:
    """Free CUDA memory after handing torch's cached blocks back (cubvh allocates outside torch)."""
    import torch

    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    return int(free)


def dense_floodfill_lookup(resolution: int, device, floodfill=None, free_bytes=cuda_free_bytes):
    """Factory for :func:`shapeprep.watertight.engine.watertight_from_band`'s ``dense_exterior``:
    ``shell_padded -> DenseExterior`` through ``cubvh.floodfill`` on the padded grid.

    Raises :class:`~shapeprep.watertight.engine.DenseFloodFillUnavailable`
    (the engine then floods the block graph) when the grid is beyond cubvh's
    indexing, does not fit in free device memory, or the labels fail
    :func:`floodfill_problem`.

    Parameters
    ----------
    resolution : int
    device : torch device
    floodfill : callable ``(s, s, s) bool tensor -> int32 labels``; default ``cubvh.floodfill``
    free_bytes : callable ``() -> int``, free device memory
    """
    import torch

    side = resolution + 2

    def lookup(shell_padded: np.ndarray):
        if side > CUBVH_FLOODFILL_MAX_SIDE:
            raise DenseFloodFillUnavailable(f"padded side {side} beyond cubvh floodfill's {CUBVH_FLOODFILL_MAX_SIDE}")
        available = free_bytes()
        if not floodfill_fits(side, available):
            need = FLOODFILL_BYTES_PER_VOXEL * side**3
            raise DenseFloodFillUnavailable(f"dense flood fill needs {need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB free")
        fill = floodfill
        if fill is None:
            import cubvh

            fill = cubvh.floodfill
        grid = shell_grid_torch(torch.from_numpy(shell_padded).to(device), side, device)
        labels = fill(grid)
        problem = floodfill_problem(labels, grid)
        if problem:
            raise DenseFloodFillUnavailable(problem)
        return DenseExterior(exterior_from_labels(labels), len(shell_padded))

    return lookup


def watertight_mesh_torch(
    vertices: np.ndarray, faces: np.ndarray, options: WatertightOptions, distance=None, device=None,
    floodfill: str | None = None, dense_options: dict | None = None,
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
    floodfill : ``"dense"`` (cubvh.floodfill, when ``fill_holes`` is ``none``), ``"graph"``, or None:
        dense with the cubvh distance, the block graph otherwise
    dense_options : keywords of :func:`dense_floodfill_lookup` (``floodfill``, ``free_bytes``; tests)

    Returns
    -------
    WatertightResult
        ``stats["backend"]`` names the distance backend used.
    """
    import torch

    if len(faces) == 0:
        raise MeshError("no_faces", "no faces to make watertight")
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
    band = [indices.cpu().numpy(), udf.cpu().numpy(), queries]  # handed over to watertight_from_band
    del indices, udf
    timings = {"seconds_distance": time.perf_counter() - start}

    if floodfill is None:
        floodfill = "dense" if isinstance(distance, CubvhDistance) else "graph"
    dense = dense_floodfill_lookup(options.resolution, device, **(dense_options or {})) if floodfill == "dense" else None
    # Winding numbers, closest points for offset reduction: exact, on the CPU.
    source = IglDistance(vertices, faces)
    result = watertight_from_band(band, source, options, timings, dense_exterior=dense)
    result.stats["backend"] = distance.name
    return result
