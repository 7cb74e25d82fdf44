"""Normal-map and point thumbnails by ray casting, with no display and no Blender.

Orthographic views of the normalised cube ``[-bound, bound]^3``: the object is
turned by the view's azimuth (about y) and elevation (about x), then one ray
per pixel travels along ``-z``. On CPUs the rays go through libigl's Embree
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


def cast_rays_cpu(origins: np.ndarray, directions: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index of the first face each ray hits (-1 for none), with libigl's Embree binding."""
    import igl.embree

    hits = igl.embree.line_mesh_intersection(origins, directions, vertices, faces)
    return hits[:, 0].astype(np.int64)


def cast_rays_cubvh(origins: np.ndarray, directions: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index of the first face each ray hits (-1 for none), with cubvh on CUDA."""
    import cubvh
    import torch

    bvh = cubvh.cuBVH(vertices, faces)
    device = torch.device("cuda")
    _, face_id, _ = bvh.ray_trace(torch.as_tensor(origins, dtype=torch.float32, device=device),
                                  torch.as_tensor(directions, dtype=torch.float32, device=device))
    return face_id.long().cpu().numpy()


def render_normals(
    vertices: np.ndarray,
    faces: np.ndarray,
    size: int = 256,
    azimuth: float = 0.0,
    elevation: float = 20.0,
    bound: float = 1.0,
    backend: str = "cpu",
) -> np.ndarray:
    """Normal map of a mesh from one view.

    Parameters
    ----------
    vertices : (n, 3) float, in the normalised frame
    faces : (m, 3) int
    size : image side in pixels
    azimuth, elevation : view angles in degrees
    bound : half-size of the square the image covers
    backend : ``"cpu"`` (libigl Embree) or ``"cubvh"``

    Returns
    -------
    (size, size, 3) uint8
    """
    rotation = view_rotation(azimuth, elevation)
    turned = np.asarray(vertices, dtype=np.float64) @ rotation.T
    faces = np.asarray(faces, dtype=np.int64)
    origins, directions = pixel_rays(size, bound)
    cast = cast_rays_cubvh if backend == "cubvh" else cast_rays_cpu
    face_id = cast(origins, directions, turned, faces)
    image = np.full((size * size, 3), BACKGROUND, dtype=np.uint8)
    hit = face_id >= 0
    if hit.any():
        corners = turned[faces[face_id[hit]]]
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
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
    """Normal maps from :data:`FOUR_VIEWS`: (4, size, size, 3) uint8."""
    return np.stack([render_normals(vertices, faces, size, azimuth, elevation, backend=backend)
                     for azimuth, elevation in FOUR_VIEWS])


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an (h, w, 3) uint8 image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, image, format="png")
    return buffer.getvalue()
