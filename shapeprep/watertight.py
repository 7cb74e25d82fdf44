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
   (:mod:`shapeprep.blockgrid`), never over a dense label grid.
3. **Holes.** Where the source has holes wider than the shell the flood fill
   leaks inside and the result would be a hollow double wall. With
   ``fill_holes="winding_number"`` every region the flood fill reached is
   tested with the source's generalized winding number; regions with
   ``|w| > winding_threshold`` are reclaimed as inside and the flood fill is
   redone with them as walls. Open sheets have ``|w| <= 0.5`` and stay thin.
4. **Field.** ``sdf = udf - eps``, negated on every voxel the flood fill did
   not reach. **Inside is negative.**
5. **Marching cubes** (PyMCubes) only over the blocks that hold crossings
   (:mod:`shapeprep.sparse_mc`); faces are flipped to face outward.
6. **Offset reduction.** The level set ``udf = eps`` sits ``eps`` outside
   the source. With ``offset_reduction="project"`` each vertex within
   ``eps + h`` of the source moves along its closest-point direction to
   ``residual_offset_voxels`` from it (thin sheets keep a slab of twice that);
   a move that would flip a face is undone.

No component is ever dropped unless ``min_part_voxels`` asks for it, and
then the count is recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

#: Refinement schedule of block sizes (voxels per side), coarse to fine.
BLOCK_SIZES = (16, 8, 4, 2, 1)


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


def grid_spacing(resolution: int) -> float:
    """Distance between neighbouring grid points on ``linspace(-1, 1, resolution)``."""
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
        ``"winding_number"`` reclaims interiors reached through holes;
        ``"none"`` keeps the plain flood fill.
    winding_threshold : float
        Regions with ``|winding number| >`` this are inside.
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
    fill_holes: str = "winding_number"
    winding_threshold: float = 0.5
    offset_reduction: str = "project"
    residual_offset_voxels: float = 0.25
    min_part_voxels: float = 0.0
    target_faces: int | None = None

    def __post_init__(self):
        if self.eps_voxels <= 0.5:
            raise ValueError("eps_voxels must exceed 0.5 for the shell to block the flood fill")
        if self.fill_holes not in ("winding_number", "none"):
            raise ValueError(f"fill_holes must be 'winding_number' or 'none', not {self.fill_holes!r}")
        if self.offset_reduction not in ("project", "none"):
            raise ValueError(f"offset_reduction must be 'project' or 'none', not {self.offset_reduction!r}")


class GraphExterior:
    """Exterior flags from a :class:`~shapeprep.blockgrid.FloodGraph` and its exterior nodes."""

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


def band_distances(distance, resolution: int, eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact distances wherever marching cubes or the shell needs them.

    Every edge from a shell voxel to a non-shell voxel ends at ``udf < eps + h``,
    so that band holds every value marching cubes reads.

    Returns
    -------
    indices : (n, 3) int64
    udf : (n,) float64
    queries : int
    """
    return narrow_band(distance, resolution, eps + grid_spacing(resolution))


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
    from .blockgrid import node_representatives

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


def surface_from_exterior(
    lookup, band_padded: np.ndarray, udf: np.ndarray, eps: float, far: float, seed_blocks: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Marching cubes of the inside-negative field defined by exterior flags.

    Parameters
    ----------
    lookup : object with ``block_flags()`` and ``voxels_in_blocks(ids)``
    band_padded : (n, 3) int64
        Padded indices of the band voxels.
    udf : (n,) float64
    eps : float
    far : float
        Magnitude of the field off the band (``>= band - eps``).
    seed_blocks : (w,) int64
        Blocks next to which crossings can be: the wall blocks, plus free
        blocks that were made inside without being walled off by the shell.
    n_blocks : int

    Returns
    -------
    vertices : (v, 3) float64
        Padded grid-index coordinates.
    faces : (f, 3) int64
        Wound outward.
    stats : dict
    """
    from .blockgrid import BLOCK, scatter_into_blocks
    from .sparse_mc import sparse_marching_cubes

    block = BLOCK
    band_blocks, band_udf = scatter_into_blocks(band_padded, udf.astype(np.float32), n_blocks, np.inf, block)
    exterior = lookup.voxels_in_blocks(band_blocks)
    in_band = np.isfinite(band_udf)
    shell = band_udf < eps
    offset = band_udf - np.float32(eps)
    magnitude = np.where(in_band, np.maximum(np.abs(offset), np.float32(1e-3 * far)), np.float32(far))
    # Shell voxels are negative whatever the flood fill says; the rest take its sign.
    store = np.empty((len(band_blocks) + 2, block, block, block), dtype=np.float32)
    store[:-2] = np.where(exterior & ~shell, magnitude, -magnitude)
    store[-2], store[-1] = far, -far
    del band_udf, exterior, in_band, shell, offset, magnitude

    flags = lookup.block_flags()
    slots = np.where(flags, len(band_blocks), len(band_blocks) + 1)
    slots[band_blocks] = np.arange(len(band_blocks))
    slot_grid = np.full((n_blocks + 1,) * 3, len(band_blocks), dtype=np.int64)
    slot_grid[:n_blocks, :n_blocks, :n_blocks] = slots.reshape((n_blocks,) * 3)
    vertices, faces, meshed = sparse_marching_cubes(crossing_blocks(seed_blocks, n_blocks), slot_grid, store, block, far)
    stats = {"band_blocks": int(len(band_blocks)), "meshed_blocks": int(meshed), "sparse_field_bytes": int(store.nbytes)}
    return vertices, np.ascontiguousarray(faces[:, ::-1]), stats


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (twice the area): ``(m, 3)`` float64."""
    corners = vertices[faces]
    return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


def reduce_offset(
    vertices: np.ndarray, faces: np.ndarray, distance, residual: float, reach: float, rounds: int = 4
) -> tuple[np.ndarray, dict]:
    """Pull vertices of the ``udf = eps`` offset surface back towards the source.

    Parameters
    ----------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    distance : backend with ``closest_points``
    residual : float
        Distance to the source a moved vertex keeps.
    reach : float
        Vertices farther than this from the source (hole caps) stay put.
    rounds : int
        Times to undo moves that flip a face.

    Returns
    -------
    vertices : (n, 3) float64
    stats : dict
        ``offset_moved_vertices``, ``offset_reverted_vertices``.
    """
    closest, gap = distance.closest_points(vertices)
    movable = (gap > residual) & (gap <= reach)
    scale = np.where(movable, residual / np.maximum(gap, 1e-30), 1.0)
    moved = closest + (vertices - closest) * scale[:, None]
    moved[~movable] = vertices[~movable]
    before = face_normals(vertices, faces)
    reverted = np.zeros(len(vertices), dtype=bool)
    for _ in range(rounds):
        flipped = np.einsum("ij,ij->i", face_normals(moved, faces), before) <= 0
        if not flipped.any():
            break
        undo = np.unique(faces[flipped])
        moved[undo] = vertices[undo]
        reverted[undo] = True
    return moved, {"offset_moved_vertices": int((movable & ~reverted).sum()), "offset_reverted_vertices": int(reverted.sum())}


def remove_small_parts(vertices: np.ndarray, faces: np.ndarray, min_volume: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop closed components enclosing less than ``min_volume``.

    Returns
    -------
    vertices : (k, 3) float64
    faces : (l, 3) int64
    removed : int
        Components dropped.
    """
    from .validate import face_components, signed_volumes

    n_parts, label = face_components(faces, len(vertices))
    volumes = signed_volumes(vertices, faces, label, n_parts)
    small = np.abs(volumes) < min_volume
    if not small.any():
        return vertices, faces, 0
    kept = faces[~small[label]]
    used, compact = np.unique(kept, return_inverse=True)
    return vertices[used], compact.reshape(-1, 3), int(small.sum())


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Topology-preserving quadric decimation (pymeshlab) that never breaks the mesh.

    Returns the input unchanged, with status ``"reverted"``, when the
    decimated mesh is no longer a closed, consistently wound 2-manifold.
    (``fast_simplification`` was measured to leave non-manifold edges on
    marching-cubes output; pymeshlab with ``preservetopology`` did not.)

    Returns
    -------
    vertices, faces, status : ``"decimated"``, ``"reverted"`` or ``"skipped"``
    """
    import pymeshlab

    from .validate import edge_face_counts, non_manifold_vertex_count, winding_is_consistent

    if len(faces) <= target_faces:
        return vertices, faces, "skipped"
    meshes = pymeshlab.MeshSet()
    meshes.add_mesh(pymeshlab.Mesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int32)))
    meshes.meshing_decimation_quadric_edge_collapse(
        targetfacenum=int(target_faces), preservetopology=True, preservenormal=True, planarquadric=True
    )
    meshes.meshing_remove_unreferenced_vertices()
    out = meshes.current_mesh()
    out_vertices = np.asarray(out.vertex_matrix(), dtype=np.float64)
    out_faces = np.asarray(out.face_matrix(), dtype=np.int64)
    _, counts = edge_face_counts(out_faces)
    closed = len(out_faces) > 0 and bool((counts == 2).all())
    if closed and winding_is_consistent(out_faces) and non_manifold_vertex_count(out_faces, len(out_vertices)) == 0:
        return out_vertices, out_faces, "decimated"
    return vertices, faces, "reverted"


def finish_surface(vertices, faces, distance, options: WatertightOptions, stats: dict):
    """Offset reduction, small-part removal and decimation, in that order (normalised frame)."""
    spacing = grid_spacing(options.resolution)
    eps = options.eps_voxels * spacing
    start = time.perf_counter()
    if options.offset_reduction == "project" and len(faces):
        vertices, moved = reduce_offset(vertices, faces, distance, options.residual_offset_voxels * spacing, eps + spacing)
        stats.update(moved)
    stats["seconds_offset"] = time.perf_counter() - start
    removed = 0
    if options.min_part_voxels > 0 and len(faces):
        vertices, faces, removed = remove_small_parts(vertices, faces, options.min_part_voxels * spacing**3)
    stats["parts_removed"] = removed
    stats["decimation"] = "off"
    if options.target_faces:
        start = time.perf_counter()
        vertices, faces, stats["decimation"] = decimate(vertices, faces, options.target_faces)
        stats["seconds_decimation"] = time.perf_counter() - start
    return vertices, faces


def solidity(interior_voxels: int, shell_voxels: int) -> tuple[float, bool]:
    """Interior fraction of the enclosed voxels and whether the result counts as solid.

    A hollow double wall (flood fill leaked through holes) and a thin slab
    around an open sheet enclose almost no voxels beyond the shell; a solid
    object encloses more interior than shell.
    """
    enclosed = interior_voxels + shell_voxels
    fraction = interior_voxels / enclosed if enclosed else 0.0
    return float(fraction), bool(fraction >= 0.5)


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
        ``"cpu"`` (libigl AABB) or ``"cubvh"`` (see :mod:`shapeprep.watertight_torch`).
    **options
        The other fields of :class:`WatertightOptions`.

    Returns
    -------
    WatertightResult
        Vertices in the normalised frame.
    """
    opts = WatertightOptions(resolution=resolution, eps_voxels=eps_voxels, **options)
    if backend == "cubvh":
        from .watertight_torch import watertight_mesh_torch

        return watertight_mesh_torch(vertices, faces, opts)
    if backend != "cpu":
        raise ValueError(f"unknown watertight backend {backend!r} (available: 'cpu', 'cubvh')")
    from .distance import IglDistance

    distance = IglDistance(vertices, faces)
    return watertight_from_distance(distance, opts)


def watertight_from_distance(distance, options: WatertightOptions) -> WatertightResult:
    """The CPU engine over any distance backend (``unsigned_distance``,
    ``closest_points``, ``winding_number``, ``vertices``)."""
    start = time.perf_counter()
    eps = options.eps_voxels * grid_spacing(options.resolution)
    indices, udf, queries = band_distances(distance, options.resolution, eps)
    timings = {"seconds_distance": time.perf_counter() - start}
    return watertight_from_band(indices, udf, queries, distance, options, timings)


def watertight_from_band(
    indices: np.ndarray,
    udf: np.ndarray,
    queries: int,
    source,
    options: WatertightOptions,
    timings: dict,
    dense_exterior=None,
) -> WatertightResult:
    """Flood fill, hole filling, marching cubes and finishing from band distances.

    Parameters
    ----------
    indices : (n, 3) int64
        Grid indices of every voxel with ``udf < eps + h`` (more is fine).
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
        used only when ``fill_holes`` is ``"none"``.
    """
    from .blockgrid import BLOCK, blocks_per_axis, build_flood_graph, exterior_nodes, padded

    resolution = options.resolution
    spacing = grid_spacing(resolution)
    eps = options.eps_voxels * spacing
    band_padded = padded(indices)
    del indices
    shell_padded = band_padded[udf < eps]
    shell_voxels = len(shell_padded)
    reclaimed_voxels = 0

    start = time.perf_counter()
    if dense_exterior is not None and options.fill_holes == "none":
        lookup = dense_exterior(shell_padded)
        n_blocks = blocks_per_axis(resolution)
        seed_blocks = np.unique(np.ravel_multi_index((shell_padded // BLOCK).T, (n_blocks,) * 3))
        interior_voxels = lookup.interior_voxels
        timings["seconds_floodfill"] = time.perf_counter() - start
        timings["seconds_fill_holes"] = 0.0
        flood_stats = {"floodfill": "dense"}
    else:
        graph = build_flood_graph(shell_padded, resolution)
        exterior = exterior_nodes(graph)
        node_sizes = graph.wall_node_sizes()
        timings["seconds_floodfill"] = time.perf_counter() - start
        start = time.perf_counter()
        seed_blocks = graph.wall_blocks
        if options.fill_holes == "winding_number":
            reclaimed = reclaim_by_winding_number(graph, exterior, source, resolution, options.winding_threshold)
            if reclaimed.any():
                exterior = exterior_nodes(graph, blocked=reclaimed)
                reclaimed_voxels = int(node_sizes[reclaimed].sum())
                free_reclaimed = np.flatnonzero(reclaimed[graph.n_wall_nodes + 1 :])
                seed_blocks = np.union1d(seed_blocks, free_reclaimed)
        timings["seconds_fill_holes"] = time.perf_counter() - start
        interior_voxels = int(node_sizes[~exterior].sum())
        lookup = GraphExterior(graph, exterior)
        n_blocks = graph.n_blocks
        flood_stats = {"floodfill": "block_graph", "wall_blocks": int(len(graph.wall_blocks))}
    fraction, solid = solidity(interior_voxels, shell_voxels)

    start = time.perf_counter()
    grid_vertices, faces, mc_stats = surface_from_exterior(lookup, band_padded, udf, eps, spacing, seed_blocks, n_blocks)
    vertices = index_to_point(grid_vertices - 1.0, resolution)
    timings["seconds_marching_cubes"] = time.perf_counter() - start

    stats = {
        "resolution": resolution,
        "eps": eps,
        "distance_queries": int(queries),
        "query_fraction": queries / resolution**3,
        "band_voxels": int(len(udf)),
        "shell_voxels": shell_voxels,
        "interior_voxels": interior_voxels,
        "reclaimed_voxels": reclaimed_voxels,
        "interior_fraction": fraction,
        "solid": solid,
        **flood_stats,
        **mc_stats,
        **timings,
    }
    vertices, faces = finish_surface(vertices, faces, source, options, stats)
    return WatertightResult(vertices, faces, stats)
