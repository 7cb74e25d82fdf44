"""Hole filling that never invents surface: reclaim a leaked region only through narrow openings.

The plain flood fill calls everything reachable from outside "exterior". A
closed surface with small holes leaks: its inside is reachable through the
holes. An open container, a sheet, a mask or a room open on one side is
reachable too, through openings as wide as the object, and there the source
really is open. What separates the two is the width of the openings:

1. **Orientation.** Scraped meshes mix face windings, which makes the
   generalized winding number meaningless. :func:`oriented_faces` orients
   each manifold patch consistently (libigl ``bfs_orient`` +
   ``orient_outward``), for the winding number only.
2. **Candidates.** Exterior flood-graph nodes whose winding number (at one
   voxel per node) exceeds ``winding_threshold`` form candidate regions
   (connected components over the graph).
3. **Caps.** Around each region's border the winding number is evaluated
   per voxel; the 0.5 level set of the winding number spans each opening
   (a disc for a round hole, the missing patch of a closed surface). Its
   inner voxel layer ``W`` (winding > 0.5 next to winding <= 0.5) is what a
   wall across each opening would be.
4. **Widths.** Each 26-connected piece of ``W`` is one opening. Its width is
   twice the largest distance from a cap voxel to the cap's rim (cap voxels
   touching the shell), plus the shell's ``2 eps`` it narrows the opening by:
   a round hole's diameter, a slit's width, a tub's whole top.
5. **Decision.** A region is reclaimed only when every opening it touches is
   at most ``max(max_hole_voxels, max_hole_fraction x the region's extent)``
   wide. A region whose border with the exterior runs through free blocks
   far from the shell is left open before its caps are traced
   (:func:`opening_lower_bounds`: a tub's top, a room's open side, a mask);
   otherwise, when every opening is narrow enough, its caps become walls and
   the flood fill runs again. When the region still leaks (the level set
   left the zone searched), the zone grows by one graph node and the caps
   are found again, a few times at most (:class:`_Zone`: a round pays for
   its new voxels only); a region that still leaks stays open. Wide
   openings stay open.
6. **Smooth caps.** Cap voxels off the distance band carry
   ``(0.5 - winding)`` scaled to grid units as their field (where its sign
   agrees with the second flood fill), so marching cubes puts the cap on
   the winding number's 0.5 level set, not on voxel steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..geometry.grid import BlockedVoxelSet, VoxelSet, grid_spacing, index_to_point, voxel_components
from ..geometry.topology import HalfEdges
from .blockgrid import block_origins, exterior_nodes, linear_block_ids, node_representatives, with_walls

#: The 6 face neighbours of a voxel.
FACE_OFFSETS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64)
#: The 26 neighbours of a voxel.
ALL_OFFSETS = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)],
                       dtype=np.int64)


@dataclass
class HoleFill:
    """What :func:`find_narrow_holes` decided.

    Attributes
    ----------
    walls : (k, 3) int64
        Padded voxel indices of the caps of the reclaimed regions (walls for a second flood fill).
    field_voxels : (c, 3) int64, field_values : (c,) float32
        Cap voxels and their neighbours across the 0.5 level set, with the
        field marching cubes should see there (negative inside, grid units).
    stats : dict
        ``fill`` (``none``, ``filled``, ``open``, ``filled_some``), ``fill_regions``,
        ``fill_regions_filled``, ``fill_openings``, ``widest_hole_closed_voxels``,
        ``narrowest_opening_left_voxels``, ``fill_oriented_patches_flipped``, ``fill_rounds``.
    graph, exterior : the flood graph with the caps as walls and its exterior nodes (None without caps)
    """

    walls: np.ndarray
    field_voxels: np.ndarray
    field_values: np.ndarray
    stats: dict = field(default_factory=dict)
    graph: object = None
    exterior: np.ndarray | None = None


def oriented_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Faces with each orientable patch wound consistently and outward (for winding numbers).

    Returns
    -------
    faces : (m, 3) int64
    flipped : int
        Faces whose winding changed.
    """
    import igl

    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if len(faces) == 0:
        return faces, 0
    # bfs_orient gives each orientable patch one consistent winding; orient_outward then flips whole patches.
    consistent, patches = igl.bfs_orient(faces)
    oriented, _ = igl.orient_outward(np.ascontiguousarray(vertices, dtype=np.float64), consistent, patches.reshape(-1, 1))
    flipped = int((oriented != faces).any(axis=1).sum())
    return np.ascontiguousarray(oriented, dtype=np.int64), flipped


@njit(cache=True)
def _labelled_voxels(labels, wanted):
    """Voxels of the wall blocks whose label is wanted, in raster order (``np.nonzero``'s) without a mask or an
    index array per voxel of every wall block (gigabytes at 1024): block slots ``(k,)`` int64, local indices
    ``(k, 3)`` int32, labels ``(k,)`` int32."""
    count = 0
    for b in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            for y in range(labels.shape[2]):
                for z in range(labels.shape[3]):
                    count += wanted[labels[b, x, y, z]]
    slots = np.empty(count, np.int64)
    local = np.empty((count, 3), np.int32)
    out = np.empty(count, np.int32)
    k = 0
    for b in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            for y in range(labels.shape[2]):
                for z in range(labels.shape[3]):
                    if wanted[labels[b, x, y, z]]:
                        slots[k], local[k, 0], local[k, 1], local[k, 2], out[k] = b, x, y, z, labels[b, x, y, z]
                        k += 1
    return slots, local, out


def node_voxels(graph, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every voxel of the listed flood-graph nodes.

    Returns
    -------
    padded : (k, 3) int32
        Padded voxel indices (int32: a fill zone holds tens of millions at 1024).
    owner : (k,) int32
        The node each voxel belongs to.
    """
    nodes = np.unique(np.asarray(nodes, dtype=np.int64))
    wall = nodes[nodes <= graph.n_wall_nodes]
    free = nodes[nodes > graph.n_wall_nodes]
    pieces, owners = [], []
    if len(wall):
        wanted = np.zeros(graph.n_wall_nodes + 1, dtype=bool)
        wanted[wall] = True
        slot, local, labels = _labelled_voxels(graph.wall_labels, wanted)
        origins = block_origins(graph.wall_blocks[slot], graph.n_blocks, graph.block).astype(np.int32)
        slot = None
        origins += local
        pieces.append(origins)
        owners.append(labels)
    if len(free):
        local = np.stack(np.unravel_index(np.arange(graph.block**3, dtype=np.int32), (graph.block,) * 3), axis=1)
        origins = block_origins(free - graph.n_wall_nodes - 1, graph.n_blocks, graph.block).astype(np.int32)
        pieces.append((origins[:, None, :] + local[None]).reshape(-1, 3))
        owners.append(np.repeat(free.astype(np.int32), graph.block**3))
    if not pieces:
        return np.zeros((0, 3), dtype=np.int32), np.zeros(0, dtype=np.int32)
    return np.concatenate(pieces), np.concatenate(owners)


def region_labels(graph, candidates: np.ndarray) -> np.ndarray:
    """Connected components of the candidate nodes over the graph: ``(n_nodes,)`` int64, -1 off candidates."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = graph.edges[candidates[graph.edges[:, 0]] & candidates[graph.edges[:, 1]]]
    n = graph.n_nodes
    adjacency = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    _, labels[candidates] = np.unique(component[candidates], return_inverse=True)
    return labels


def opening_widths(cap: np.ndarray, pieces: np.ndarray, rim: np.ndarray) -> np.ndarray:
    """Width in voxels of each cap piece: twice the largest distance from its voxels to its rim voxels.

    Parameters
    ----------
    cap : (k, 3) int64 voxel indices
    pieces : (k,) int64 piece of each voxel (0 .. p-1)
    rim : (k,) bool, voxels touching the shell

    Returns
    -------
    (p,) float64; inf for a piece without rim voxels
    """
    from scipy.spatial import cKDTree

    n_pieces = int(pieces.max()) + 1 if len(pieces) else 0
    widths = np.full(n_pieces, np.inf)
    for piece in range(n_pieces):
        members = pieces == piece
        edge = members & rim
        if edge.any():
            distance, _ = cKDTree(cap[edge]).query(cap[members])
            widths[piece] = 2.0 * float(distance.max()) + 1.0
    return widths


def voxel_nodes(graph, padded: np.ndarray) -> np.ndarray:
    """The flood-graph node of each padded voxel (0 for shell voxels): ``(k,)`` int64."""
    ids = linear_block_ids(padded, graph.n_blocks, graph.block)  # int32 zone voxels as they are: no int64 copy
    nodes = graph.free_block_node(ids)
    if len(graph.wall_blocks):
        slot = np.minimum(np.searchsorted(graph.wall_blocks, ids), len(graph.wall_blocks) - 1)
        walled = graph.wall_blocks[slot] == ids
        local = padded[walled] % graph.block
        nodes[walled] = graph.wall_labels[slot[walled], local[:, 0], local[:, 1], local[:, 2]]
    return nodes


#: Accuracy of libigl's fast winding number for the cap values (its default) and for a first pass over
#: the exterior nodes, re-evaluated carefully within ``COARSE_MARGIN`` of the threshold. Next to the
#: surface the coarse pass can be off by more than its far-field error: up to 0.39 measured on the corpus
#: (a CAD cart at 256), so the margin is wide; it still spares the careful pass 70-99% of the nodes.
CAREFUL_ACCURACY = 2.0
COARSE_ACCURACY = 1.0
COARSE_MARGIN = 0.45
#: A zone's new voxels skip the coarse pass when more than this share of a probe (every ``PROBE_STRIDE``-th
#: voxel) lies within the margin: a coarse pass costs about 0.3 of a careful one, so it pays below about 0.7.
CAREFUL_SHARE = 0.6
PROBE_STRIDE = 16
#: Voxels per pass over a zone's voxels (winding numbers, neighbour lookups): the temporaries of a pass over
#: tens of millions of voxels at once (points, neighbours, rows) were hundreds of MB each.
ZONE_CHUNK = 1 << 20
assert ZONE_CHUNK % PROBE_STRIDE == 0


class _Winding:
    """libigl's fast winding number of the oriented source at padded voxels."""

    def __init__(self, vertices: np.ndarray, oriented: np.ndarray, resolution: int):
        import igl

        self.tree = igl.FastWindingNumberBVH()
        self.tree.init(np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(oriented, dtype=np.int64))
        self.lo, self.hi = vertices.min(axis=0), vertices.max(axis=0)
        self.resolution = resolution

    def __call__(self, padded: np.ndarray, accuracy: float = CAREFUL_ACCURACY) -> np.ndarray:
        """Winding number at padded voxels ``(k, 3)`` (may be fractional): ``(k,)``.

        ``accuracy`` 2 is ``igl.fast_winding_number``'s own; 0 outside the source's bounding box.
        """
        out = np.zeros(len(padded))
        for start in range(0, len(padded), ZONE_CHUNK):
            points = index_to_point(np.asarray(padded[start:start + ZONE_CHUNK], dtype=np.float64) - 1.0,
                                    self.resolution)
            inside_box = ((points >= self.lo) & (points <= self.hi)).all(axis=1)  # outside it: outside every part
            if inside_box.any():
                out[start:start + ZONE_CHUNK][inside_box] = self.tree.winding_number(
                    np.ascontiguousarray(points[inside_box]), accuracy)
        return out


@dataclass
class _Caps:
    """The 0.5 level set of the winding number inside a zone of voxels, cut into openings."""

    zone: np.ndarray  # (z, 3) padded voxels
    owner: np.ndarray  # (z,) their nodes
    winding: np.ndarray  # (z,)
    high: np.ndarray  # (z,) winding above the threshold
    across: np.ndarray  # (a,) zone rows of the crossing voxels
    gap: np.ndarray  # (a,) their largest winding step to a face neighbour across the level set
    rows: np.ndarray  # (c,) zone rows of the cap voxels
    pieces: np.ndarray  # (c,) opening of each cap voxel
    widths: np.ndarray  # (p,) width of each opening in voxels (shell included)


class _Zone:
    """The voxels of the flood-graph nodes searched for caps, grown round by round.

    Per voxel it keeps the winding number and whether a face neighbour in the zone lies on the other
    side of the threshold (``crossing``). Growing adds the new nodes' voxels and visits only the
    neighbour pairs that involve one of them: pairs inside the old zone keep their answer, so a round
    costs its new voxels, not the whole zone.

    Only the side of the threshold matters away from the level set; the values themselves are read only
    at crossing voxels (the gaps and the caps' field). So each new voxel gets a coarse value first, a
    careful one (libigl's default accuracy) where the coarse value is within ``COARSE_MARGIN`` of the
    threshold, and every crossing voxel ends with a careful value: the values read are those of a careful
    pass over the whole zone. A coarse pass costs a quarter to a third of a careful one, and 25-80% of a
    zone's voxels were measured to lie within the margin: a backpack at 512 fills in 14.0 s instead of
    18.0; a CAD cart gains little, its voxels within the margin being those next to its long triangles,
    where a careful value costs most (46 us against 28 us over its whole zone). Zones mostly near the
    level set (a bathtub) skip the coarse pass (:meth:`_values`).
    """

    def __init__(self, graph, winding: _Winding, threshold: float):
        self.graph, self.winding, self.threshold = graph, winding, threshold
        self.side = graph.n_blocks * graph.block
        self.nodes = np.zeros(0, dtype=np.int64)
        self.voxels = np.zeros((0, 3), dtype=np.int32)  # (z, 3) padded voxels
        self.owner = np.zeros(0, dtype=np.int32)  # (z,) their nodes
        self.values = np.zeros(0)  # (z,) winding numbers
        self.careful = np.zeros(0, dtype=bool)  # (z,) whether the value is a careful one
        self.crossing = np.zeros(0, dtype=bool)
        self.members = BlockedVoxelSet(self.voxels, self.side, graph.block)

    def _append(self, name: str, rows: np.ndarray) -> None:
        """Append ``rows`` to the zone's array ``name``, in place where nothing else holds the array.

        Growing in place reallocates the buffer (glibc remaps a large one's pages): no copy of the old rows
        beside the new array, hundreds of MB for a fill zone at 1024. Where a view or another reference holds
        the array (caps traced earlier), the array is replaced by a new one and the held one stays as it was.
        """
        start = len(getattr(self, name))
        try:  # refcheck: the attribute and this call's temporary are the only references, else it refuses
            getattr(self, name).resize((start + len(rows),) + rows.shape[1:], refcheck=True)
        except ValueError:
            setattr(self, name, np.concatenate([getattr(self, name), rows]))
            return
        getattr(self, name)[start:] = rows

    def _values(self, voxels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Winding numbers of new voxels ``(k, 3)``, careful near the threshold: ``(values (k,), careful (k,))``.

        A coarse pass over every ``PROBE_STRIDE``-th voxel first: when most of them lie within the margin, a
        coarse pass over all would cost more than it spares, and all values are careful at once.
        """
        probe = self.winding(voxels[::PROBE_STRIDE], COARSE_ACCURACY)
        if len(probe) and (np.abs(probe - self.threshold) < COARSE_MARGIN).mean() > CAREFUL_SHARE:
            return self.winding(voxels), np.ones(len(voxels), dtype=bool)
        values, careful = np.empty(len(voxels)), np.empty(len(voxels), dtype=bool)
        for start in range(0, len(voxels), ZONE_CHUNK):  # a multiple of the stride: the probe stays in step
            chunk, part = voxels[start:start + ZONE_CHUNK], values[start:start + ZONE_CHUNK]
            part[::PROBE_STRIDE] = probe[start // PROBE_STRIDE:][:len(part[::PROBE_STRIDE])]  # coarse values too
            rest = np.ones(len(chunk), dtype=bool)
            rest[::PROBE_STRIDE] = False
            part[rest] = self.winding(chunk[rest], COARSE_ACCURACY)
            near = np.abs(part - self.threshold) < COARSE_MARGIN
            part[near] = self.winding(chunk[near])
            careful[start:start + ZONE_CHUNK] = near
        return values, careful

    @property
    def high(self) -> np.ndarray:
        """(z,) bool: winding number above the threshold."""
        return self.values > self.threshold

    def grow(self, nodes: np.ndarray) -> None:
        """Add the voxels of ``nodes`` not in the zone yet, with their crossings (and their neighbours')."""
        new_nodes = np.setdiff1d(nodes, self.nodes)
        self.nodes = np.union1d(self.nodes, new_nodes)
        voxels, owner = node_voxels(self.graph, new_nodes)
        start = len(self.voxels)
        self.members.add(voxels)
        self._append("voxels", voxels)
        self._append("owner", owner)
        voxels = owner = None
        values, careful = self._values(self.voxels[start:])
        self._append("values", values)
        self._append("careful", careful)
        self._append("crossing", np.zeros(len(careful), dtype=bool))
        self._mark_crossings(np.arange(start, len(self.voxels)))
        redo = np.flatnonzero(self.crossing & ~self.careful)
        if len(redo) == 0:
            return
        values = self.winding(self.voxels[redo])
        flipped = (values > self.threshold) != self.high[redo]
        self.values[redo] = values
        self.careful[redo] = True
        if flipped.any():
            # A coarse value off by more than the margin (never measured): sides may be wrong anywhere,
            # so take careful values for the whole zone and find its crossings again.
            self.values = self.winding(self.voxels)
            self.careful = np.ones(len(self.voxels), dtype=bool)
            self.crossing = np.zeros(len(self.voxels), dtype=bool)
            self._mark_crossings(np.arange(len(self.voxels)))

    def _mark_crossings(self, rows: np.ndarray) -> None:
        """Flag both voxels of every face-neighbour pair that involves ``rows`` and crosses the threshold."""
        high = self.high
        for start in range(0, len(rows), ZONE_CHUNK):
            chunk = rows[start:start + ZONE_CHUNK]
            voxels = self.voxels[chunk]
            for offset in FACE_OFFSETS:
                neighbour = self.members.find(voxels + offset.astype(np.int32))
                known = neighbour >= 0
                here, there = chunk[known], neighbour[known]
                differ = high[here] != high[there]
                self.crossing[here[differ]] = True
                self.crossing[there[differ]] = True

    def caps(self, eps_voxels: float) -> _Caps:
        """The cap voxels (above the threshold, crossing), cut into openings, with their widths."""
        zone, values, high = self.voxels, self.values, self.high  # the caps hold these: a later grow appends to copies
        across = np.flatnonzero(self.crossing)
        gap = np.zeros(len(across))
        for offset in FACE_OFFSETS:  # largest winding step to a face neighbour across the level set
            neighbour = self.members.find(zone[across] + offset)
            known = np.flatnonzero(neighbour >= 0)
            rows, other = across[known], neighbour[known]
            step = np.where(high[rows] != high[other], np.abs(values[rows] - values[other]), 0.0)
            np.maximum.at(gap, known, step)
        is_cap = self.crossing & high
        rows = np.flatnonzero(is_cap)
        if len(rows) == 0:
            return _Caps(zone, self.owner, values, high, across, gap, rows, np.zeros(0, np.int64), np.zeros(0))
        cap = zone[rows]
        pieces, _ = voxel_components(cap, self.side, ALL_OFFSETS)  # openings: 26-connected pieces of the caps
        rim = np.zeros(len(cap), dtype=bool)  # cap voxels touching the shell
        for offset in ALL_OFFSETS:
            rim |= self.graph.is_shell(cap + offset)
        widths = opening_widths(cap, pieces, rim) + 2.0 * eps_voxels
        return _Caps(zone, self.owner, values, high, across, gap, rows, pieces, widths)


def _caps(zone: _Zone, nodes: np.ndarray, eps_voxels: float) -> _Caps | None:
    """Grow ``zone`` to ``nodes`` and trace its caps; None for an empty zone."""
    zone.grow(nodes)
    return zone.caps(eps_voxels) if len(zone.voxels) else None


#: Share of a region's probe voxels that may stay outside after its caps are walls (stray outside pockets).
LEAK_TOLERANCE = 0.01


def opening_lower_bounds(graph, inner: np.ndarray, outer: np.ndarray, regions: np.ndarray, n_regions: int,
                         eps_voxels: float) -> np.ndarray:
    """Per region, a lower bound on the width of its widest opening, from block distances alone.

    Each border edge (``inner`` node of a region, ``outer`` exterior node
    across it) holds a cap voxel: the winding number crosses the threshold
    between the two nodes' representatives. When both are free blocks whose
    nearest wall block is ``k + 1`` blocks away (chessboard), every voxel in
    them is at least ``block k + 1`` voxels from every shell voxel, so the
    opening through them is at least ``2 (block k + 1 - sqrt 3) + 1 + 2 eps``
    wide (as :func:`opening_widths` measures it: the rim is within ``sqrt 3``
    of the shell). Away from the surface the winding number is smooth, so a
    block's centre and its voxels agree on the side of the threshold.

    Parameters
    ----------
    inner, outer : (e,) int64
        Nodes of the border edges.
    regions : (n_nodes,) int64
        Region of each candidate node.

    Returns
    -------
    (n_regions,) float64
        0 for a region whose border touches the shell's blocks.
    """
    from scipy.ndimage import distance_transform_cdt

    free = np.ones(graph.n_blocks**3, dtype=bool)
    free[graph.wall_blocks] = False
    if free.all() or len(inner) == 0:
        return np.zeros(n_regions)
    blocks_to_wall = distance_transform_cdt(free.reshape((graph.n_blocks,) * 3), metric="chessboard").ravel()

    def clearance(nodes):  # blocks between a node's block and the nearest wall block; 0 for wall nodes
        out = np.zeros(len(nodes), dtype=np.int64)
        is_free = nodes > graph.n_wall_nodes
        out[is_free] = blocks_to_wall[nodes[is_free] - graph.n_wall_nodes - 1] - 1
        return out

    k = np.minimum(clearance(inner), clearance(outer))
    bound = np.where(k > 0, 2.0 * (graph.block * k + 1 - np.sqrt(3.0)) + 1.0 + 2.0 * eps_voxels, 0.0)
    out = np.zeros(n_regions)
    np.maximum.at(out, regions[inner], bound)
    return out


def _grow(edges: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """``nodes`` and their neighbours over ``edges``, sorted unique."""
    touching = edges[np.isin(edges[:, 0], nodes) | np.isin(edges[:, 1], nodes)]
    return np.unique(np.concatenate([nodes, touching.ravel()]))


def _seal(caps: _Caps, cap_region: np.ndarray, region_ok: np.ndarray, graph):
    """The caps of the accepted regions as walls, and the flood fill again with them.

    Returns ``(caps, piece_ok, walls, graph, exterior, region_ok)``, or None when no cap is kept.
    A piece is kept when it touches a region and every region it touches is accepted.
    """
    touching = cap_region >= 0
    piece_ok = np.zeros(len(caps.widths), dtype=bool)
    piece_ok[caps.pieces[touching]] = True  # a piece that touches no region is no region's opening
    np.logical_and.at(piece_ok, caps.pieces[touching], region_ok[cap_region[touching]])
    walls = caps.zone[caps.rows[piece_ok[caps.pieces]]].astype(np.int64)
    if len(walls) == 0:
        return None
    graph = with_walls(graph, walls)
    return caps, piece_ok, walls, graph, exterior_nodes(graph), region_ok


def closed_and_consistent(faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces that traverse it in opposite directions (and some face)."""
    half_edges = HalfEdges(faces)
    return len(faces) > 0 and bool((half_edges.counts == 2).all()) and half_edges.consistent()


def find_narrow_holes(graph, exterior: np.ndarray, band_padded: np.ndarray,
                      vertices: np.ndarray, faces: np.ndarray, resolution: int, eps_voxels: float,
                      max_hole_voxels: float, threshold: float = 0.5, max_rounds: int = 4,
                      max_hole_fraction: float = 0.15) -> HoleFill:
    """Decide which leaked regions to reclaim, and flood again with their caps as walls (module docstring).

    Parameters
    ----------
    graph : FloodGraph of the shell (its label 0 marks the shell's voxels)
    exterior : (n_nodes,) bool, the plain flood fill
    band_padded : (b, 3) int64
        Padded indices of every voxel with a band distance.
    vertices, faces : the normalised source
    resolution, eps_voxels : the grid and the shell half-width
    max_hole_voxels, max_hole_fraction : an opening is closed when it is at most
        ``max(max_hole_voxels, max_hole_fraction x the region's extent)`` wide
    threshold : winding number above which a node is a candidate
    max_rounds : times the zone around a region grows when its caps still leak

    Returns
    -------
    HoleFill
        With ``graph`` and ``exterior`` of the second flood fill when caps were added.
    """
    stats = {"fill": "none", "fill_regions": 0, "fill_regions_filled": 0, "fill_openings": 0,
             "widest_hole_closed_voxels": 0.0, "narrowest_opening_left_voxels": float("nan"),
             "fill_oriented_patches_flipped": 0, "fill_rounds": 0}
    nothing = HoleFill(np.zeros((0, 3), np.int64), np.zeros((0, 3), np.int64), np.zeros(0, np.float32), stats)
    nodes = np.flatnonzero(exterior)
    nodes = nodes[nodes != graph.outside_node]
    if len(nodes) == 0 or len(faces) == 0:
        return nothing
    if threshold > COARSE_MARGIN and closed_and_consistent(faces):
        # A closed, consistently wound surface has winding number 0 everywhere the flood fill reaches
        # (it changes only across the surface, which the shell covers): no candidates, nothing to orient.
        return nothing
    oriented, stats["fill_oriented_patches_flipped"] = oriented_faces(vertices, faces)
    side = graph.n_blocks * graph.block
    winding = _Winding(vertices, oriented, resolution)

    # One voxel per exterior node decides the candidates: a coarse pass (3x faster), and the careful one
    # wherever the coarse value is anywhere near the threshold.
    representatives = node_representatives(graph, nodes)
    coarse = winding(representatives, COARSE_ACCURACY)
    near = np.flatnonzero(np.abs(coarse - threshold) < COARSE_MARGIN)
    coarse[near] = winding(representatives[near])
    candidates = np.zeros(graph.n_nodes, dtype=bool)
    candidates[nodes[coarse > threshold]] = True
    if not candidates.any():
        return nothing
    regions = region_labels(graph, candidates)
    n_regions = int(regions.max()) + 1
    stats["fill_regions"] = n_regions
    # One voxel per candidate node, to test after the second flood fill, and its region.
    probed = candidates[nodes]
    probes = np.floor(representatives[probed]).astype(np.int64)
    probe_region = regions[nodes[probed]]
    probes_per_region = np.bincount(probe_region, minlength=n_regions)

    # Widest opening per region: closed surfaces have holes small against themselves, containers do not.
    low = np.full((n_regions, 3), np.iinfo(np.int64).max)
    high = np.full((n_regions, 3), np.iinfo(np.int64).min)
    np.minimum.at(low, probe_region, probes)
    np.maximum.at(high, probe_region, probes)
    extents = (high - low).max(axis=1) + graph.block
    limit = np.maximum(max_hole_voxels, max_hole_fraction * extents)
    edges = graph.edges
    both_exterior = exterior[edges[:, 0]] & exterior[edges[:, 1]]
    # The zone: candidate nodes on a region's border and the exterior nodes across it; it grows while caps leak.
    border = edges[both_exterior & (candidates[edges[:, 0]] != candidates[edges[:, 1]])]
    inner, outer = np.where(candidates[border[:, 0]], border[:, 0], border[:, 1]), np.where(
        candidates[border[:, 0]], border[:, 1], border[:, 0])
    # Regions whose border runs through free space far from the shell have an opening wider than their
    # limit whatever its caps: they stay open without tracing them (a tub's top, a room's open side).
    bounds = opening_lower_bounds(graph, inner, outer, regions, n_regions, eps_voxels)
    rejected = bounds > limit
    stats["fill_regions_open_early"] = int(rejected.sum())
    if rejected.any():
        stats["fill_open_early_width_bound"] = float(bounds[rejected].min())
    traced = ~rejected[regions[inner]]
    border, inner, outer = border[traced], inner[traced], outer[traced]
    zone_nodes = np.unique(border.ravel())
    # One node further on both sides from the start: a cap's level set often leaves the border nodes.
    zone_nodes = _grow(edges[both_exterior], zone_nodes)
    # Exterior nodes across a region's border belong to its openings too (a cap's high side can lie in them).
    node_region = regions.copy()
    node_region[outer] = regions[inner]
    refilled = None
    zone = _Zone(graph, winding, threshold)
    for round_ in range(max_rounds):
        stats["fill_rounds"] = round_ + 1
        caps = _caps(zone, zone_nodes, eps_voxels)
        if caps is None or len(caps.rows) == 0:
            break
        cap_region = node_region[caps.owner[caps.rows]]  # -1 for a cap voxel beyond every region's border
        touching = cap_region >= 0
        region_ok = ~rejected.copy()
        narrow = caps.widths[caps.pieces[touching]] <= limit[cap_region[touching]]
        np.logical_and.at(region_ok, cap_region[touching], narrow)
        refilled = _seal(caps, cap_region, region_ok, graph)
        if refilled is None:
            break
        second, second_exterior = refilled[3], refilled[4]
        outside = np.bincount(probe_region, weights=second_exterior[voxel_nodes(second, probes)], minlength=n_regions)
        leaking = np.flatnonzero(region_ok & (outside / probes_per_region > LEAK_TOLERANCE))
        if not len(leaking):
            break
        if round_ == max_rounds - 1:  # still leaking: leave those regions open
            rejected[leaking] = True
            region_ok[leaking] = False
            refilled = second = second_exterior = None  # this round's second graph goes before the next is built
            refilled = _seal(caps, cap_region, region_ok, graph)
            break
        zone_nodes = _grow(edges[both_exterior], zone_nodes)
        # The next round traces its caps afresh: let go of this round's (they hold the zone's arrays before it
        # grows, and the second flood graph) so that they are not held beside the grown zone's.
        caps = refilled = second = second_exterior = cap_region = None

    if caps is None or len(caps.rows) == 0:
        stats["fill"] = "open"
        return nothing
    if refilled is None:
        region_ok = np.zeros(n_regions, dtype=bool)
        piece_ok = np.zeros(len(caps.widths), dtype=bool)
    else:
        caps, piece_ok, walls, second, second_exterior, region_ok = refilled
    stats["fill_openings"] = len(caps.widths)
    stats["fill_regions_filled"] = int(region_ok.sum())
    if piece_ok.any():
        stats["widest_hole_closed_voxels"] = float(caps.widths[piece_ok].max())
    if (~piece_ok).any():
        stats["narrowest_opening_left_voxels"] = float(caps.widths[~piece_ok].min())
    stats["fill"] = "filled" if region_ok.all() else ("filled_some" if region_ok.any() else "open")
    if refilled is None:
        return nothing

    # Field across the level set of the closed caps, off the distance band (the band keeps its distances),
    # in normalised units like the band's udf - eps: a winding step across one voxel maps to one voxel.
    stepped = caps.gap > 0  # the field is made of winding steps across the level set
    across, gap = caps.across[stepped], caps.gap[stepped]
    kept = np.zeros(len(caps.zone), dtype=bool)
    kept[caps.rows[piece_ok[caps.pieces]]] = True
    near = kept[across]
    wall_set = VoxelSet(walls, side)
    for offset in FACE_OFFSETS:  # the low side of each closed cap
        near |= (~caps.high[across]) & (wall_set.find(caps.zone[across] + offset) >= 0)
    in_band = VoxelSet(caps.zone[across], side).found_among(band_padded)
    chosen_across = near & ~in_band
    chosen = across[chosen_across]
    voxels = caps.zone[chosen].astype(np.int64)
    values = (threshold - caps.winding[chosen]) / gap[chosen_across] * grid_spacing(resolution)
    # The field's sign must agree with the second flood fill: a low-side voxel it sealed off is inside
    # (a positive value there would mesh a small inverted void).
    outside = second_exterior[voxel_nodes(second, voxels)]
    agree = (values <= 0) | outside
    return HoleFill(walls, voxels[agree], values[agree].astype(np.float32), stats, second, second_exterior)
