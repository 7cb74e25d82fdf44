"""Normal-maps job (optional): 4-view normal maps of every watertight mesh of a shard.

The input TripoSG-style quality scoring works from (front, right, back, left at
20 degrees elevation; see :data:`shapeprep.report.render.FOUR_VIEWS`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..atomic import atomic_path
from ..report.render import FOUR_VIEWS, normal_views
from ..status import ok_objects, read_status
from ..geometry.cubvh import resolve_backend
from .meshstore import read_mesh
from .objects import run_objects
from .worker import Limits


def render_object(object_id: str, watertight: str, size: int, renderer: str) -> tuple[dict, np.ndarray]:
    """Four normal maps of one watertight mesh: ``({}, (4, size, size, 3) uint8)``. Runs in the job's worker."""
    vertices, faces, _ = read_mesh(watertight, object_id)
    return {}, normal_views(vertices, faces, size, backend=renderer)


def run(watertight: str, validate_status: str, settings: dict, normal_maps: str, limits: Limits | None = None,
        journal: str | None = None) -> None:
    """Write ``normal_maps`` (HDF5): ``object_id (N,)`` strings and ``normal_maps (N, 4, size, size, 3)`` uint8.

    Only objects that passed validation are rendered.

    Parameters
    ----------
    watertight, validate_status : the watertight meshes and the validate stage's status table
    settings : ``size`` (pixels), ``backend`` (the watertight backend setting: ``cubvh``
        renders on the GPU), ``code``
    normal_maps : output HDF5
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    import h5py

    size = settings["size"]
    renderer = "cubvh" if resolve_backend(settings["backend"]) == "cubvh" else "cpu"
    images, ids = [], []

    def store(object_id: str, image: np.ndarray) -> None:
        images.append(image)
        ids.append(object_id)

    process = partial(render_object, watertight=watertight, size=size, renderer=renderer)
    run_objects(ok_objects(read_status(validate_status)), process, "normal_maps", store, limits, journal)  # logs failures
    with atomic_path(normal_maps) as temporary, h5py.File(temporary, "w") as handle:
        handle.create_dataset("object_id", data=np.array(ids, dtype="S64"))
        stack = np.stack(images) if images else np.zeros((0, len(FOUR_VIEWS), size, size, 3), np.uint8)
        handle.create_dataset("normal_maps", data=stack, chunks=(1, *stack.shape[1:]) if len(ids) else None,
                              track_times=False)
        handle.attrs["views_azimuth_elevation_deg"] = np.array(FOUR_VIEWS)
        handle.attrs["colour"] = "view-space normal (x, y, z) mapped from [-1, 1] to [0, 255]; background 255"
