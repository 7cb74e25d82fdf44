"""A CPU stand-in for the parts of cubvh (ashawkey/cubvh @ 7855c00) shapeprep calls, written from its documented behaviour.

- ``floodfill(grid)``: walls -1; every free voxel gets the **smallest linear
  index of its 6-connected free component** (labels are not remapped), as
  cubvh's hook/compress kernels converge to. ``max_passes`` emulates its
  iteration cap: it then returns what label propagation reached, unfinished,
  without an error (cubvh only prints a warning).
- ``cuBVH(vertices, faces)``: asserts more than 8 triangles, as cubvh does;
  ``ray_trace`` returns ``(positions, face_id (-1 on a miss), depth)``;
  ``unsigned_distance`` returns ``(distance float32, face_id int64, None)``.
  Constructions are counted (``cuBVH.built``).
"""

from __future__ import annotations

import types

import numpy as np


def floodfill_labels(grid: np.ndarray, max_passes: int | None = None) -> np.ndarray:
    """cubvh-style labels of a ``(s, s, s)`` bool wall grid: ``(s, s, s)`` int32."""
    from scipy import ndimage

    free = ~grid
    if max_passes is None:
        components, count = ndimage.label(free)  # 6-connected by default
        smallest = ndimage.minimum(np.arange(grid.size).reshape(grid.shape), components, np.arange(1, count + 1))
        table = np.concatenate([[-1], np.asarray(smallest, dtype=np.int64)])
        return table[components].astype(np.int32)
    big = np.iinfo(np.int64).max
    labels = np.where(free, np.arange(grid.size).reshape(grid.shape), big)
    for _ in range(max_passes):
        best = labels.copy()
        for axis in range(3):
            for shift in (1, -1):
                rolled = np.roll(labels, shift, axis=axis)
                edge = [slice(None)] * 3
                edge[axis] = 0 if shift == 1 else -1
                rolled[tuple(edge)] = big  # no wrap-around
                best = np.minimum(best, rolled)
        labels = np.where(free, best, big)
    return np.where(free, labels, -1).astype(np.int32)


def fake_cubvh(max_passes: int | None = None, floodfill_result=None) -> types.ModuleType:
    """A module object to put in ``sys.modules["cubvh"]``."""
    import torch

    module = types.ModuleType("cubvh")

    def floodfill(grid):
        if floodfill_result is not None:
            return floodfill_result(grid)
        labels = floodfill_labels(grid.cpu().numpy(), max_passes)
        return torch.from_numpy(labels).to(grid.device)

    class cuBVH:  # noqa: N801 - cubvh's name
        built = 0

        def __init__(self, vertices, faces):
            faces = np.asarray(faces)
            assert faces.shape[0] > 8, "cuBVH needs more than 8 triangles"
            type(self).built += 1
            self.vertices, self.faces = np.asarray(vertices, np.float64), faces.astype(np.int64)

        def ray_trace(self, rays_o, rays_d):
            import igl.embree

            hits = igl.embree.line_mesh_intersection(rays_o.cpu().numpy().astype(np.float64),
                                                     rays_d.cpu().numpy().astype(np.float64), self.vertices, self.faces)
            face_id = torch.from_numpy(hits[:, 0].astype(np.int64))
            return torch.zeros(len(face_id), 3), face_id, torch.zeros(len(face_id))

        def unsigned_distance(self, positions, return_uvw=False):
            from shapeprep.geometry.distance import IglDistance

            distance = IglDistance(self.vertices, self.faces).unsigned_distance(positions.cpu().numpy().astype(np.float64))
            return torch.from_numpy(distance.astype(np.float32)), torch.zeros(len(distance), dtype=torch.int64), None

    module.floodfill = floodfill
    module.cuBVH = cuBVH
    return module
