"""The CPU watertight engine: flood fill, hole filling, marching cubes over the band.

Works from band distances of any backend (:mod:`.band` on the CPU,
:mod:`.cubvh_backend` on a GPU) and finishes with :mod:`.finish`.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from ..geometry.grid import grid_spacing, index_to_point
from .band import band_distances
from .blockgrid import (
    BLOCK,
    blocks_per_axis,
    build_flood_graph,
    exterior_nodes,
    linear_block_ids,
    node_representatives,
    padded,
    scatter_into_blocks,
)
from .finish import finish_surface
from .holes import find_narrow_holes
from .options import WatertightOptions, WatertightResult
from .sparse_mc import sparse_marching_cubes


class DenseFloodFillUnavailable(RuntimeError):
    """A dense flood fill (the cubvh path) could not be used; the engine floods the block graph instead."""


class GraphExterior:
    """Exterior flags from a :class:`~shapeprep.watertight.blockgrid.FloodGraph` and its exterior nodes."""

    def __init__(self, graph, exterior: np.ndarray):
        self.graph = graph
        self.exterior = exterior

    def block_flags(self) -> np.ndarray:
        """``(n_blocks**3,)`` bool: exterior flag of every block without shell voxels."""
        return self.exterior[self.graph.free_block_node(np.arange(self.graph.n_blocks**3))]

    def voxels_in_blocks(self, block_ids: np.ndarray) -> np.ndarray:
        """``(k,)`` block ids -> ``(k, b, b, b)`` bool exterior flag per voxel."""
        graph = self.graph
        size = graph.block
        out = np.empty((len(block_ids), size, size, size), dtype=bool)
        slot = np.searchsorted(graph.wall_blocks, block_ids)
        slot = np.minimum(slot, max(len(graph.wall_blocks) - 1, 0))
        is_wall = graph.wall_blocks[slot] == block_ids if len(graph.wall_blocks) else np.zeros(len(block_ids), bool)
        out[is_wall] = self.exterior[graph.wall_labels[slot[is_wall]]]
        out[~is_wall] = self.exterior[graph.free_block_node(block_ids[~is_wall])][:, None, None, None]
        return out


def reclaim_by_winding_number(graph, exterior: np.ndarray, distance, resolution: int, threshold: float) -> np.ndarray:
    """Exterior nodes that the source's winding number puts inside.

    Parameters
    ----------
    graph : FloodGraph
    exterior : (n_nodes,) bool
    distance : backend with ``winding_number((k, 3)) -> (k,)``
    threshold : float

    Returns
    -------
    (n_nodes,) bool
        Nodes to treat as inside (never the outside node).
    """
    nodes = np.flatnonzero(exterior)
    points = index_to_point(node_representatives(graph, nodes) - 1.0, resolution)
    # Points outside the source's bounding box are outside any part of it.
    lo, hi = distance.vertices.min(axis=0), distance.vertices.max(axis=0)
    within = ((points >= lo) & (points <= hi)).all(axis=1)
    winding = np.zeros(len(nodes))
    winding[within] = distance.winding_number(points[within])
    reclaimed = np.zeros(len(exterior), dtype=bool)
    reclaimed[nodes[np.abs(winding) > threshold]] = True
    reclaimed[graph.outside_node] = False
    return reclaimed


def crossing_blocks(seed_blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """Blocks whose cubes can hold crossings: the seed blocks and their lower neighbours.

    Every crossing is on an edge from a voxel of a seed block (a shell voxel
    or a reclaimed one), and a cube's owner is the block of its lower
    corner, which is at most one voxel below.

    Returns
    -------
    (k,) int64 sorted
    """
    coords = np.stack(np.unravel_index(seed_blocks, (n_blocks,) * 3), axis=1)
    shifts = np.stack(np.meshgrid([0, -1], [0, -1], [0, -1], indexing="ij"), -1).reshape(-1, 3)
    candidates = (coords[:, None, :] + shifts[None]).reshape(-1, 3)
    candidates = candidates[(candidates >= 0).all(axis=1)]
    return np.unique(np.ravel_multi_index(candidates.T, (n_blocks,) * 3))


@njit(cache=True, parallel=True)
def _signed_field(band_udf, exterior, eps, floor, far, store):
    """``store[:len(band_udf)]`` = the inside-negative field: ``|udf - eps|`` (at least ``floor``) in the
    band, ``far`` off it; shell voxels (``udf < eps``) are negative whatever the flood fill says, the
    rest take its sign. ``store`` may be ``band_udf`` itself (each value is read before it is written)."""
    for b in prange(band_udf.shape[0]):
        for i in range(band_udf.shape[1]):
            for j in range(band_udf.shape[2]):
                for k in range(band_udf.shape[3]):
                    u = band_udf[b, i, j, k]
                    magnitude = max(abs(u - eps), floor) if np.isfinite(u) else far
                    store[b, i, j, k] = magnitude if exterior[b, i, j, k] and not u < eps else -magnitude


def surface_from_exterior(
    lookup, band: list, eps: float, far: float, seed_blocks: np.ndarray, n_blocks: int,
    field_voxels: np.ndarray | None = None, field_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Marching cubes of the inside-negative field defined by exterior flags.

    Parameters
    ----------
    lookup : object with ``block_flags()`` and ``voxels_in_blocks(ids)``
    band : list ``[band_padded, udf]``, handed over: emptied here, so that the band is freed once it is
        scattered into blocks, before marching cubes allocates its output (a gigabyte each at 1024)
        band_padded : (n, 3) int32 or int64
            Padded indices of the band voxels.
        udf : (n,) float64
    eps : float
    far : float
        Magnitude of the field off the band (``>= band - eps``).
    seed_blocks : (w,) int64
        Blocks next to which crossings can be: the wall blocks, plus free
        blocks that were made inside without being walled off by the shell.
    n_blocks : int
    field_voxels : (c, 3) int64, optional
        Padded voxels off the band whose field is given (hole caps), ...
    field_values : (c,) float32, optional
        ... and that field (negative inside; its sign must agree with the exterior flags).

    Returns
    -------
    vertices : (v, 3) float64
        Padded grid-index coordinates.
    faces : (f, 3) int64
        Wound outward.
    stats : dict
    """
    band_padded, udf = band
    band.clear()
    block = BLOCK
    given = field_voxels is not None and len(field_voxels) > 0
    if given:  # their blocks join the stored ones; off the band they start at +-far like any voxel
        band_padded = np.concatenate([band_padded, field_voxels.astype(band_padded.dtype)])
        udf = np.concatenate([udf, np.full(len(field_voxels), np.inf)])
    # The field overwrites the scattered distances in place (a second block store is hundreds of MB at 1024),
    # and two spare blocks hold the constant exterior and interior fields.
    band_blocks, store = scatter_into_blocks(band_padded, udf.astype(np.float32), n_blocks, np.inf, block, spare=2)
    band_padded = udf = None
    stored = store[:len(band_blocks)]
    _signed_field(stored, lookup.voxels_in_blocks(band_blocks), np.float32(eps), np.float32(1e-3 * far),
                  np.float32(far), stored)
    store[-2], store[-1] = far, -far
    if given:
        slot = np.searchsorted(band_blocks, linear_block_ids(field_voxels, n_blocks, block))
        local = field_voxels % block
        store[slot, local[:, 0], local[:, 1], local[:, 2]] = field_values

    flags = lookup.block_flags()
    slots = np.where(flags, len(band_blocks), len(band_blocks) + 1)
    slots[band_blocks] = np.arange(len(band_blocks))
    slot_grid = np.full((n_blocks + 1,) * 3, len(band_blocks), dtype=np.int64)
    slot_grid[:n_blocks, :n_blocks, :n_blocks] = slots.reshape((n_blocks,) * 3)
    vertices, faces, meshed = sparse_marching_cubes(crossing_blocks(seed_blocks, n_blocks), slot_grid, store, block)
    stats = {"band_blocks": int(len(band_blocks)), "meshed_blocks": int(meshed), "sparse_field_bytes": int(store.nbytes)}
    first = faces[:, 0].copy()  # reverse each face in place: a flipped copy of every face is hundreds of MB
    faces[:, 0] = faces[:, 2]
    faces[:, 2] = first
    return vertices, faces, stats


def solidity(interior_voxels: int, shell_voxels: int) -> tuple[float, bool]:
    """Interior fraction of the enclosed voxels and whether the result counts as solid.

    A hollow double wall (flood fill leaked through holes) and a thin slab
    around an open sheet enclose almost no voxels beyond the shell; a solid
    object encloses more interior than shell.
    """
    enclosed = interior_voxels + shell_voxels
    fraction = interior_voxels / enclosed if enclosed else 0.0
    return float(fraction), bool(fraction >= 0.5)


def watertight_from_distance(distance, options: WatertightOptions) -> WatertightResult:
    """The CPU engine over any distance backend (``unsigned_distance``,
    ``closest_points``, ``winding_number``, ``vertices``)."""
    start = time.perf_counter()
    eps = options.eps_voxels * grid_spacing(options.resolution)
    band = list(band_distances(distance, options.resolution, eps))  # handed over: no reference kept here
    timings = {"seconds_distance": time.perf_counter() - start, **getattr(distance, "band_stats", {})}
    return watertight_from_band(band, distance, options, timings)


def watertight_from_band(
    band: list,
    source,
    options: WatertightOptions,
    timings: dict,
    dense_exterior=None,
) -> WatertightResult:
    """Flood fill, hole filling, marching cubes and finishing from band distances.

    Parameters
    ----------
    band : list ``[indices, udf, queries]``, handed over: emptied here, so that the band's arrays (the
        largest of a job at 1024) are freed once marching cubes has its field instead of living on in the caller
        indices : (n, 3) int32 or int64
            Grid indices of every voxel with ``udf < eps + h`` (more is fine); shifted to padded indices in
            place (int32 stays int32: 12 bytes per band voxel less through the fill).
        udf : (n,) float64
        queries : int
            Distance queries spent (for the record).
    source : distance backend on the normalised source (``closest_points``,
        ``winding_number``, ``vertices``).
    options : WatertightOptions
    timings : dict
        Seconds spent so far, by phase; completed here.
    dense_exterior : callable, optional
        ``shell_padded -> lookup`` from a dense flood fill (the cubvh path);
        used only when ``fill_holes`` is ``"none"``; when it raises
        :class:`DenseFloodFillUnavailable` the block graph floods instead
        (``stats["floodfill_fallback"]`` says why).
    """
    indices, udf, queries = band
    band.clear()
    resolution = options.resolution
    spacing = grid_spacing(resolution)
    eps = options.eps_voxels * spacing
    band_padded = padded(indices, in_place=True)  # a second copy of millions of rows costs its page faults
    del indices
    shell_padded = band_padded[udf < eps]
    shell_voxels = len(shell_padded)
    reclaimed_voxels, extra_walls = 0, 0
    field_voxels = field_values = None

    start = time.perf_counter()
    lookup, flood_stats = None, {}
    if dense_exterior is not None:
        if options.fill_holes != "none":
            flood_stats["floodfill_fallback"] = f"fill_holes {options.fill_holes} needs the block graph"
        else:
            try:
                lookup = dense_exterior(shell_padded)
            except DenseFloodFillUnavailable as reason:
                flood_stats["floodfill_fallback"] = str(reason)
    if lookup is not None:
        n_blocks = blocks_per_axis(resolution)
        seed_blocks = np.unique(np.ravel_multi_index((shell_padded // BLOCK).T, (n_blocks,) * 3))
        interior_voxels = lookup.interior_voxels
        timings["seconds_floodfill"] = time.perf_counter() - start
        timings["seconds_fill_holes"] = 0.0
        flood_stats["floodfill"] = "dense"
    else:
        graph = build_flood_graph(shell_padded, resolution)
        shell_padded = None  # the graph's label 0 holds it (a quarter GB at 1024, not needed beside the fill's zone)
        exterior = exterior_nodes(graph)
        node_sizes = graph.wall_node_sizes()
        timings["seconds_floodfill"] = time.perf_counter() - start
        start = time.perf_counter()
        seed_blocks = graph.wall_blocks
        if options.fill_holes == "narrow_holes":
            interior_before = int(node_sizes[~exterior].sum())
            holes = find_narrow_holes(graph, exterior, band_padded, source.vertices, source.faces,
                                      resolution, options.eps_voxels, options.max_hole_voxels, options.winding_threshold,
                                      max_hole_fraction=options.max_hole_fraction)
            flood_stats |= holes.stats
            if len(holes.walls):
                # The caps became walls and the flood fill ran again: what they seal off is inside.
                graph, exterior = holes.graph, holes.exterior
                node_sizes = graph.wall_node_sizes()
                seed_blocks = graph.wall_blocks
                extra_walls = len(holes.walls)
                field_voxels, field_values = holes.field_voxels, holes.field_values
                reclaimed_voxels = int(node_sizes[~exterior].sum()) + extra_walls - interior_before
        elif options.fill_holes == "winding_number":
            reclaimed = reclaim_by_winding_number(graph, exterior, source, resolution, options.winding_threshold)
            if reclaimed.any():
                exterior = exterior_nodes(graph, blocked=reclaimed)
                reclaimed_voxels = int(node_sizes[reclaimed].sum())
                free_reclaimed = np.flatnonzero(reclaimed[graph.n_wall_nodes + 1 :])
                seed_blocks = np.union1d(seed_blocks, free_reclaimed)
        timings["seconds_fill_holes"] = time.perf_counter() - start
        interior_voxels = int(node_sizes[~exterior].sum()) + extra_walls
        lookup = GraphExterior(graph, exterior)
        n_blocks = graph.n_blocks
        flood_stats |= {"floodfill": "block_graph", "wall_blocks": int(len(graph.wall_blocks))}
    fraction, solid = solidity(interior_voxels, shell_voxels)

    start = time.perf_counter()
    band_voxels = len(udf)
    band = [band_padded, udf]  # handed over: freed once scattered into blocks
    band_padded = udf = shell_padded = None
    grid_vertices, faces, mc_stats = surface_from_exterior(lookup, band, eps, spacing, seed_blocks, n_blocks,
                                                           field_voxels, field_values)
    grid_vertices -= 1.0  # unpadded, in place
    vertices = index_to_point(grid_vertices, resolution)
    grid_vertices = None
    timings["seconds_marching_cubes"] = time.perf_counter() - start

    stats = {
        "resolution": resolution,
        "eps": eps,
        "distance_queries": int(queries),
        "query_fraction": queries / resolution**3,
        "band_voxels": int(band_voxels),
        "shell_voxels": shell_voxels,
        "interior_voxels": interior_voxels,
        "reclaimed_voxels": reclaimed_voxels,
        "interior_fraction": fraction,
        "solid": solid,
        **flood_stats,
        **mc_stats,
        **timings,
    }
    # The flood graphs and the caps are done with: free them before the finish (its offset projection and
    # checks need memory of their own).
    lookup = graph = exterior = holes = field_voxels = field_values = None
    vertices, faces = finish_surface(vertices, faces, source, options, stats)
    return WatertightResult(vertices, faces, stats)
