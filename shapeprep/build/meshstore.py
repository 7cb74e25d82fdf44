"""Per-shard HDF5 stores of intermediate meshes (normalised sources, watertight outputs).

Layout: one group per object id, with ``vertices (n, 3) float32`` and
``faces (m, 3) int32`` and a JSON ``record`` attribute. Files are written
to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import atomic_path


@contextmanager
def mesh_store_writer(path: str | Path):
    """Open a new mesh store for writing; it appears at ``path`` only when closed cleanly.

    Yields
    ------
    add : callable ``add(object_id, vertices, faces, record)``
    """
    import h5py

    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", track_order=True) as handle:

            def add(object_id: str, vertices: np.ndarray, faces: np.ndarray, record: dict | None = None) -> None:
                group = handle.create_group(object_id)
                group.create_dataset("vertices", data=np.asarray(vertices, np.float32), track_times=False)
                group.create_dataset("faces", data=np.asarray(faces, np.int32), track_times=False)
                group.attrs["record"] = json.dumps(record or {}, default=float)

            yield add


def read_mesh(path: str | Path, object_id: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read one object's mesh.

    Returns
    -------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    record : dict
    """
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle[object_id]
        return (
            group["vertices"][()].astype(np.float64),
            group["faces"][()].astype(np.int64),
            json.loads(group.attrs["record"]),
        )

