"""Normal-map and point thumbnails by ray casting, with no display and no Blender.

Orthographic views of the normalised cube ``[-bound, bound]^3``: the view is
the object turned by the azimuth (about y) and elevation (about x), seen by
one ray per pixel along ``-z``; the rays are turned back into the object's
frame, so one BVH serves every view. On CPUs the rays go through libigl's Embree
binding (the BVH library the project already ships); on GPUs through cubvh's
``ray_trace``. A pixel's colour is its face normal in view space mapped from
``[-1, 1]`` to ``[0, 255]`` (the usual normal-map convention: +x red, +y green,
towards the viewer blue), turned towards the viewer so that inconsistently
wound sources still read as surfaces. Background pixels are white.

:func:`normal_views` gives the 4-view normal maps TripoSG-style quality
scoring works from.
"""

from __future__ import annotations

import io

import numpy as np

#: (azimuth, elevation) in degrees of the four standard views.
FOUR_VIEWS = ((0.0, 20.0), (90.0, 20.0), (180.0, 20.0), (270.0, 20.0))

BACKGROUND = 255


def view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """(3, 3) rotation taking object coordinates to view coordinates (viewer on +z)."""
    azimuth, elevation = np.radians([azimuth_deg, elevation_deg])
    about_y = np.array([[np.cos(azimuth), 0, -np.sin(azimuth)], [0, 1, 0], [np.sin(azimuth), 0, np.cos(azimuth)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(elevation), -np.sin(elevation)],
                        [0, np.sin(elevation), np.cos(elevation)]])
    return about_x @ about_y


def pixel_rays(size: int, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray origins (size*size, 3) on the plane z = 3 bound, row-major from the top left, and directions (-z)."""
    centres = (np.arange(size) + 0.5) / size * 2 * bound - bound
    x, y = np.meshgrid(centres, -centres)
    origins = np.stack([x.ravel(), y.ravel(), np.full(size * size, 3.0 * bound)], axis=1)
    return origins, np.tile([0.0, 0.0, -1.0], (size * size, 1))


class CpuRayCaster:
    """First-hit ray casting with libigl's Embree binding."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)

    def first_hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Index of the first face each ray hits (-1 for none): ``(k,)`` int64."""
        import igl.embree

        if len(self.faces) == 0:
            return np.full(len(origins), -1, dtype=np.int64)
        hits = igl.embree.line_mesh_intersection(origins, directions, self.vertices, self.faces)
        return hits[:, 0].astype(np.int64)


class CubvhRayCaster:
    """First-hit ray casting with ``cubvh.cuBVH.ray_trace``; the BVH is built once, for every view.

    cuBVH needs more than 8 triangles, so small meshes are repeated
    (:func:`shapeprep.watertight.cubvh_backend.bvh_faces`) and hit ids folded back.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        import cubvh
        import torch

        from ..geometry.cubvh import bvh_faces

        self.n_faces = len(faces)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bvh = cubvh.cuBVH(np.asarray(vertices, dtype=np.float32), bvh_faces(faces)) if self.n_faces else None

    def first_hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Index of the first face each ray hits (-1 for none): ``(k,)`` int64."""
        import torch

        if self.bvh is None:
            return np.full(len(origins), -1, dtype=np.int64)
        _, face_id, _ = self.bvh.ray_trace(torch.as_tensor(origins, dtype=torch.float32, device=self.device),
                                           torch.as_tensor(directions, dtype=torch.float32, device=self.device))
        face_id = face_id.long().cpu().numpy()
        return np.where(face_id >= 0, face_id % max(self.n_faces, 1), -1)


def ray_caster(vertices: np.ndarray, faces: np.ndarray, backend: str = "cpu"):
    """A ray caster over one mesh: ``"cpu"`` (libigl Embree) or ``"cubvh"``."""
    return CubvhRayCaster(vertices, faces) if backend == "cubvh" else CpuRayCaster(vertices, faces)


def render_normals(
    vertices: np.ndarray,
    faces: np.ndarray,
    size: int = 256,
    azimuth: float = 0.0,
    elevation: float = 20.0,
    bound: float = 1.0,
    backend: str = "cpu",
    caster=None,
) -> np.ndarray:
    """Normal map of a mesh from one view.

    The rays are turned into the object's frame (not the mesh into the
    view's), so one ray caster, and one BVH, serves every view.

    Parameters
    ----------
    vertices : (n, 3) float, in the normalised frame
    faces : (m, 3) int
    size : image side in pixels
    azimuth, elevation : view angles in degrees
    bound : half-size of the square the image covers
    backend : ``"cpu"`` (libigl Embree) or ``"cubvh"``; ignored when ``caster`` is given
    caster : a :func:`ray_caster` over this mesh, to reuse across views

    Returns
    -------
    (size, size, 3) uint8
    """
    rotation = view_rotation(azimuth, elevation)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    caster = caster if caster is not None else ray_caster(vertices, faces, backend)
    origins, directions = pixel_rays(size, bound)
    # A view point p_view = R p_object, so rays go back to the object frame with R^T (row vectors: @ R).
    face_id = caster.first_hits(origins @ rotation, directions @ rotation)
    image = np.full((size * size, 3), BACKGROUND, dtype=np.uint8)
    hit = face_id >= 0
    if hit.any():
        corners = vertices[faces[face_id[hit]]]
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]) @ rotation.T
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
        normals[normals[:, 2] < 0] *= -1  # towards the viewer
        image[hit] = np.clip(np.round((normals + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return image.reshape(size, size, 3)


def render_points(
    points: np.ndarray,
    salient: np.ndarray | None = None,
    size: int = 256,
    azimuth: float = 0.0,
    elevation: float = 20.0,
    bound: float = 1.0,
) -> np.ndarray:
    """Splat of surface points (grey, darker further away) and salient points (red) from one view.

    Parameters
    ----------
    points : (n, 3) surface points
    salient : (k, 3) salient points or None

    Returns
    -------
    (size, size, 3) uint8
    """
    rotation = view_rotation(azimuth, elevation)
    sets = [(np.asarray(points, dtype=np.float64) @ rotation.T, None)]
    if salient is not None and len(salient):
        sets.append((np.asarray(salient, dtype=np.float64) @ rotation.T, (214, 39, 40)))
    image = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    depth = np.full((size, size), -np.inf)
    for turned, colour in sets:
        columns = np.floor((turned[:, 0] + bound) / (2 * bound) * size).astype(np.int64)
        rows = np.floor((bound - turned[:, 1]) / (2 * bound) * size).astype(np.int64)
        inside = (rows >= 0) & (rows < size) & (columns >= 0) & (columns < size)
        rows, columns, z = rows[inside], columns[inside], turned[inside, 2]
        if colour is not None:
            z = z + 4 * bound / size  # salient points win ties with the surface they lie on
        order = np.argsort(z)  # far first, so nearer points overwrite
        rows, columns, z = rows[order], columns[order], z[order]
        if colour is None:
            shade = np.clip(200 - (z + bound) / (2 * bound) * 160, 40, 200).astype(np.uint8)
            pixel_colours = np.repeat(shade[:, None], 3, axis=1)
        else:
            pixel_colours = np.tile(np.array(colour, dtype=np.uint8), (len(z), 1))
        for dr in (0, 1):  # 2x2 splats
            for dc in (0, 1):
                r, c = np.clip(rows + dr, 0, size - 1), np.clip(columns + dc, 0, size - 1)
                nearer = z >= depth[r, c]
                image[r[nearer], c[nearer]] = pixel_colours[nearer]
                depth[r[nearer], c[nearer]] = z[nearer]
    return image


def normal_views(vertices: np.ndarray, faces: np.ndarray, size: int = 256, backend: str = "cpu") -> np.ndarray:
    """Normal maps from :data:`FOUR_VIEWS`, one BVH for all four: (4, size, size, 3) uint8."""
    caster = ray_caster(vertices, faces, backend)
    return np.stack([render_normals(vertices, faces, size, azimuth, elevation, caster=caster)
                     for azimuth, elevation in FOUR_VIEWS])


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an (h, w, 3) uint8 image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, image, format="png")
    return buffer.getvalue()
