"""Normal-maps job (optional): 4-view normal maps of every watertight mesh of a shard.

The input TripoSG-style quality scoring works from (front, right, back, left at
20 degrees elevation; see :data:`shapeprep.report.render.FOUR_VIEWS`).
"""

from __future__ import annotations

import numpy as np

from ..atomic import atomic_path
from ..report.render import FOUR_VIEWS, normal_views
from ..status import ok_objects, read_status
from ..watertight import resolve_backend
from .meshstore import read_mesh
from .objects import run_objects


def run(watertight: str, validate_status: str, settings: dict, normal_maps: str) -> None:
    """Write ``normal_maps`` (HDF5): ``object_id (N,)`` strings and ``normal_maps (N, 4, size, size, 3)`` uint8.

    Only objects that passed validation are rendered.

    Parameters
    ----------
    watertight, validate_status : the watertight meshes and the validate stage's status table
    settings : ``size`` (pixels), ``backend`` (the watertight backend setting: ``cubvh``
        renders on the GPU), ``code``
    normal_maps : output HDF5
    """
    import h5py

    size, backend = settings["size"], settings["backend"]

    renderer = "cubvh" if resolve_backend(backend) == "cubvh" else "cpu"
    images, ids = [], []

    def process(object_id: str) -> dict:
        vertices, faces, _ = read_mesh(watertight, object_id)
        images.append(normal_views(vertices, faces, size, backend=renderer))
        ids.append(object_id)
        return {}

    run_objects(ok_objects(read_status(validate_status)), process, "normal_maps")  # logs any failure
    with atomic_path(normal_maps) as temporary, h5py.File(temporary, "w") as handle:
        handle.create_dataset("object_id", data=np.array(ids, dtype="S64"))
        stack = np.stack(images) if images else np.zeros((0, len(FOUR_VIEWS), size, size, 3), np.uint8)
        handle.create_dataset("normal_maps", data=stack, chunks=(1, *stack.shape[1:]) if len(ids) else None,
                              track_times=False)
        handle.attrs["views_azimuth_elevation_deg"] = np.array(FOUR_VIEWS)
        handle.attrs["colour"] = "view-space normal (x, y, z) mapped from [-1, 1] to [0, 255]; background 255"
